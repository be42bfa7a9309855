//! The OS boundary over several machines: this one ([`RealOs`]) and the
//! plan's hosts ([`HostLink`]). Each attempt goes where there is room (and
//! the labels it asks for); its panes, keys, pids and session are the ones
//! of the host it went to. A host's pane ids carry its name (`big1:%3`), so
//! the core tells them from this machine's (`%3`) without knowing hosts.
//!
//! Work is fetched home before it is checked: validation, merges, rebases,
//! the early warning and the detail view all run here, on the local branch.

use super::attempt_log::LogTail;
use super::claims::ClaimStore;
use super::detail::TaskDetail;
use super::early_warning::{ScanRequest, ScanResult};
use super::error::EngineError;
use super::host_link::{HostLink, HostView};
use super::host_pick::{self, Room};
use super::os::{BoxFuture, Os, RealOs};
use super::pool::PoolOrder;
use super::workshop::{CheckResult, MergeReport, Spawned};
use crate::git::RebaseOutcome;
use crate::plan::{Task, ValidPlan};
use crate::tmux::PaneInfo;
use crate::worker::secret::AttemptSecret;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A live worker found on a host as the engine starts.
pub struct HostWorker {
    pub task: super::tasks::TaskIdx,
    pub host: usize,
    pub session: String,
}

pub struct HostsOs {
    pub local: RealOs,
    pub hosts: Vec<Arc<HostLink>>,
    /// Where each task's current attempt runs: a host's index; absent:
    /// this machine.
    placed: Mutex<HashMap<String, usize>>,
    /// Sessions of this machine's live workers (its room).
    local_sessions: Mutex<std::collections::HashSet<String>>,
    /// Held while a spawn picks its machine and takes its room.
    placing: Mutex<()>,
    now_ms: Box<dyn Fn() -> u64 + Send + Sync>,
}

impl HostsOs {
    pub fn new(
        local: RealOs,
        hosts: Vec<Arc<HostLink>>,
        now_ms: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> HostsOs {
        HostsOs {
            local,
            hosts,
            placed: Mutex::default(),
            local_sessions: Mutex::default(),
            placing: Mutex::default(),
            now_ms: Box::new(now_ms),
        }
    }

    /// Reach every host at once; the unreachable ones are tried again
    /// while the engine runs.
    pub async fn connect(&self) {
        let now = (self.now_ms)();
        each_host(&self.hosts, move |h| async move { h.connect(now).await }).await;
    }

    fn host(&self, name: &str) -> Option<&Arc<HostLink>> {
        self.hosts.iter().find(|h| h.name() == name)
    }

    /// The host of a pane id (`big1:%3`), and the id on it.
    fn pane_host<'a>(&self, pane: &'a str) -> Option<(&Arc<HostLink>, &'a str)> {
        let (name, id) = pane.split_once(':')?;
        Some((self.host(name)?, id))
    }

    fn placed(&self, task: &Task) -> Option<&Arc<HostLink>> {
        let placed = self.placed.lock().unwrap_or_else(|p| p.into_inner());
        placed.get(&task.task_id).map(|&i| &self.hosts[i])
    }

    fn local_sessions(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.local_sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Where `task` goes now: a host's index, or None for this machine.
    fn pick(&self, task: &Task, profile: &str) -> Result<Option<usize>, EngineError> {
        let settings = &self.local.shop.plan.plan.settings;
        let agent = self.local.shop.plan.plan.agents.get(profile);
        let asks = host_pick::asked_labels(settings, task, agent);
        let local = Room {
            workers: self.local_sessions().len(),
            capacity: settings.max_parallel,
            reachable: true,
            labels: &[],
        };
        let hosts: Vec<Room> = self
            .hosts
            .iter()
            .map(|h| {
                let (workers, capacity) = h.room();
                Room {
                    workers,
                    capacity,
                    reachable: h.is_up(),
                    labels: &h.spec.labels,
                }
            })
            .collect();
        host_pick::pick(&local, &hosts, &asks).map_err(|why| EngineError::Host {
            host: "any".into(),
            why,
        })
    }

    /// Count `session` among `at`'s workers (or, not `take`, no more).
    fn take_room(&self, session: &str, at: Option<usize>, take: bool) {
        match at {
            Some(i) => self.hosts[i].take_room(session, take),
            None if take => {
                self.local_sessions().insert(session.to_string());
            }
            None => {
                self.local_sessions().remove(session);
            }
        }
    }

    /// A task's session started at `at`: every other machine that had it
    /// holds a leftover now.
    fn moved(&self, session: &str, at: Option<usize>) {
        for (i, h) in self.hosts.iter().enumerate() {
            if Some(i) != at {
                h.forget(session);
            }
        }
        if at.is_some() {
            self.local_sessions().remove(session);
        }
    }

    /// Workers an earlier engine left running on the hosts (listed once
    /// now; an unreachable host has none to offer).
    pub async fn live_workers(&self, key: &str, plan: &ValidPlan) -> Vec<HostWorker> {
        let now = (self.now_ms)();
        let listed = each_host(&self.hosts, move |h| async move { h.list_panes(now).await }).await;
        let mut found = Vec::new();
        for (host, panes) in listed.into_iter().enumerate() {
            for p in panes.iter().filter(|p| !p.pane_dead) {
                for task in super::actor::tasks_of_session(&p.session_name, key, plan) {
                    found.push(HostWorker {
                        task,
                        host,
                        session: p.session_name.clone(),
                    });
                }
            }
        }
        found
    }

    /// `task`'s live worker runs on host `at` in `session`, as an earlier
    /// engine left it: its room is taken there and its work is fetched
    /// from there.
    pub fn adopt(&self, task_id: &str, at: usize, session: &str) {
        self.take_room(session, Some(at), true);
        self.placed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task_id.to_string(), at);
    }

    /// End `session` on the host that holds it, else here as `here` does.
    fn end_session<'a>(
        &'a self,
        session: &'a str,
        here: impl FnOnce(&'a RealOs) -> BoxFuture<'a, Result<(), EngineError>>,
    ) -> BoxFuture<'a, Result<(), EngineError>> {
        match self.hosts.iter().find(|h| h.holds(session)) {
            Some(host) => Box::pin(async move {
                host.end_session(session).await;
                Ok(())
            }),
            None => {
                self.local_sessions().remove(session);
                here(&self.local)
            }
        }
    }

    /// The host's part in the snapshot.
    pub fn views(&self) -> Vec<HostView> {
        self.hosts.iter().map(|h| h.view()).collect()
    }
}

impl Os for HostsOs {
    fn spawn(
        &self,
        task: &Task,
        attempt: u32,
        profile: &str,
        note: Option<&str>,
        secret: &AttemptSecret,
    ) -> Result<Spawned, EngineError> {
        let session = self.local.shop.placement(task).session;
        // Spawns run at once: each takes its room before the next looks.
        // A host that does not answer now is ruled out, and the next looks.
        let at = loop {
            let at = {
                let _one = self.placing.lock().unwrap_or_else(|p| p.into_inner());
                let at = self.pick(task, profile)?;
                self.take_room(&session, at, true);
                at
            };
            match at {
                Some(i) if !self.hosts[i].answers((self.now_ms)()) => {
                    self.take_room(&session, at, false);
                }
                _ => break at,
            }
        };
        let spawned = match at {
            None => self.local.spawn(task, attempt, profile, note, secret),
            Some(i) => {
                let host = &self.hosts[i];
                host.spawn(&self.local.shop, task, attempt, profile, note, secret)
            }
        };
        let spawned = spawned.inspect_err(|_| self.take_room(&session, at, false))?;
        self.moved(&session, at);
        let mut placed = self.placed.lock().unwrap_or_else(|p| p.into_inner());
        match at {
            Some(i) => placed.insert(task.task_id.clone(), i),
            None => placed.remove(&task.task_id),
        };
        Ok(spawned)
    }

    fn pool_spawn(
        &self,
        task: &Task,
        attempt: u32,
        profile: &str,
        note: Option<&str>,
        secret: Option<&AttemptSecret>,
        order: &PoolOrder,
    ) -> Result<Spawned, EngineError> {
        // A pool's workers live on this machine.
        self.local
            .pool_spawn(task, attempt, profile, note, secret, order)
    }

    fn validate(&self, task: &Task, attempt: u32) -> Vec<CheckResult> {
        if let Some(host) = self.placed(task) {
            let shop = &self.local.shop;
            // The local worktree (an earlier fetch's) lets go of the branch
            // while the host's work replaces it.
            let _ = shop.remove_worktree(task);
            host.fetch_log(shop, task, attempt);
            let fetched = host
                .fetch_back(shop, task, attempt)
                .and_then(|()| shop.add_own_worktree(task).map_err(EngineError::Worktree));
            if let Err(e) = fetched {
                return vec![CheckResult {
                    check: "fetch from host".into(),
                    ok: false,
                    detail: e.to_string(),
                }];
            }
        }
        self.local.validate(task, attempt)
    }

    fn merge(&self, task: &Task) -> Result<MergeReport, EngineError> {
        self.local.merge(task)
    }

    fn remove_worktree(&self, task: &Task) -> Result<(), EngineError> {
        if let Some(host) = self.placed(task) {
            host.remove_worktree(&self.local.shop, task);
        }
        self.local.remove_worktree(task)
    }

    fn rebase(&self, task: &Task) -> Result<RebaseOutcome, EngineError> {
        self.local.rebase(task)
    }

    fn scan(&self, req: ScanRequest) -> ScanResult {
        self.local.scan(req)
    }

    fn write_execution_log(&self) {
        self.local.write_execution_log()
    }

    /// Here when the log was copied home (or ran here), else from the host
    /// the task runs on.
    fn log_tail(&self, task: &Task, attempt: u32, lines: usize) -> Option<LogTail> {
        self.local
            .log_tail(task, attempt, lines)
            .or_else(|| self.placed(task)?.log_tail(task, attempt, lines))
    }

    fn task_detail(&self, task: &Task, log_lines: usize) -> TaskDetail {
        super::os::task_detail(&self.local.shop, task, |attempt| {
            self.log_tail(task, attempt, log_lines)
        })
    }

    /// One `list-panes -a` here and one per host, at once.
    fn list_panes(&self) -> BoxFuture<'_, Result<Vec<PaneInfo>, EngineError>> {
        Box::pin(async move {
            let now = (self.now_ms)();
            let (mut panes, theirs) = tokio::join!(
                self.local.list_panes(),
                each_host(&self.hosts, move |h| async move { h.list_panes(now).await })
            );
            if let Ok(panes) = panes.as_mut() {
                panes.extend(theirs.into_iter().flatten());
            }
            panes
        })
    }

    fn capture_tail<'a>(
        &'a self,
        pane: &'a str,
        lines: u32,
    ) -> BoxFuture<'a, Result<Vec<String>, EngineError>> {
        match self.pane_host(pane) {
            Some((host, id)) => Box::pin(async move {
                let control = host.control()?;
                host.with_pane(control.capture_tail(id, lines)).await
            }),
            None => self.local.capture_tail(pane, lines),
        }
    }

    fn capture_screen<'a>(
        &'a self,
        pane: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, EngineError>> {
        match self.pane_host(pane) {
            Some((host, id)) => Box::pin(async move {
                let control = host.control()?;
                host.with_pane(control.capture_screen(id)).await
            }),
            None => self.local.capture_screen(pane),
        }
    }

    fn send_text<'a>(
        &'a self,
        pane: &'a str,
        text: &'a str,
        enter: bool,
    ) -> BoxFuture<'a, Result<(), EngineError>> {
        match self.pane_host(pane) {
            Some((host, id)) => Box::pin(async move {
                let control = host.control()?;
                host.with_pane(control.send_text(id, text, enter)).await
            }),
            None => self.local.send_text(pane, text, enter),
        }
    }

    fn send_keys<'a>(
        &'a self,
        pane: &'a str,
        keys: &'a [&'a str],
    ) -> BoxFuture<'a, Result<(), EngineError>> {
        match self.pane_host(pane) {
            Some((host, id)) => Box::pin(async move {
                let control = host.control()?;
                host.with_pane(control.send_keys(id, keys)).await
            }),
            None => self.local.send_keys(pane, keys),
        }
    }

    fn kill_session<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<(), EngineError>> {
        self.end_session(session, |local| local.kill_session(session))
    }

    fn close_session<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<(), EngineError>> {
        self.end_session(session, |local| local.close_session(session))
    }

    fn process_alive(&self, host: Option<&str>, pid: u32) -> bool {
        match host {
            None => self.local.process_alive(None, pid),
            Some(name) => self.host(name).is_none_or(|h| h.process_alive(pid)),
        }
    }

    fn kill_worker(&self, host: Option<&str>, agent_pgid: Option<u32>, shim_pid: Option<u32>) {
        match host {
            None => self.local.kill_worker(None, agent_pgid, shim_pid),
            Some(name) => {
                if let Some(h) = self.host(name) {
                    h.kill_worker(agent_pgid, shim_pid);
                }
            }
        }
    }

    fn claims(&self) -> &dyn ClaimStore {
        self.local.claims()
    }

    fn hosts(&self) -> Vec<HostView> {
        self.views()
    }

    fn take_notes(&self) -> Vec<String> {
        self.hosts.iter().flat_map(|h| h.take_notes()).collect()
    }

    fn close<'a>(&'a self, keep: &'a [String]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let keep: Arc<[String]> = keep.into();
            each_host(&self.hosts, |h| {
                let keep = keep.clone();
                async move {
                    let keep_workers = keep.iter().any(|k| k == h.name());
                    h.close(keep_workers).await
                }
            })
            .await;
        })
    }
}

/// `work` on every host at once; the results in the hosts' order.
async fn each_host<T, F>(hosts: &[Arc<HostLink>], work: impl Fn(Arc<HostLink>) -> F) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let running: Vec<_> = hosts
        .iter()
        .map(|h| tokio::spawn(work(h.clone())))
        .collect();
    let mut done = Vec::with_capacity(running.len());
    for r in running {
        if let Ok(t) = r.await {
            done.push(t);
        }
    }
    done
}

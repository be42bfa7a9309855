//! One host as the engine reaches it: its ssh master (with the engine's
//! socket forwarded to the host, `-R`), its clone, a tmux control-mode
//! client over that master, the last list of its panes, whether it answers
//! and since when, and the sessions of workers it must stop once it answers
//! again (a partition's leftovers).
//!
//! Every wait on a host is bounded: a host whose link is down costs a poll
//! [`LIST_TIMEOUT`] once, then is read from its last list until a
//! reconnection (every [`RETRY`]) succeeds.

use super::attempt_log::{self, LogTail};
use super::error::EngineError;
use super::workshop::{Placement, Spawned, Workshop};
use crate::hosts::orders::{Order, Reply, SpawnOrder};
use crate::hosts::ssh::{Connection, SshError, SshHost};
use crate::plan::{Host, Task};
use crate::tmux::{ControlClient, PaneInfo};
use crate::worker::secret::AttemptSecret;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A host's answer to one poll may take this long; later, it is unreachable.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(3);
/// Between attempts to reach an unreachable host.
pub const RETRY: Duration = Duration::from_secs(3);
/// A capture or keys sent to a host's pane.
const PANE_TIMEOUT: Duration = Duration::from_secs(3);
/// Reaching a host (ssh's own ConnectTimeout is longer; this is the engine's).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The engine ends with a host unreachable: how long it tries once more.
const LAST_TRY: Duration = Duration::from_secs(3);
/// One order to `switchboard host-worker`, a push or a fetch.
const ORDER_TIMEOUT: Duration = Duration::from_secs(120);

/// The host's `switchboard`: on its PATH, else where `hosts install` puts it.
const HOST_WORKER: &str = "sb=$(command -v switchboard 2>/dev/null) || \
                           sb=\"$HOME/.local/bin/switchboard\"; exec \"$sb\" host-worker";

/// A host's part in the snapshot (the header's hosts strip, `status`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostView {
    pub name: String,
    pub reachable: bool,
    /// Since when it answers, or does not (ms since the epoch).
    pub since_ms: u64,
    /// Why it does not answer, in ssh's or tmux's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Its workers now, and how many it takes (`maxParallel`).
    pub workers: usize,
    pub capacity: usize,
    /// Its 1-minute load average, as last read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<f64>,
    /// `ssh` and its arguments up to the remote command, over the engine's
    /// master (for attaching: add `-t`, then the tmux command).
    pub ssh: Vec<String>,
    /// Its tmux server for the workers (`tmux -L`).
    pub tmux_socket: String,
}

#[derive(Default)]
struct LinkState {
    conn: Option<Arc<Connection>>,
    control: Option<ControlClient>,
    /// The clone's absolute path on the host.
    clone: Option<String>,
    up: bool,
    since_ms: u64,
    why: Option<String>,
    last_try_ms: u64,
    /// The last list of its panes, ids as the engine knows them (`big1:%3`).
    panes: Vec<PaneInfo>,
    /// Sessions of its live workers.
    sessions: HashSet<String>,
    /// Sessions to kill once it answers.
    stale: HashSet<String>,
    load: Option<f64>,
    last_load_ms: u64,
}

/// How often a host's load average is read (one command over its master).
const LOAD_EVERY_MS: u64 = 10_000;

pub struct HostLink {
    pub spec: Host,
    ssh: SshHost,
    capacity: usize,
    /// The host's tmux server for this repository's workers (`tmux -L`).
    tmux_socket: String,
    /// The engine's socket, as the host's shims reach it.
    engine_socket: String,
    local_socket: PathBuf,
    control_session: String,
    state: Mutex<LinkState>,
    connecting: AtomicBool,
    /// The engine closed it: a connection made meanwhile is ended at once.
    closed: AtomicBool,
    /// Pushes and spawns on the host, one at a time.
    spawning: Mutex<()>,
    /// What the engine should say in its log (went away, came back).
    notes: Mutex<Vec<String>>,
}

impl HostLink {
    /// `key` names this repository (tmux session names), `engine` this
    /// engine among the repository's.
    pub fn new(
        spec: Host,
        default_capacity: usize,
        runtime_dir: &Path,
        key: &str,
        engine: u32,
        local_socket: &Path,
    ) -> Result<HostLink, String> {
        let ssh = SshHost::new(&spec.name, &spec.ssh, runtime_dir, Duration::from_secs(60))?;
        let name = &spec.name;
        Ok(HostLink {
            capacity: spec.max_parallel.unwrap_or(default_capacity),
            tmux_socket: format!("sb-{key}-{name}"),
            engine_socket: format!("/tmp/switchboard-{key}-{engine}-{name}.sock"),
            local_socket: local_socket.to_path_buf(),
            control_session: format!("sb-{key}-control-{engine}"),
            ssh,
            spec,
            state: Mutex::default(),
            connecting: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            spawning: Mutex::new(()),
            notes: Mutex::default(),
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    fn state(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_up(&self) -> bool {
        self.state().up
    }

    /// Its workers now, and how many it takes.
    pub fn room(&self) -> (usize, usize) {
        (self.state().sessions.len(), self.capacity)
    }

    pub fn view(&self) -> HostView {
        let s = self.state();
        HostView {
            name: self.spec.name.clone(),
            reachable: s.up,
            since_ms: s.since_ms,
            why: s.why.clone(),
            workers: s.sessions.len(),
            capacity: self.capacity,
            load: s.load,
            ssh: std::iter::once("ssh".to_string())
                .chain(self.ssh.ssh_argv(&[], None))
                .collect(),
            tmux_socket: self.tmux_socket.clone(),
        }
    }

    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn note(&self, text: String) {
        tracing::info!("{text}");
        self.notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(text);
    }

    /// Reach the host: master, the engine's socket forwarded, the clone,
    /// a control client on its tmux server. `now_ms` dates the change.
    pub async fn connect(self: &Arc<Self>, now_ms: u64) {
        if self.connecting.swap(true, Ordering::SeqCst) {
            return;
        }
        self.state().last_try_ms = now_ms;
        let link = self.clone();
        let reached = tokio::task::spawn_blocking(move || link.reach())
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        let connected = match reached {
            Ok((conn, clone)) => {
                let control = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    crate::hosts::control::connect(
                        &conn,
                        Some(&self.tmux_socket),
                        &self.control_session,
                    ),
                )
                .await;
                match control {
                    Ok(Ok(control)) => Ok((conn, clone, control)),
                    Ok(Err(e)) => Err((Some(conn), format!("tmux: {e}"))),
                    Err(_) => Err((Some(conn), "tmux did not answer".to_string())),
                }
            }
            Err(why) => Err((None, why)),
        };
        let connected = match connected {
            Ok((conn, _, control)) if self.closed.load(Ordering::SeqCst) => {
                drop(control);
                Err((Some(conn), "the engine closed".to_string()))
            }
            other => other,
        };
        let mut s = self.state();
        match connected {
            Ok((conn, clone, control)) => {
                if !s.up && s.since_ms > 0 {
                    let away = now_ms.saturating_sub(s.since_ms) / 1000;
                    self.note(format!(
                        "host {} answers again (unreachable for {away} s)",
                        self.name()
                    ));
                }
                s.conn = Some(Arc::new(conn));
                s.clone = Some(clone);
                s.control = Some(control);
                s.up = true;
                s.why = None;
                s.since_ms = now_ms;
            }
            Err((conn, why)) => {
                if s.up || s.since_ms == 0 {
                    self.note(format!("host {} is unreachable: {why}", self.name()));
                    s.since_ms = now_ms;
                }
                s.up = false;
                s.why = Some(why);
                drop(s);
                if let Some(conn) = conn {
                    close_in_background(Arc::new(conn), self.ssh.clone());
                }
            }
        }
        self.connecting.store(false, Ordering::SeqCst);
    }

    /// The blocking part of [`Self::connect`].
    fn reach(&self) -> Result<(Connection, String), String> {
        let conn = self
            .ssh
            .connect(CONNECT_TIMEOUT)
            .map_err(|e| e.to_string())?;
        // A socket left by an earlier master would make the forward fail.
        conn.run(&["rm", "-f", &self.engine_socket], CONNECT_TIMEOUT)
            .map_err(|e| e.to_string())?;
        self.ssh
            .forward_socket(&self.engine_socket, &self.local_socket, false)
            .map_err(|e| e.to_string())?;
        let workdir = self.spec.workdir.clone().unwrap_or_else(|| "~".into());
        let init = order(&conn, &Order::Init { workdir }).map_err(|why| {
            if why.contains("switchboard") && why.contains("not found") {
                format!(
                    "no switchboard there (`switchboard hosts install {}` copies this build): {why}",
                    self.name()
                )
            } else {
                why
            }
        });
        match init? {
            Reply::Init { clone } => Ok((conn, clone)),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    /// The host stopped answering: drop its connection (its shims' links
    /// to the engine close with it) and say since when.
    fn lost(&self, now_ms: u64, why: String) {
        let mut s = self.state();
        if !s.up {
            return;
        }
        s.up = false;
        s.since_ms = now_ms;
        s.control = None;
        self.note(format!("host {} is unreachable: {why}", self.name()));
        s.why = Some(why);
        if let Some(conn) = s.conn.take() {
            close_in_background(conn, self.ssh.clone());
        }
    }

    /// Whether the host answers a command now (an attempt about to go
    /// there would otherwise wait on a link that went quiet); not, it is
    /// unreachable from now on.
    pub fn answers(&self, now_ms: u64) -> bool {
        let Some(conn) = self.state().conn.clone() else {
            return false;
        };
        match conn.run(&["true"], PANE_TIMEOUT) {
            Ok(out) if out.success() => true,
            Ok(out) => {
                let why = crate::hosts::ssh::last_line(&out.stderr);
                self.lost(now_ms, format!("ssh: {why}"));
                false
            }
            Err(e) => {
                self.lost(now_ms, e.to_string());
                false
            }
        }
    }

    /// Try again, in the background, when an unreachable host's turn came.
    pub fn retry_if_due(self: &Arc<Self>, now_ms: u64) {
        let due = {
            let s = self.state();
            !s.up && now_ms.saturating_sub(s.last_try_ms) >= RETRY.as_millis() as u64
        };
        if due && !self.connecting.load(Ordering::SeqCst) && !self.closed.load(Ordering::SeqCst) {
            let link = self.clone();
            tokio::spawn(async move { link.connect(now_ms).await });
        }
    }

    /// Its panes (ids prefixed with its name): listed now, or, when it
    /// does not answer, as last listed, so that its workers are judged by
    /// their heartbeats' clocks rather than found gone. Stale sessions it
    /// still has are killed.
    pub async fn list_panes(self: &Arc<Self>, now_ms: u64) -> Vec<PaneInfo> {
        let control = self.state().control.clone();
        let Some(control) = control else {
            self.retry_if_due(now_ms);
            return self.state().panes.clone();
        };
        match tokio::time::timeout(LIST_TIMEOUT, control.list_panes()).await {
            Ok(Ok(mut panes)) => {
                for p in &mut panes {
                    p.pane_id = format!("{}:{}", self.name(), p.pane_id);
                }
                let stale: Vec<String> = {
                    let mut s = self.state();
                    if now_ms.saturating_sub(s.last_load_ms) >= LOAD_EVERY_MS {
                        s.last_load_ms = now_ms;
                        let link = self.clone();
                        tokio::task::spawn_blocking(move || link.read_load());
                    }
                    s.panes = panes.clone();
                    let listed: HashSet<&str> =
                        panes.iter().map(|p| p.session_name.as_str()).collect();
                    s.stale.retain(|session| listed.contains(session.as_str()));
                    s.stale.iter().cloned().collect()
                };
                for session in stale {
                    if let Ok(Ok(())) =
                        tokio::time::timeout(PANE_TIMEOUT, control.kill_session(&session)).await
                    {
                        self.note(format!(
                            "host {}: stopped {session}, a worker the engine had given up on",
                            self.name()
                        ));
                        self.state().stale.remove(&session);
                    }
                }
                panes
            }
            Ok(Err(e)) => {
                self.lost(now_ms, format!("tmux: {e}"));
                self.state().panes.clone()
            }
            Err(_) => {
                self.lost(now_ms, format!("no answer in {} s", LIST_TIMEOUT.as_secs()));
                self.state().panes.clone()
            }
        }
    }

    /// The control client, when the host answers.
    pub fn control(&self) -> Result<ControlClient, EngineError> {
        self.state()
            .control
            .clone()
            .ok_or_else(|| self.error("unreachable"))
    }

    fn error(&self, why: impl Into<String>) -> EngineError {
        EngineError::Host {
            host: self.name().to_string(),
            why: why.into(),
        }
    }

    pub async fn with_pane<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, crate::tmux::TmuxError>>,
    ) -> Result<T, EngineError> {
        match tokio::time::timeout(PANE_TIMEOUT, work).await {
            Ok(done) => Ok(done?),
            Err(_) => Err(self.error("no answer")),
        }
    }

    /// Whether `session` is a live worker's here.
    pub fn holds(&self, session: &str) -> bool {
        self.state().sessions.contains(session)
    }

    /// A worker's session ended, or is to end: killed now when the host
    /// answers, else as soon as it does.
    pub async fn end_session(&self, session: &str) {
        let control = {
            let mut s = self.state();
            s.sessions.remove(session);
            s.stale.insert(session.to_string());
            s.control.clone()
        };
        if let Some(control) = control
            && let Ok(Ok(())) =
                tokio::time::timeout(PANE_TIMEOUT, control.kill_session(session)).await
        {
            self.state().stale.remove(session);
        }
    }

    /// Count `session` among its workers (before it starts here), or, not
    /// `take`, no more (it could not start).
    pub fn take_room(&self, session: &str, take: bool) {
        let mut s = self.state();
        if take {
            s.stale.remove(session);
            s.sessions.insert(session.to_string());
        } else {
            s.sessions.remove(session);
        }
    }

    /// `session` runs elsewhere now: any of it here is a leftover.
    pub fn forget(&self, session: &str) {
        let mut s = self.state();
        if s.sessions.remove(session) {
            s.stale.insert(session.to_string());
        }
    }

    /// Whether `pid` runs on the host; true when it cannot be asked.
    pub fn process_alive(&self, pid: u32) -> bool {
        let Some(conn) = self.state().conn.clone() else {
            return true;
        };
        let script =
            format!("kill -0 {pid} 2>/dev/null && ! grep -q '^State:.*Z' /proc/{pid}/status");
        match conn.run(&["sh", "-c", &script], PANE_TIMEOUT) {
            Ok(out) if out.code == Some(255) => true,
            Ok(out) => out.success(),
            Err(_) => true,
        }
    }

    /// SIGKILL a worker's agent group and shim on the host, and end its
    /// session (at once, or when the host answers again).
    pub fn kill_worker(self: &Arc<Self>, agent_pgid: Option<u32>, shim_pid: Option<u32>) {
        let (conn, session) = {
            let s = self.state();
            let session = shim_pid.and_then(|pid| {
                s.panes
                    .iter()
                    .find(|p| p.pane_pid == Some(pid))
                    .map(|p| p.session_name.clone())
            });
            (s.conn.clone(), session)
        };
        if let Some(session) = &session {
            self.forget(session);
        }
        let (Some(conn), Ok(handle)) = (conn, tokio::runtime::Handle::try_current()) else {
            return;
        };
        let targets: Vec<String> = agent_pgid
            .filter(|&p| p > 1)
            .map(|p| format!("-{p}"))
            .into_iter()
            .chain(shim_pid.filter(|&p| p > 1).map(|p| p.to_string()))
            .collect();
        if targets.is_empty() {
            return;
        }
        handle.spawn_blocking(move || {
            let mut argv = vec!["kill", "-9", "--"];
            argv.extend(targets.iter().map(String::as_str));
            let _ = conn.run(&argv, PANE_TIMEOUT);
        });
    }

    /// Start `task`'s attempt here: push the integration branch to the
    /// clone, then the host's switchboard makes the worktree and the
    /// worker's session.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn(
        &self,
        shop: &Workshop,
        task: &Task,
        attempt: u32,
        profile: &str,
        note: Option<&str>,
        secret: &AttemptSecret,
    ) -> Result<Spawned, EngineError> {
        let _one = self.spawning.lock().unwrap_or_else(|p| p.into_inner());
        let (conn, clone) = {
            let s = self.state();
            match (&s.conn, &s.clone, s.up) {
                (Some(c), Some(clone), true) => (c.clone(), clone.clone()),
                _ => return Err(self.error("unreachable")),
            }
        };
        let settings = &shop.plan.plan.settings;
        let integration = &settings.integration_branch;
        let refspec = format!("+refs/heads/{integration}:refs/heads/{integration}");
        self.git(
            shop,
            &["push", "--quiet", &self.ssh.git_url(&clone), &refspec],
        )?;
        let local = shop.placement(task);
        let worktree = local
            .worktree
            .strip_prefix(&shop.repo.root)
            .unwrap_or(&local.worktree)
            .display()
            .to_string();
        let (launch, agent) = shop.launch(task, profile, secret)?;
        let mut excluded = vec![".switchboard/".to_string(), "TASK_INSTRUCTION.md".into()];
        excluded.extend(
            shop.plan
                .plan
                .agents
                .values()
                .filter_map(|a| a.hooks.as_ref()?.file.clone()),
        );
        let order = Order::Spawn(Box::new(SpawnOrder {
            clone,
            worktree,
            branch: local.branch.clone(),
            base: integration.clone(),
            task: task.clone(),
            attempt,
            note: note.map(str::to_string),
            agent: agent.clone(),
            launch,
            excluded,
            session: local.session.clone(),
            tmux_socket: self.tmux_socket.clone(),
            engine_socket: self.engine_socket.clone(),
            heartbeat_ms: settings.heartbeat.interval_ms,
        }));
        match order_or_lost(self, &conn, &order)? {
            Reply::Spawned {
                worktree,
                pane_id,
                pane_pid,
                preaccepted,
            } => Ok(Spawned {
                placement: Placement {
                    worktree: PathBuf::from(worktree),
                    branch: local.branch,
                    session: local.session,
                    host: Some(self.name().to_string()),
                },
                pane_id: format!("{}:{pane_id}", self.name()),
                pane_pid,
                preaccepted,
                saved: None,
            }),
            other => Err(self.error(format!("unexpected answer {other:?}"))),
        }
    }

    /// Bring `task`'s branch home: its uncommitted work committed on the
    /// host, then fetched over the host's connection into the local branch
    /// (no local worktree may hold it meanwhile: the caller removed it).
    pub fn fetch_back(
        &self,
        shop: &Workshop,
        task: &Task,
        attempt: u32,
    ) -> Result<(), EngineError> {
        let (conn, clone) = {
            let s = self.state();
            match (&s.conn, &s.clone) {
                (Some(c), Some(clone)) => (c.clone(), clone.clone()),
                _ => return Err(self.error("unreachable: its work cannot be fetched")),
            }
        };
        let local = shop.placement(task);
        let worktree = worktree_on_host(shop, task, &clone);
        let save = Order::Save {
            worktree,
            message: format!(
                "switchboard: save {}'s uncommitted work (attempt {attempt})",
                task.task_id
            ),
        };
        order_or_lost(self, &conn, &save)?;
        let branch = &local.branch;
        let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
        self.git(
            shop,
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                &self.ssh.git_url(&clone),
                &refspec,
            ],
        )
    }

    /// The end of `task`'s attempt log on the host (its size, then its last
    /// bytes, in one round trip), when the host answers and has it.
    pub fn log_tail(&self, task: &Task, attempt: u32, lines: usize) -> Option<LogTail> {
        let (conn, path) = self.log_path(task, attempt)?;
        let script = format!(
            "s=$(wc -c < \"$1\") || exit 1; echo \"$s\"; tail -c {} \"$1\"",
            attempt_log::TAIL_BYTES
        );
        let out = conn
            .run(&["sh", "-c", &script, "sh", &path], PANE_TIMEOUT)
            .ok()
            .filter(|o| o.success())?;
        let (size, bytes) = out.stdout.split_once('\n')?;
        let size = size.trim().parse().ok()?;
        Some(attempt_log::tail_of(size, bytes.as_bytes(), lines))
    }

    /// Copy `task`'s attempt log from the host to the repository's logs,
    /// where it outlives the host's worktree (best effort: the work itself
    /// does not depend on it).
    pub fn fetch_log(&self, shop: &Workshop, task: &Task, attempt: u32) {
        let Some((conn, path)) = self.log_path(task, attempt) else {
            return;
        };
        let Ok(out) = conn.run(&["cat", "--", &path], ORDER_TIMEOUT) else {
            return;
        };
        if out.success() {
            let here = attempt_log::path(&shop.repo.root, &task.task_id, attempt);
            if let Err(e) = std::fs::write(&here, out.stdout) {
                tracing::warn!("cannot keep {}: {e}", here.display());
            }
        }
    }

    /// The connection, and where `task`'s attempt log is on the host.
    fn log_path(&self, task: &Task, attempt: u32) -> Option<(Arc<Connection>, String)> {
        let s = self.state();
        let (conn, clone) = (s.conn.clone()?, s.clone.clone()?);
        let path = attempt_log::path(Path::new(&clone), &task.task_id, attempt);
        Some((conn, path.display().to_string()))
    }

    /// Remove `task`'s worktree on the host, when it answers.
    pub fn remove_worktree(&self, shop: &Workshop, task: &Task) {
        let (conn, clone) = {
            let s = self.state();
            match (&s.conn, &s.clone, s.up) {
                (Some(c), Some(clone), true) => (c.clone(), clone.clone()),
                _ => return,
            }
        };
        let worktree = worktree_on_host(shop, task, &clone);
        if let Err(e) = order(&conn, &Order::Remove { clone, worktree }) {
            tracing::warn!(
                "host {}: cannot remove {}'s worktree: {e}",
                self.name(),
                task.task_id
            );
        }
    }

    /// git in the local repository, over this host's master.
    fn git(&self, shop: &Workshop, args: &[&str]) -> Result<(), EngineError> {
        let mut cmd = std::process::Command::new("git");
        cmd.arg("-C")
            .arg(&shop.repo.root)
            .args(args)
            .env("GIT_SSH_COMMAND", self.ssh.git_ssh_command())
            .env("GIT_SSH_VARIANT", "ssh");
        match crate::hosts::ssh::run_timed(&mut cmd, ORDER_TIMEOUT) {
            Ok(out) if out.success() => Ok(()),
            Ok(out) => Err(self.error(format!(
                "git {}: {}",
                args[0],
                crate::hosts::ssh::last_line(&out.stderr)
            ))),
            Err(e) => Err(self.error(format!("git {}: {e}", args[0]))),
        }
    }

    /// Its 1-minute load average, read now (blocking).
    pub fn read_load(&self) {
        let Some(conn) = self.state().conn.clone() else {
            return;
        };
        if let Ok(out) = conn.run(&["cat", "/proc/loadavg"], PANE_TIMEOUT)
            && out.success()
        {
            let load = out
                .stdout
                .split_whitespace()
                .next()
                .and_then(|w| w.parse().ok());
            self.state().load = load;
        }
    }

    /// Nothing of the engine stays on the host: its tmux server (workers
    /// and all), the forwarded socket, the master. With `keep_workers`
    /// (left running for a later engine), its live workers' sessions stay;
    /// the ones it gave up on end all the same.
    pub async fn close(&self, keep_workers: bool) {
        self.closed.store(true, Ordering::SeqCst);
        let (control, conn, stale, reached) = {
            let mut s = self.state();
            s.up = false;
            let stale: Vec<String> = s.stale.drain().collect();
            (s.control.take(), s.conn.take(), stale, s.clone.is_some())
        };
        if let (true, Some(control)) = (keep_workers, &control) {
            for session in stale {
                let _ = tokio::time::timeout(PANE_TIMEOUT, control.kill_session(&session)).await;
            }
        }
        // Its farewell leaves the control session first.
        drop(control);
        if conn.is_none() && !reached {
            return;
        }
        let (ssh, local) = (self.ssh.clone(), self.local_socket.clone());
        let close = Order::Close {
            tmux_socket: self.tmux_socket.clone(),
            engine_socket: self.engine_socket.clone(),
            keep_workers,
            control_session: self.control_session.clone(),
        };
        let name = self.name().to_string();
        let _ = tokio::task::spawn_blocking(move || {
            // Unreachable as the engine ends, after this run put workers
            // there: one last try, so that they end now rather than never.
            let conn = match conn {
                Some(conn) => conn,
                None => match ssh.connect(LAST_TRY) {
                    Ok(conn) => Arc::new(conn),
                    Err(e) => {
                        tracing::warn!("host {name}: unreachable as the engine ends: {e}");
                        ssh.exit_master();
                        return;
                    }
                },
            };
            if let Order::Close { engine_socket, .. } = &close {
                let _ = ssh.forward_socket(engine_socket, &local, true);
            }
            if let Err(e) = order(&conn, &close) {
                tracing::warn!("host {name}: closing: {e}");
            }
            drop(conn);
            ssh.exit_master();
        })
        .await;
    }
}

/// Where `task`'s worktree is in the host's clone at `clone`: where it
/// would be here, under the clone instead of the repository.
fn worktree_on_host(shop: &Workshop, task: &Task, clone: &str) -> String {
    let local = shop.placement(task);
    let rel = local
        .worktree
        .strip_prefix(&shop.repo.root)
        .unwrap_or(&local.worktree);
    Path::new(clone).join(rel).display().to_string()
}

/// Drop a connection and end its master (a master that lived through a
/// partition would otherwise be reused, and outlive the engine), off the
/// async threads.
fn close_in_background(conn: Arc<Connection>, ssh: SshHost) {
    let close = move || {
        drop(conn);
        ssh.exit_master();
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn_blocking(close);
        }
        Err(_) => close(),
    }
}

/// An order to the host's `switchboard host-worker`; a failure that is
/// ssh's (the host went away) marks the host unreachable.
fn order_or_lost(link: &HostLink, conn: &Connection, o: &Order) -> Result<Reply, EngineError> {
    order(conn, o).map_err(|why| link.error(why))
}

fn order(conn: &Connection, o: &Order) -> Result<Reply, String> {
    let input = serde_json::to_vec(o).map_err(|e| e.to_string())?;
    let out = conn
        .run_with_input(&["sh", "-c", HOST_WORKER], &input, ORDER_TIMEOUT)
        .map_err(|e: SshError| e.to_string())?;
    let reply = out
        .stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Reply>(l).ok());
    match reply {
        Some(Reply::Failed { error }) => Err(error),
        Some(reply) => Ok(reply),
        None => Err(format!(
            "switchboard host-worker: {}",
            crate::hosts::ssh::last_line(&out.stderr)
        )),
    }
}

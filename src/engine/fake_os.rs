//! The fakes behind the engine fixture: a clock a test sets, and an [`Os`]
//! that records every call and returns what the test scripted.

use super::early_warning::{ScanRequest, ScanResult};
use super::error::EngineError;
use super::os::{BoxFuture, Clock, Os};
use super::pool::{How, PoolOrder};
use super::preaccept::Preaccepted;
use super::workshop::{CheckResult, IntegrationCheck, MergeReport, Placement, Spawned};
use crate::git::{MergeOutcome, RebaseOutcome};
use crate::plan::Task;
use crate::tmux::PaneInfo;
use crate::worker::secret::AttemptSecret;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct FakeClock(pub AtomicU64);

impl FakeClock {
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
    fn mono_us(&self) -> u64 {
        self.now_ms() * 1000
    }
}

/// One thing the engine asked of the world.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Spawn {
        task: String,
        attempt: u32,
        profile: String,
    },
    /// A pool worker took a task (`how`: `typed` or `started`; `fresh`:
    /// in a new session).
    PoolSpawn {
        task: String,
        attempt: u32,
        profile: String,
        worker: String,
        how: &'static str,
        fresh: bool,
    },
    Validate {
        task: String,
        attempt: u32,
    },
    Merge {
        task: String,
    },
    Rebase {
        task: String,
    },
    RemoveWorktree {
        task: String,
    },
    KillSession {
        session: String,
    },
    SendText {
        pane: String,
        text: String,
        /// Enter in the same request.
        enter: bool,
    },
    SendKeys {
        pane: String,
        keys: Vec<String>,
    },
    KillWorker,
    WriteExecutionLog,
}

/// The world as a test scripts it. Unscripted, every spawn succeeds, every
/// check passes, every merge lands and every process lives.
#[derive(Default)]
pub struct FakeOs {
    pub calls: Mutex<Vec<Call>>,
    pub merges: Mutex<HashMap<String, Vec<Result<MergeOutcome, EngineError>>>>,
    /// The integration check of a task's next merge (none: no check runs).
    pub integration_checks: Mutex<HashMap<String, Vec<IntegrationCheck>>>,
    pub checks: Mutex<HashMap<String, Vec<Vec<CheckResult>>>>,
    /// The next rebase of a task ends so (default: rebased).
    pub rebases: Mutex<HashMap<String, RebaseOutcome>>,
    pub spawn_errors: Mutex<HashMap<String, String>>,
    /// What each task's next spawn reports of its `preaccept` writes.
    pub preaccepted: Mutex<HashMap<String, Vec<Result<Preaccepted, String>>>>,
    pub dead_pids: Mutex<Vec<u32>>,
    /// Tasks whose attempts go to a host, by task: their panes are
    /// `<host>:%N`, as HostsOs names them.
    pub on_hosts: Mutex<HashMap<String, String>>,
    pub panes: Mutex<Vec<PaneInfo>>,
    pub tails: Mutex<HashMap<String, Vec<String>>>,
    /// Panes spawned so far: listed alive unless `panes` says otherwise.
    spawned: Mutex<Vec<PaneInfo>>,
    /// Each pool worker's pane by its session: a start that is not fresh
    /// reuses it, as `respawn-pane` does.
    pool_panes: Mutex<HashMap<String, String>>,
    next_pane: AtomicU64,
    pub claims: super::fake_claims::FakeClaims,
}

impl FakeOs {
    fn call(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The integration check of `task`'s next merge ends so: failing, the
    /// merge is blocked; passing, it merges as scripted.
    pub fn script_integration_check(&self, task: &str, ok: bool, output: &str) {
        let check = IntegrationCheck {
            command: "make integration".into(),
            ok,
            detail: output.into(),
        };
        let mut m = self.integration_checks.lock().unwrap();
        m.entry(task.to_string()).or_default().push(check);
    }

    fn git_merge(&self, task: &Task) -> Result<MergeOutcome, EngineError> {
        let mut scripted = self.merges.lock().unwrap();
        match scripted.get_mut(&task.task_id).filter(|q| !q.is_empty()) {
            Some(q) => q.remove(0),
            None => Ok(MergeOutcome::Merged {
                commit: format!("c0ffee{}", task.task_id),
            }),
        }
    }

    pub fn script_merge(&self, task: &str, result: Result<MergeOutcome, String>) {
        let mut m = self.merges.lock().unwrap();
        let result = result.map_err(|e| failure(&e));
        m.entry(task.to_string()).or_default().push(result);
    }

    /// The next merge of `task` fails with this git error.
    pub fn script_merge_error(
        &self,
        task: &str,
        error: Result<MergeOutcome, crate::git::GitError>,
    ) {
        let mut m = self.merges.lock().unwrap();
        let result = error.map_err(EngineError::from);
        m.entry(task.to_string()).or_default().push(result);
    }

    pub fn script_checks(&self, task: &str, results: Vec<CheckResult>) {
        let mut m = self.checks.lock().unwrap();
        m.entry(task.to_string()).or_default().push(results);
    }
}

/// A live pane as `list-panes` shows it.
pub fn pane(pane_id: &str, session: &str, activity: Option<i64>) -> PaneInfo {
    PaneInfo {
        pane_id: pane_id.to_string(),
        session_name: session.to_string(),
        pane_pid: None,
        pane_dead: false,
        pane_dead_status: None,
        pane_dead_signal: None,
        activity,
        pane_current_command: "sh".into(),
        title: "vm".into(),
    }
}

/// Where worker `n` of the pool named `slug` lives, in the fakes.
pub fn pool_place(slug: &str, n: u32) -> Placement {
    Placement {
        worktree: PathBuf::from(format!("/fake/{slug}-{n}")),
        branch: String::new(),
        session: format!("sb-fake--{slug}-{n}"),
        host: None,
    }
}

pub fn placement(task: &Task) -> Placement {
    Placement {
        worktree: PathBuf::from(format!("/fake/{}", task.task_id)),
        branch: format!("agent/{}/{}", task.task_id, task.place_kind()),
        session: format!("sb-fake-{}", task.task_id),
        host: None,
    }
}

fn failure(text: &str) -> EngineError {
    EngineError::Io {
        what: text.to_string(),
        source: std::io::Error::other("scripted"),
    }
}

impl Os for FakeOs {
    fn spawn(
        &self,
        task: &Task,
        attempt: u32,
        profile: &str,
        _: Option<&str>,
        _: &AttemptSecret,
    ) -> Result<Spawned, EngineError> {
        self.call(Call::Spawn {
            task: task.task_id.clone(),
            attempt,
            profile: profile.to_string(),
        });
        if let Some(e) = self.spawn_errors.lock().unwrap().get(&task.task_id) {
            return Err(failure(e));
        }
        let n = self.next_pane.fetch_add(1, Ordering::SeqCst) + 1;
        let mut placement = placement(task);
        placement.host = self.on_hosts.lock().unwrap().get(&task.task_id).cloned();
        let pane_id = match &placement.host {
            Some(host) => format!("{host}:%{n}"),
            None => format!("%{n}"),
        };
        self.spawned
            .lock()
            .unwrap()
            .push(pane(&pane_id, &placement.session, None));
        let preaccepted = self
            .preaccepted
            .lock()
            .unwrap()
            .remove(&task.task_id)
            .unwrap_or_default();
        Ok(Spawned {
            pane_pid: None,
            placement,
            pane_id,
            preaccepted,
            saved: None,
        })
    }

    fn pool_spawn(
        &self,
        task: &Task,
        attempt: u32,
        profile: &str,
        _: Option<&str>,
        _: Option<&AttemptSecret>,
        order: &PoolOrder,
    ) -> Result<Spawned, EngineError> {
        let worker = format!("{}#{}", order.pool, order.worker);
        self.call(Call::PoolSpawn {
            task: task.task_id.clone(),
            attempt,
            profile: profile.to_string(),
            worker,
            how: order.how.word(),
            fresh: order.fresh,
        });
        if let Some(e) = self.spawn_errors.lock().unwrap().get(&task.task_id) {
            return Err(failure(e));
        }
        let session = order.place.session.clone();
        let mut panes = self.pool_panes.lock().unwrap();
        let pane_id = match (&order.how, panes.get(&session)) {
            (How::Typed { pane }, _) => pane.clone(),
            (How::Started, Some(pane)) if !order.fresh => pane.clone(),
            (How::Started, _) => {
                let pane = format!("%{}", self.next_pane.fetch_add(1, Ordering::SeqCst) + 1);
                let mut spawned = self.spawned.lock().unwrap();
                spawned.push(super::fake_os::pane(&pane, &session, None));
                panes.insert(session.clone(), pane.clone());
                pane
            }
        };
        Ok(Spawned {
            pane_pid: None,
            placement: Placement {
                worktree: order.place.worktree.clone(),
                branch: placement(task).branch,
                session,
                host: None,
            },
            pane_id,
            preaccepted: Vec::new(),
            saved: None,
        })
    }

    fn validate(&self, task: &Task, attempt: u32) -> Vec<CheckResult> {
        self.call(Call::Validate {
            task: task.task_id.clone(),
            attempt,
        });
        let mut scripted = self.checks.lock().unwrap();
        match scripted.get_mut(&task.task_id).filter(|q| !q.is_empty()) {
            Some(q) => q.remove(0),
            None => vec![CheckResult {
                check: "file_exists".into(),
                ok: true,
                detail: "every output exists".into(),
            }],
        }
    }

    fn merge(&self, task: &Task) -> Result<MergeReport, EngineError> {
        self.call(Call::Merge {
            task: task.task_id.clone(),
        });
        let check = {
            let mut checks = self.integration_checks.lock().unwrap();
            let queue = checks.get_mut(&task.task_id).filter(|q| !q.is_empty());
            queue.map(|q| q.remove(0))
        };
        if let Some(check) = check.clone().filter(|c| !c.ok) {
            return Ok(MergeReport::Blocked { check });
        }
        let outcome = self.git_merge(task)?;
        Ok(MergeReport::Done { outcome, check })
    }

    fn rebase(&self, task: &Task) -> Result<RebaseOutcome, EngineError> {
        self.call(Call::Rebase {
            task: task.task_id.clone(),
        });
        let scripted = self.rebases.lock().unwrap().remove(&task.task_id);
        Ok(scripted.unwrap_or(RebaseOutcome::Rebased))
    }

    fn remove_worktree(&self, task: &Task) -> Result<(), EngineError> {
        self.call(Call::RemoveWorktree {
            task: task.task_id.clone(),
        });
        Ok(())
    }

    fn scan(&self, req: ScanRequest) -> ScanResult {
        ScanResult {
            heads: req.previous,
            warnings: Vec::new(),
        }
    }

    fn write_execution_log(&self) {
        self.call(Call::WriteExecutionLog);
    }

    fn log_tail(&self, _: &Task, _: u32, _: usize) -> Option<crate::engine::attempt_log::LogTail> {
        None
    }

    fn task_detail(&self, task: &Task, _: usize) -> crate::engine::detail::TaskDetail {
        crate::engine::detail::TaskDetail {
            task: task.task_id.clone(),
            title: task.title.clone(),
            ..Default::default()
        }
    }

    fn list_panes(&self) -> BoxFuture<'_, Result<Vec<PaneInfo>, EngineError>> {
        let mut panes = self.panes.lock().unwrap().clone();
        for p in self.spawned.lock().unwrap().iter() {
            if !panes.iter().any(|q| q.pane_id == p.pane_id) {
                panes.push(p.clone());
            }
        }
        Box::pin(async move { Ok(panes) })
    }

    fn capture_tail<'a>(
        &'a self,
        pane: &'a str,
        _: u32,
    ) -> BoxFuture<'a, Result<Vec<String>, EngineError>> {
        let tail = self
            .tails
            .lock()
            .unwrap()
            .get(pane)
            .cloned()
            .unwrap_or_default();
        Box::pin(async move { Ok(tail) })
    }

    fn capture_screen<'a>(
        &'a self,
        pane: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, EngineError>> {
        self.capture_tail(pane, u32::MAX)
    }

    fn send_text<'a>(
        &'a self,
        pane: &'a str,
        text: &'a str,
        enter: bool,
    ) -> BoxFuture<'a, Result<(), EngineError>> {
        self.call(Call::SendText {
            pane: pane.to_string(),
            text: text.to_string(),
            enter,
        });
        Box::pin(async { Ok(()) })
    }

    fn send_keys<'a>(
        &'a self,
        pane: &'a str,
        keys: &'a [&'a str],
    ) -> BoxFuture<'a, Result<(), EngineError>> {
        self.call(Call::SendKeys {
            pane: pane.to_string(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
        });
        Box::pin(async { Ok(()) })
    }

    fn kill_session<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<(), EngineError>> {
        self.call(Call::KillSession {
            session: session.to_string(),
        });
        Box::pin(async { Ok(()) })
    }

    fn process_alive(&self, _: Option<&str>, pid: u32) -> bool {
        !self.dead_pids.lock().unwrap().contains(&pid)
    }

    fn kill_worker(&self, _: Option<&str>, _: Option<u32>, _: Option<u32>) {
        self.call(Call::KillWorker);
    }

    fn claims(&self) -> &dyn super::claims::ClaimStore {
        &self.claims
    }
}

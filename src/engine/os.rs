//! The engine's boundary with the world: everything it does to tmux, git and
//! processes, and every clock read, goes through [`Os`] and [`Clock`].
//! Production uses [`RealOs`] and [`SystemClock`]; the engine's fixture
//! tests use fakes that record calls and return scripted outcomes.

use super::attempt_log::{self, LogTail};
use super::claim_files::ClaimDir;
use super::claims::ClaimStore;
use super::detail::{self, AttemptLog, TaskDetail};
use super::early_warning::{ScanRequest, ScanResult};
use super::error::EngineError;
use super::host_link::HostView;
use super::pool::PoolOrder;
use super::workshop::{CheckResult, MergeReport, Spawned, Workshop};
use crate::git::RebaseOutcome;
use crate::plan::Task;
use crate::tmux::{ControlClient, PaneInfo};
use crate::worker::secret::AttemptSecret;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the engine asks of the operating system. The blocking methods run on
/// tokio's blocking pool, never on the actor's thread; the tmux ones go over
/// the control-mode connection.
pub trait Os: Send + Sync + 'static {
    // git and files (blocking)
    /// Worktree, instruction file, and a tmux session with the shim in its
    /// pane, `secret` in its environment.
    fn spawn(
        &self,
        task: &Task,
        attempt: u32,
        profile: &str,
        note: Option<&str>,
        secret: &AttemptSecret,
    ) -> Result<Spawned, EngineError>;
    /// A pool worker takes `task`: its worktree moves to the task's branch
    /// (the previous task's uncommitted work committed on its own branch
    /// first), the instruction is written, and the agent is started in the
    /// worker's session with `secret`, or, typed in, left to the engine.
    fn pool_spawn(
        &self,
        task: &Task,
        attempt: u32,
        profile: &str,
        note: Option<&str>,
        secret: Option<&AttemptSecret>,
        order: &PoolOrder,
    ) -> Result<Spawned, EngineError>;
    fn validate(&self, task: &Task, attempt: u32) -> Vec<CheckResult>;
    /// Merge into the integration branch; with an integration check, only
    /// once it passed on the merged tree.
    fn merge(&self, task: &Task) -> Result<MergeReport, EngineError>;
    fn remove_worktree(&self, task: &Task) -> Result<(), EngineError>;
    /// Rebase the task's branch onto the integration branch, in its worktree.
    fn rebase(&self, task: &Task) -> Result<RebaseOutcome, EngineError>;
    /// Branch tips and merge-trees for the conflict early warning.
    fn scan(&self, req: ScanRequest) -> ScanResult;
    /// Render `.switchboard/EXECUTION_LOG.md` from the journal.
    fn write_execution_log(&self);
    /// The last `lines` lines of `task`'s attempt `attempt`'s pane log.
    fn log_tail(&self, task: &Task, attempt: u32, lines: usize) -> Option<LogTail>;
    /// `task`'s detail from the journal, each attempt with its log's last
    /// `log_lines` lines.
    fn task_detail(&self, task: &Task, log_lines: usize) -> TaskDetail;

    // tmux (over the control connection)
    fn list_panes(&self) -> BoxFuture<'_, Result<Vec<PaneInfo>, EngineError>>;
    fn capture_tail<'a>(
        &'a self,
        pane: &'a str,
        lines: u32,
    ) -> BoxFuture<'a, Result<Vec<String>, EngineError>>;
    /// The pane's visible lines (what screen rules read).
    fn capture_screen<'a>(
        &'a self,
        pane: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, EngineError>>;
    fn send_text<'a>(
        &'a self,
        pane: &'a str,
        text: &'a str,
        enter: bool,
    ) -> BoxFuture<'a, Result<(), EngineError>>;
    fn send_keys<'a>(
        &'a self,
        pane: &'a str,
        keys: &'a [&'a str],
    ) -> BoxFuture<'a, Result<(), EngineError>>;
    fn kill_session<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<(), EngineError>>;
    /// Kill a finished worker's session once the end of its output has
    /// reached its attempt's log (a halt's fallback kills at once instead).
    fn close_session<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<(), EngineError>> {
        self.kill_session(session)
    }

    // processes
    /// Whether `pid` still runs on `host` (None: this machine); a zombie
    /// does not. On a host that cannot be reached: true (not known gone).
    fn process_alive(&self, host: Option<&str>, pid: u32) -> bool;
    /// SIGKILL a process group (the agent's) and a process (its shim) on
    /// `host` (None: this machine).
    fn kill_worker(&self, host: Option<&str>, agent_pgid: Option<u32>, shim_pid: Option<u32>);

    // claims (blocking)
    /// Where this engine's task claims are kept (`.switchboard/claims/`).
    fn claims(&self) -> &dyn ClaimStore;

    // hosts
    /// The plan's hosts as they are now (none without `settings.hosts`).
    fn hosts(&self) -> Vec<HostView> {
        Vec::new()
    }
    /// What happened to the hosts since last asked, for the engine's log.
    fn take_notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// The engine closes: nothing of it stays on other machines but the
    /// live workers on `keep` (hosts' names), left running for a later
    /// engine to re-adopt.
    fn close<'a>(&'a self, keep: &'a [String]) -> BoxFuture<'a, ()> {
        let _ = keep;
        Box::pin(async {})
    }
}

/// Time, as the engine reads it.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Microseconds on a monotonic clock, for latencies.
    fn mono_us(&self) -> u64;
}

pub struct SystemClock {
    base: std::time::Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            base: std::time::Instant::now(),
        }
    }
}

impl SystemClock {
    /// `at` on this clock's monotonic scale.
    pub fn mono_us_of(&self, at: std::time::Instant) -> u64 {
        at.saturating_duration_since(self.base).as_micros() as u64
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn mono_us(&self) -> u64 {
        self.mono_us_of(std::time::Instant::now())
    }
}

/// The real world: the workshop's git and tmux work, the control connection.
pub struct RealOs {
    pub shop: Arc<Workshop>,
    pub control: ControlClient,
    pub claims: Arc<ClaimDir>,
}

impl Os for RealOs {
    fn spawn(
        &self,
        task: &Task,
        attempt: u32,
        profile: &str,
        note: Option<&str>,
        secret: &AttemptSecret,
    ) -> Result<Spawned, EngineError> {
        self.shop.spawn(task, attempt, profile, note, secret)
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
        self.shop
            .pool_spawn(task, attempt, profile, note, secret, order)
    }

    fn validate(&self, task: &Task, attempt: u32) -> Vec<CheckResult> {
        self.shop.validate(task, attempt)
    }

    fn merge(&self, task: &Task) -> Result<MergeReport, EngineError> {
        self.shop.merge(task)
    }

    fn remove_worktree(&self, task: &Task) -> Result<(), EngineError> {
        self.shop.remove_worktree(task)
    }

    fn rebase(&self, task: &Task) -> Result<RebaseOutcome, EngineError> {
        self.shop.rebase(task)
    }

    fn scan(&self, req: ScanRequest) -> ScanResult {
        super::early_warning::scan(&self.shop.repo, req)
    }

    fn write_execution_log(&self) {
        let root = &self.shop.repo.root;
        let journal = root.join(".switchboard").join("journal.jsonl");
        if let Err(e) = super::exec_log::write(root, &self.shop.plan, &journal) {
            tracing::warn!("cannot write EXECUTION_LOG.md: {e}");
        }
    }

    fn log_tail(&self, task: &Task, attempt: u32, lines: usize) -> Option<LogTail> {
        let path = attempt_log::path(&self.shop.repo.root, &task.task_id, attempt);
        attempt_log::read_tail(&path, lines).ok()
    }

    fn task_detail(&self, task: &Task, log_lines: usize) -> TaskDetail {
        task_detail(&self.shop, task, |attempt| {
            self.log_tail(task, attempt, log_lines)
        })
    }

    fn list_panes(&self) -> BoxFuture<'_, Result<Vec<PaneInfo>, EngineError>> {
        Box::pin(async move { Ok(self.control.list_panes().await?) })
    }

    fn capture_tail<'a>(
        &'a self,
        pane: &'a str,
        lines: u32,
    ) -> BoxFuture<'a, Result<Vec<String>, EngineError>> {
        Box::pin(async move { Ok(self.control.capture_tail(pane, lines).await?) })
    }

    fn capture_screen<'a>(
        &'a self,
        pane: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, EngineError>> {
        Box::pin(async move { Ok(self.control.capture_screen(pane).await?) })
    }

    fn send_text<'a>(
        &'a self,
        pane: &'a str,
        text: &'a str,
        enter: bool,
    ) -> BoxFuture<'a, Result<(), EngineError>> {
        Box::pin(async move { Ok(self.control.send_text(pane, text, enter).await?) })
    }

    fn send_keys<'a>(
        &'a self,
        pane: &'a str,
        keys: &'a [&'a str],
    ) -> BoxFuture<'a, Result<(), EngineError>> {
        Box::pin(async move { Ok(self.control.send_keys(pane, keys).await?) })
    }

    fn kill_session<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<(), EngineError>> {
        Box::pin(async move { Ok(self.control.kill_session(session).await?) })
    }

    fn close_session<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<(), EngineError>> {
        Box::pin(async move {
            Ok(self
                .control
                .kill_session_drained(session, KILL_PATIENCE)
                .await?)
        })
    }

    fn process_alive(&self, host: Option<&str>, pid: u32) -> bool {
        // This world has no hosts: a pid is this machine's.
        debug_assert!(host.is_none());
        process_alive(pid)
    }

    fn kill_worker(&self, _host: Option<&str>, agent_pgid: Option<u32>, shim_pid: Option<u32>) {
        kill_worker(agent_pgid, shim_pid);
    }

    fn claims(&self) -> &dyn ClaimStore {
        self.claims.as_ref()
    }
}

/// How long a session's kill waits for its pane to die, so that the end of
/// its output reaches the attempt's log ([`ControlClient::kill_session_drained`]).
const KILL_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

/// A pid a shim's hello reported, as something kill(2) may be aimed at: a
/// process, never 0 or 1, whose negation (a process group) fits. The pids
/// come over a socket; as `pid_t`, 0 would be the engine's own process
/// group and u32::MAX (-1) every process the user may signal.
fn pid_target(pid: u32) -> Option<nix::unistd::Pid> {
    i32::try_from(pid)
        .ok()
        .filter(|&p| p > 1)
        .map(nix::unistd::Pid::from_raw)
}

/// SIGKILL a process group (an agent's) and a process (its shim) here.
pub fn kill_worker(agent_pgid: Option<u32>, shim_pid: Option<u32>) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    if let Some(agent) = agent_pgid.and_then(pid_target) {
        let _ = kill(Pid::from_raw(-agent.as_raw()), Signal::SIGKILL);
    }
    if let Some(shim) = shim_pid.and_then(pid_target) {
        let _ = kill(shim, Signal::SIGKILL);
    }
}

/// Whether `pid` still runs. A zombie does not: the shim's parent (tmux) may
/// not have reaped it yet when its connection closes.
pub fn process_alive(pid: u32) -> bool {
    use nix::sys::signal::kill;
    let Some(target) = pid_target(pid) else {
        return false;
    };
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may hold spaces.
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.trim_start().chars().next());
        return !matches!(state, Some('Z' | 'X'));
    }
    match kill(target, None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// `task`'s detail from the journal, each attempt with the log `tail`
/// gives for it.
pub fn task_detail(
    shop: &Workshop,
    task: &Task,
    tail: impl Fn(u32) -> Option<LogTail>,
) -> TaskDetail {
    let plan = &shop.plan;
    let journal = shop.repo.root.join(".switchboard").join("journal.jsonl");
    let entries = super::journal::read(&journal).unwrap_or_else(|e| {
        tracing::warn!("cannot read the journal for {}: {e}", task.task_id);
        Vec::new()
    });
    let Some(idx) = plan.task_idx(&task.task_id) else {
        return TaskDetail::default();
    };
    detail::build(plan, idx, &entries, |attempt| {
        Some(AttemptLog::new(&task.task_id, attempt, tail(attempt)?))
    })
}

#[cfg(test)]
mod tests {
    use super::pid_target;

    #[test]
    fn only_a_process_is_a_kill_target() {
        assert_eq!(pid_target(4242).map(|p| p.as_raw()), Some(4242));
        // 0: our own process group; 1: init, or with -pgid every process.
        assert_eq!(pid_target(0), None);
        assert_eq!(pid_target(1), None);
        // -1 as pid_t: every process we may signal; 2^31: -pid overflows.
        assert_eq!(pid_target(u32::MAX), None);
        assert_eq!(pid_target(1 << 31), None);
        assert!(!super::process_alive(u32::MAX));
    }
}

//! One vocabulary for asking the engine to act: a key press, a CLI call
//! (`switchboard halt`) and the control socket all send a [`Command`].

use super::detail::TaskDetail;
use super::snapshot::{HaltReport, Snapshot};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Start a task now. Without `force`, refused while its dependencies are not done.
    Spawn { task: String, force: bool },
    /// Select a whole group to run (dependencies gate as usual).
    RunGroup { group: String },
    /// Select every task not done yet: the whole plan, in group order.
    RunAll,
    /// Stop a worker. The task is cancelled (its dependents are skipped),
    /// or with `keep_dependents` goes back to pending, unselected, and its
    /// dependents wait for it.
    Kill {
        task: String,
        #[serde(default)]
        keep_dependents: bool,
    },
    /// Stop a worker and start a fresh attempt in the same worktree.
    Restart { task: String },
    /// Run a failed or conflicted task's checks again on its branch as it
    /// stands (fixed by hand), without its agent; passing, it merges.
    Recheck { task: String },
    /// Rebase a conflicted task's branch onto the integration branch, then
    /// check and merge it; a rebase that conflicts too changes nothing.
    RebaseMerge { task: String },
    /// A person says the task is done (finished some other way); the
    /// reason is journaled. Its dependents may run.
    MarkDone { task: String, reason: String },
    /// The halt cascade: stop dispatching and stop every worker.
    Halt,
    /// Reopen dispatch after a halt; halted tasks start again.
    Resume,
    /// The current snapshot.
    Status,
    /// The last `lines` lines of a worker's pane (the log view's live tail),
    /// or of its last attempt's log once the pane is gone.
    PaneTail { task: String, lines: u32 },
    /// A task's attempts as the journal tells them, each with the last
    /// `log_lines` lines of its log (the detail view).
    TaskDetail { task: String, log_lines: u32 },
    /// Type one line into a running worker's pane and press Enter (the
    /// control room's composer: talk to an agent without attaching).
    Type { task: String, text: String },
    /// Stop the engine; workers keep running in tmux unless `halt`.
    Shutdown { halt: bool },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Ok,
    Status(Box<Snapshot>),
    Halt(HaltReport),
    PaneTail {
        lines: Vec<String>,
        /// Set when the pane is gone and `lines` are the end of its
        /// attempt's log: the log's path, relative to the repository.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log: Option<String>,
    },
    TaskDetail(Box<TaskDetail>),
    Error {
        message: String,
    },
}

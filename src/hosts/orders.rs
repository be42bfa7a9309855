//! What the engine asks of `switchboard host-worker` on a host, and what it
//! answers: one JSON order on its standard input, one JSON reply on its
//! standard output. The plan's data (ids, titles, instructions) travels in
//! the JSON, never in a remote shell's command line.

use crate::engine::preaccept::Preaccepted;
use crate::plan::{AgentProfile, Task};
use crate::worker::launch::Launch;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "order", rename_all = "kebab-case")]
pub enum Order {
    /// Make the host's clone (`workdir`, `~/` its home) if missing; answer
    /// its absolute path, where the engine pushes.
    Init { workdir: String },
    /// A worker: worktree, instruction, hooks, launch file, and its shim in
    /// a new tmux session.
    Spawn(Box<SpawnOrder>),
    /// Commit the worktree's uncommitted work on its branch.
    Save { worktree: String, message: String },
    /// Remove a worktree (its branch stays until the next init's prune).
    Remove { clone: String, worktree: String },
    /// The engine is done with the host: its tmux server (workers and
    /// all) ends, and neither its socket file nor the forwarded engine
    /// socket stays. With `keep_workers` (the person left them running,
    /// for a later engine to re-adopt), only the engine's own control
    /// session ends.
    Close {
        tmux_socket: String,
        engine_socket: String,
        #[serde(default)]
        keep_workers: bool,
        #[serde(default)]
        control_session: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpawnOrder {
    /// The clone's absolute path (from `Init`).
    pub clone: String,
    /// The worktree, relative to the clone.
    pub worktree: String,
    pub branch: String,
    /// Where a new branch starts (the integration branch, just pushed).
    pub base: String,
    pub task: Task,
    pub attempt: u32,
    /// How the previous attempt ended, for the instruction.
    pub note: Option<String>,
    pub agent: AgentProfile,
    pub launch: Launch,
    /// Files switchboard keeps out of git (`.switchboard/`, the instruction,
    /// the agents' hook settings).
    pub excluded: Vec<String>,
    pub session: String,
    /// The host's tmux server for switchboard's workers (`tmux -L`).
    pub tmux_socket: String,
    /// The engine's socket as forwarded to the host (`ssh -R`).
    pub engine_socket: String,
    pub heartbeat_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    Init {
        clone: String,
    },
    Spawned {
        worktree: String,
        pane_id: String,
        pane_pid: Option<u32>,
        preaccepted: Vec<Result<Preaccepted, String>>,
    },
    Saved {
        commit: Option<String>,
    },
    Removed,
    Closed,
    Failed {
        error: String,
    },
}

//! The persistent worker pools (`settings.pool`, `groups[].pool`): which
//! worker holds which task, which are idle, and how the next task reaches a
//! worker (typed into its live agent, or its agent started again in its
//! session). This owner decides no task's state and touches nothing: the
//! core asks it and tells it, the workshop does the git and tmux work.

use super::socket::ConnId;
use super::tasks::TaskIdx;
use super::workshop::Placement;
use crate::plan::PoolSpec;
use crate::worker::protocol::EngineMessage;
use crate::worker::secret::AttemptSecret;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

/// How a task reaches the worker that takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    /// Its interactive agent is alive at its prompt: the task is typed in.
    Typed { pane: String },
    /// Its agent is started again in the worker's session (a new session
    /// if it has none).
    Started,
}

impl How {
    pub fn word(&self) -> &'static str {
        match self {
            How::Typed { .. } => "typed",
            How::Started => "started",
        }
    }
}

/// What the workshop needs to move a worker to its next task.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolOrder {
    /// The pool's name (`pool`, `pool G`), for messages.
    pub pool: String,
    pub worker: u32,
    /// The worker's worktree and session (`branch` is unused).
    pub place: Placement,
    pub how: How,
    /// Its session is to be made anew (its worker died, or it has none).
    pub fresh: bool,
    /// Its session's pane, as its last dispatch learned it (started again
    /// in place; a new session if it is gone).
    pub pane: Option<String>,
}

/// An interactive agent alive between tasks, and its shim's line.
#[derive(Debug)]
pub struct Parked {
    pub conn: ConnId,
    pub tx: UnboundedSender<EngineMessage>,
    pub shim_pid: Option<u32>,
    pub profile: String,
}

/// A task on its way to a live agent: the attempt's secret until the shim
/// is told it, then the line to type once the shim speaks for the task.
#[derive(Debug)]
pub struct Typing {
    pub task: TaskIdx,
    pub attempt: u32,
    pub secret: Option<AttemptSecret>,
    pub line: Option<String>,
}

#[derive(Debug)]
pub struct PoolWorker {
    /// 1-based.
    pub n: u32,
    pub place: Placement,
    /// The task it holds, from its dispatch until the task lets go.
    pub task: Option<TaskIdx>,
    /// Its dispatch's git and tmux work is in flight (for this task's
    /// attempt): nothing else may touch its worktree or session meanwhile.
    pub spawning: Option<(TaskIdx, u32)>,
    /// How its last dispatch went.
    pub how: Option<How>,
    /// The branch its worktree is on (a task that comes back finds it).
    pub branch: Option<String>,
    /// Its session exists (its pane may be dead).
    pub session: bool,
    /// Its session's pane, as its last dispatch learned it.
    pub pane: Option<String>,
    pub agent: Option<Parked>,
    pub typing: Option<Typing>,
    /// The connection of a shim told to speak for a new task (kept open
    /// until the shim closes it).
    pub rebinding: Option<(ConnId, UnboundedSender<EngineMessage>)>,
    /// The last task it held.
    pub last: Option<TaskIdx>,
    /// Times its session was replaced after its worker died.
    pub replaced: u32,
}

impl PoolWorker {
    pub fn idle(&self) -> bool {
        self.task.is_none() && self.spawning.is_none()
    }
}

#[derive(Debug)]
pub struct Pool {
    pub spec: PoolSpec,
    pub workers: Vec<PoolWorker>,
}

/// Where a worker is: (pool, worker), both indices.
pub type WorkerAt = (usize, usize);

/// Every pool of the plan.
#[derive(Debug, Default)]
pub struct Pools {
    pub pools: Vec<Pool>,
    /// Each pool task's own worktree, branch and session: where it is once
    /// its worker has moved on (its branch checked out again there when a
    /// person rechecks it; no session).
    own: std::collections::HashMap<TaskIdx, Placement>,
}

impl Pools {
    /// `places[p][w]`: where worker `w` of pool `p` lives; `own`: each
    /// pool task's own placement.
    pub fn new(
        specs: &[PoolSpec],
        places: Vec<Vec<Placement>>,
        own: std::collections::HashMap<TaskIdx, Placement>,
    ) -> Pools {
        let pools = specs
            .iter()
            .zip(places)
            .map(|(spec, places)| Pool {
                spec: spec.clone(),
                workers: places
                    .into_iter()
                    .enumerate()
                    .map(|(i, place)| PoolWorker {
                        n: i as u32 + 1,
                        place,
                        task: None,
                        spawning: None,
                        how: None,
                        branch: None,
                        session: false,
                        pane: None,
                        agent: None,
                        typing: None,
                        rebinding: None,
                        last: None,
                        replaced: 0,
                    })
                    .collect(),
            })
            .collect();
        Pools { pools, own }
    }

    /// Task `t`'s own placement, if it is a pool task.
    pub fn own_place(&self, t: TaskIdx) -> Option<Placement> {
        self.own.get(&t).cloned()
    }

    pub fn worker(&self, at: WorkerAt) -> &PoolWorker {
        &self.pools[at.0].workers[at.1]
    }

    pub fn worker_mut(&mut self, at: WorkerAt) -> &mut PoolWorker {
        &mut self.pools[at.0].workers[at.1]
    }

    fn all(&self) -> impl Iterator<Item = (WorkerAt, &PoolWorker)> {
        self.pools.iter().enumerate().flat_map(|(p, pool)| {
            pool.workers
                .iter()
                .enumerate()
                .map(move |(w, worker)| ((p, w), worker))
        })
    }

    /// Per pool, how many workers could take a task now.
    pub fn idle_counts(&self) -> Vec<usize> {
        self.pools
            .iter()
            .map(|p| p.workers.iter().filter(|w| w.idle()).count())
            .collect()
    }

    /// The idle worker of pool `p` that takes a task on `branch` running
    /// `profile`: the one whose worktree is on that branch (a restarted task
    /// goes on where it was); else one whose live agent runs `profile`
    /// (typed in: the quickest start); else one with a session (its pane
    /// is reused); else the first idle one.
    pub fn pick(&self, p: usize, branch: &str, profile: &str) -> Option<usize> {
        let workers = &self.pools.get(p)?.workers;
        let idle = || workers.iter().enumerate().filter(|(_, w)| w.idle());
        idle()
            .find(|(_, w)| w.branch.as_deref() == Some(branch))
            .or_else(|| {
                idle().find(|(_, w)| w.agent.as_ref().is_some_and(|a| a.profile == profile))
            })
            .or_else(|| idle().find(|(_, w)| w.session && w.agent.is_none()))
            .or_else(|| idle().next())
            .map(|(i, _)| i)
    }

    /// How a task on `profile` reaches worker `at`: typed in when its live
    /// agent is an interactive one of that profile, else started again.
    pub fn how(&self, at: WorkerAt, profile: &str, interactive: bool) -> How {
        let w = self.worker(at);
        match (&w.agent, &w.pane) {
            (Some(a), Some(pane)) if interactive && a.profile == profile => {
                How::Typed { pane: pane.clone() }
            }
            _ => How::Started,
        }
    }

    /// The worker holding (or spawning for) task `t`.
    pub fn holder(&self, t: TaskIdx) -> Option<WorkerAt> {
        self.all()
            .find(|(_, w)| w.task == Some(t))
            .map(|(at, _)| at)
    }

    /// The worker whose session is `session`.
    pub fn by_session(&self, session: &str) -> Option<WorkerAt> {
        self.all()
            .find(|(_, w)| w.place.session == session)
            .map(|(at, _)| at)
    }

    /// The worker whose parked agent's shim speaks on `conn`.
    pub fn parked_on(&self, conn: ConnId) -> Option<WorkerAt> {
        self.all()
            .find(|(_, w)| w.agent.as_ref().is_some_and(|a| a.conn == conn))
            .map(|(at, _)| at)
    }

    /// The worker whose shim was told to speak for a new task on `conn`.
    pub fn rebinding_on(&self, conn: ConnId) -> Option<WorkerAt> {
        self.all()
            .find(|(_, w)| w.rebinding.as_ref().is_some_and(|r| r.0 == conn))
            .map(|(at, _)| at)
    }

    /// The worker typing task `t` in, once its shim speaks for it.
    pub fn typing_for(&self, t: TaskIdx) -> Option<WorkerAt> {
        self.all()
            .find(|(_, w)| w.typing.as_ref().is_some_and(|ty| ty.task == t))
            .map(|(at, _)| at)
    }

    /// Every worker, for views and the run's end.
    pub fn workers(&self) -> impl Iterator<Item = (WorkerAt, &PoolWorker)> {
        self.all()
    }

    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
    }
}

/// What front ends see of a pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolView {
    /// `pool`, or `pool <GROUP>` for a group's own.
    pub name: String,
    pub profile: String,
    pub workers: Vec<PoolWorkerView>,
    /// Ready tasks waiting for a worker, in the order they will be taken.
    pub queue: Vec<String>,
}

impl PoolView {
    /// `pool (claude): 3 of 4 workers busy; queue: T5 T6 T7`.
    pub fn summary(&self) -> String {
        let busy = self.workers.iter().filter(|w| w.task.is_some()).count();
        let queue = match self.queue.len() {
            0 => "empty".to_string(),
            n if n <= 8 => self.queue.join(" "),
            n => format!("{} and {} more", self.queue[..8].join(" "), n - 8),
        };
        format!(
            "{} ({}): {busy} of {} workers busy; queue: {queue}",
            self.name,
            self.profile,
            self.workers.len()
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolWorkerView {
    pub worker: u32,
    pub session: String,
    pub worktree: String,
    /// The task it holds.
    pub task: Option<String>,
    /// What it is doing, in words: `idle`, `idle, agent at its prompt`,
    /// `T4 running`, `T4 starting (typed)`.
    pub doing: String,
    /// Times its session was replaced after its worker died.
    pub replaced: u32,
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;

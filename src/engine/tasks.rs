//! The task table: the engine's record of every task of the plan and of its
//! live worker, behind a typed index.
//!
//! What a task shows (state, attempts, profile, message) is its
//! [`TaskRecord`], changed only through the journal's fold; the rest is what
//! the engine needs to act (selection, backoff, supervision counts, the
//! worker's connection and pane).

use super::fold::TaskRecord;
use super::prompts::PromptSeen;
use super::schedule::Slot;
use super::screen_watch::ScreenWatch;
use super::snapshot::{Light, TaskState, TaskView};
use super::socket::ConnId;
use super::supervise;
use super::workshop::Placement;
use crate::plan::ValidPlan;
use crate::worker::protocol::{EngineMessage, ExitStatus};
use crate::worker::secret::SecretDigest;
use std::ops::{Index, IndexMut};
use tokio::sync::mpsc::UnboundedSender;

/// A task's place in the plan (`plan.tasks[i]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskIdx(pub usize);

#[derive(Debug)]
pub struct TaskRun {
    pub record: TaskRecord,
    /// Part of what this run should do.
    pub selected: bool,
    /// Started by a person despite unmet dependencies.
    pub forced: bool,
    /// A restart's backoff, or an adoption's grace: not before this time.
    pub not_before_ms: u64,
    /// Restarts used with the current profile.
    pub restarts: u32,
    pub fallbacks_used: u32,
    /// This engine started an attempt of the task (so a shim of an older
    /// attempt is not adopted).
    pub launched: bool,
    pub placement: Placement,
    pub worker: Option<Worker>,
    /// How the previous attempt ended, appended to the next instruction.
    pub previous_note: Option<String>,
    /// The pane of the last worker, kept for reading after it ended.
    pub last_pane: Option<String>,
    /// The pane's last line of output, as the poll last read it: shown
    /// instead of the journal's last words until the task merges.
    pub pane_line: Option<String>,
    /// The question an earlier engine's worker left open (from the journal),
    /// so a re-adopted worker still shows it is waiting.
    pub question: Option<String>,
    /// Merges of this task that failed on something passing (a ref lock,
    /// the branch moved) and were tried again.
    pub merge_retries: u32,
    /// Its checks run again by hand (`recheck`): failing, it stays failed
    /// rather than start another attempt.
    pub rechecking: bool,
    /// A task that names no profile: the one it was given by its needs
    /// (where its fallback chain starts).
    pub base_profile: Option<String>,
}

/// A live attempt: tmux pane + shim connection.
#[derive(Debug)]
pub struct Worker {
    pub attempt: u32,
    pub pane_id: Option<String>,
    /// When the engine learned `pane_id`: a pane list taken before that
    /// cannot say the pane is gone.
    pub pane_since_ms: u64,
    pub conn: Option<ConnId>,
    pub tx: Option<UnboundedSender<EngineMessage>>,
    pub shim_pid: Option<u32>,
    /// The agent's pid, which is also its process group id (the shim's doing).
    pub agent_pid: Option<u32>,
    pub last_beat_ms: u64,
    /// The light from heartbeat silence alone.
    pub heartbeat: Light,
    pub waiting: bool,
    pub stalled: bool,
    /// The pane's last activity (epoch seconds) as of the last poll.
    pub activity_s: Option<i64>,
    /// When its tail was last asked for (the list it came from, ms).
    pub captured_ms: u64,
    pub exit: Option<ExitStatus>,
    pub prompt: PromptSeen,
    /// The attempt fails if it is still at work then (`timeoutMinutes`).
    pub deadline_ms: Option<u64>,
    /// The pane's bottom reads as a question (no rule of the profile's
    /// matched it); once the pane is quiet, the worker is WAITING on it.
    pub screen_question: Option<String>,
    /// This worker is WAITING because of `screen_question`.
    pub asked_on_screen: bool,
    /// An interactive agent's screen, read by its profile's `screen` rules.
    pub screen: ScreenWatch,
    /// What the agent's own hooks last said (`busy` / `wait` / `idle`
    /// reports): the best source of its state, before its screen.
    pub said: Option<AgentSaid>,
    /// The line on its screen that said it is rate limited, as last read.
    pub rate_line: Option<String>,
    /// The checks are running because its turn finished (the agent lives on).
    pub turn_done: bool,
    /// Times it was told its checks failed.
    pub nudges: u32,
    /// What its shim's hello must prove it knows: the digest of the secret
    /// this engine gave it, or the journaled one of an adopted worker.
    pub secret: Option<SecretDigest>,
}

/// An agent's state in its own words (its hooks' reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentSaid {
    Working,
    Waiting(String),
    Idle,
}

impl AgentSaid {
    pub fn describe(&self) -> String {
        match self {
            AgentSaid::Working => "working".into(),
            AgentSaid::Waiting(q) => format!("waiting: \"{q}\""),
            AgentSaid::Idle => "idle at prompt".into(),
        }
    }
}

impl Worker {
    pub fn new(attempt: u32, now_ms: u64) -> Self {
        Worker {
            attempt,
            pane_id: None,
            pane_since_ms: 0,
            conn: None,
            tx: None,
            shim_pid: None,
            agent_pid: None,
            last_beat_ms: now_ms,
            heartbeat: Light::Healthy,
            waiting: false,
            stalled: false,
            activity_s: None,
            captured_ms: 0,
            exit: None,
            prompt: Default::default(),
            deadline_ms: None,
            screen_question: None,
            asked_on_screen: false,
            screen: ScreenWatch::default(),
            said: None,
            rate_line: None,
            turn_done: false,
            nudges: 0,
            secret: None,
        }
    }

    pub fn light(&self) -> Light {
        supervise::shown_light(self.heartbeat, self.waiting, self.stalled)
    }

    /// The question a prompt rule or the screen's look made it WAIT on.
    pub fn question(&self) -> Option<&str> {
        if self.prompt.waiting {
            self.prompt.line()
        } else if self.asked_on_screen {
            self.screen_question.as_deref()
        } else {
            None
        }
    }

    /// Best effort: a gone shim no longer needs telling.
    pub fn send(&self, msg: EngineMessage) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(msg).is_ok())
    }
}

impl TaskRun {
    pub fn state(&self) -> TaskState {
        self.record.state()
    }

    pub fn attempt(&self) -> u32 {
        self.record.attempt()
    }

    pub fn profile(&self) -> &str {
        self.record.profile()
    }

    /// The worker of attempt `attempt`, if it is the current one.
    pub fn worker_of(&mut self, attempt: u32) -> Option<&mut Worker> {
        self.worker.as_mut().filter(|w| w.attempt == attempt)
    }

    pub fn light(&self) -> Light {
        match (&self.worker, self.state()) {
            (_, TaskState::Waiting) => Light::Waiting,
            // Its agent is done; the merge waits on a person's checkout.
            (_, TaskState::MergeHeld) => Light::Idle,
            (Some(w), s) if s.is_active() => w.light(),
            _ => Light::Idle,
        }
    }

    /// What front ends see: the journal's record, with what only the live
    /// engine knows (the light, the pane, where the worker lives).
    pub fn view(&self) -> TaskView {
        let mut view = self.record.view.clone();
        if let Some(line) = &self.pane_line {
            view.last_line = line.clone();
        }
        view.light = self.light();
        view.selected = self.selected;
        let waiting = self.state() == TaskState::Waiting;
        view.agent_state = self.worker.as_ref().and_then(|w| match &w.said {
            Some(said) => Some(said.describe()),
            None => w.screen.describe(w.question().filter(|_| waiting)),
        });
        view.pane_id = self.worker.as_ref().and_then(|w| w.pane_id.clone());
        view.session = Some(self.placement.session.clone());
        view.worktree = Some(self.placement.worktree.display().to_string());
        view.branch = Some(self.placement.branch.clone());
        view.host = self.placement.host.clone();
        view
    }
}

/// Every task of the plan, indexed by [`TaskIdx`].
#[derive(Debug)]
pub struct TaskTable {
    runs: Vec<TaskRun>,
}

impl TaskTable {
    /// The plan's tasks as the journal left them (`records`, by plan index).
    pub fn new(records: Vec<TaskRecord>, placements: impl Iterator<Item = Placement>) -> TaskTable {
        TaskTable {
            runs: records
                .into_iter()
                .zip(placements)
                .map(|(record, placement)| TaskRun {
                    record,
                    selected: false,
                    forced: false,
                    not_before_ms: 0,
                    restarts: 0,
                    fallbacks_used: 0,
                    launched: false,
                    placement,
                    worker: None,
                    previous_note: None,
                    last_pane: None,
                    question: None,
                    merge_retries: 0,
                    rechecking: false,
                    pane_line: None,
                    base_profile: None,
                })
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub fn indices(&self) -> impl Iterator<Item = TaskIdx> + use<> {
        (0..self.runs.len()).map(TaskIdx)
    }

    pub fn iter(&self) -> impl Iterator<Item = (TaskIdx, &TaskRun)> {
        self.runs.iter().enumerate().map(|(i, r)| (TaskIdx(i), r))
    }

    pub fn workers_mut(&mut self) -> impl Iterator<Item = &mut Worker> {
        self.runs.iter_mut().filter_map(|r| r.worker.as_mut())
    }

    /// Tasks in `state`.
    pub fn in_state(&self, state: TaskState) -> Vec<TaskIdx> {
        self.iter()
            .filter(|(_, r)| r.state() == state)
            .map(|(t, _)| t)
            .collect()
    }

    /// What the scheduler sees.
    pub fn slots(&self, plan: &ValidPlan) -> Vec<Slot> {
        self.slot_iter(plan).collect()
    }

    pub fn slot_iter<'a>(&'a self, plan: &'a ValidPlan) -> impl Iterator<Item = Slot> + 'a {
        self.runs.iter().map(|t| Self::slot(plan, t))
    }

    /// Slots of the tasks still waiting to start. Asked at every wakeup, so
    /// the profile lookup (string compares) is paid only for those.
    pub fn waiting_slots<'a>(&'a self, plan: &'a ValidPlan) -> impl Iterator<Item = Slot> + 'a {
        self.runs
            .iter()
            .filter(|t| t.selected && t.state() == TaskState::Pending)
            .map(|t| Self::slot(plan, t))
    }

    fn slot(plan: &ValidPlan, t: &TaskRun) -> Slot {
        Slot {
            state: t.state(),
            selected: t.selected,
            not_before_ms: t.not_before_ms,
            forced: t.forced,
            profile: plan.profile_idx(t.profile()),
        }
    }

    /// The task whose worker holds pane `pane`.
    pub fn by_pane(&self, pane: &str) -> Option<TaskIdx> {
        self.iter()
            .find(|(_, r)| {
                r.worker
                    .as_ref()
                    .is_some_and(|w| w.pane_id.as_deref() == Some(pane))
            })
            .map(|(t, _)| t)
    }

    /// Views in the plan's dependency order.
    pub fn views(&self, plan: &ValidPlan) -> Vec<TaskView> {
        plan.task_order
            .iter()
            .map(|&t| self.runs[t].view())
            .collect()
    }
}

impl Index<TaskIdx> for TaskTable {
    type Output = TaskRun;
    fn index(&self, t: TaskIdx) -> &TaskRun {
        &self.runs[t.0]
    }
}

impl IndexMut<TaskIdx> for TaskTable {
    fn index_mut(&mut self, t: TaskIdx) -> &mut TaskRun {
        &mut self.runs[t.0]
    }
}

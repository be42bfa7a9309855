//! The engine's record of one task and of its live worker.

use super::snapshot::{AttemptOutcome, AttemptSpan, Light, TaskState, TaskView};
use super::socket::ConnId;
use super::supervise;
use super::workshop::Placement;
use crate::plan::Task;
use crate::worker::protocol::{EngineMessage, ExitStatus};
use tokio::sync::mpsc::UnboundedSender;

#[derive(Debug)]
pub struct TaskRun {
    pub state: TaskState,
    /// Part of what this run should do.
    pub selected: bool,
    /// Started by a person despite unmet dependencies.
    pub forced: bool,
    /// A restart's backoff: not before this time (ms since epoch).
    pub not_before_ms: u64,
    pub attempt: u32,
    /// Restarts used with the current profile.
    pub restarts: u32,
    pub fallbacks_used: u32,
    pub profile: String,
    pub attempts: Vec<AttemptSpan>,
    pub message: Option<String>,
    pub last_line: String,
    pub placement: Option<Placement>,
    pub worker: Option<Worker>,
    /// How the previous attempt ended, appended to the next instruction.
    pub previous_note: Option<String>,
    /// The last attempt an earlier engine started (from the journal): a
    /// re-adopted worker keeps its profile and start time.
    pub journaled_start: Option<AttemptStart>,
    /// The pane of the last worker, kept for reading after it ended.
    pub last_pane: Option<String>,
    /// Restarts made by earlier engines (from the journal).
    pub earlier_restarts: u32,
}

/// The last attempt an earlier engine started, as the journal tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptStart {
    pub attempt: u32,
    pub profile: String,
    pub started_ms: u64,
    /// Its open question, so a re-adopted worker still shows it is waiting.
    pub waiting: Option<String>,
}

impl AttemptStart {
    /// From a task as a journal replay ([`super::history`]) left it.
    pub fn of(view: &TaskView) -> Option<AttemptStart> {
        let last = view.attempts.last()?;
        Some(AttemptStart {
            attempt: last.attempt,
            profile: last.profile.clone(),
            started_ms: last.started_ms,
            waiting: (view.state == TaskState::Waiting)
                .then(|| view.message.clone().unwrap_or_else(|| "waiting".into())),
        })
    }
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
    pub exit: Option<ExitStatus>,
    pub prompt: super::prompts::PromptSeen,
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
            exit: None,
            prompt: Default::default(),
        }
    }

    pub fn light(&self) -> Light {
        supervise::shown_light(self.heartbeat, self.waiting, self.stalled)
    }

    /// Best effort: a gone shim no longer needs telling.
    pub fn send(&self, msg: EngineMessage) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(msg).is_ok())
    }
}

impl TaskRun {
    pub fn new(task: &Task) -> Self {
        TaskRun {
            state: TaskState::Pending,
            selected: false,
            forced: false,
            not_before_ms: 0,
            attempt: 0,
            restarts: 0,
            fallbacks_used: 0,
            profile: task.agent.kind.clone(),
            attempts: Vec::new(),
            message: None,
            last_line: String::new(),
            placement: None,
            worker: None,
            previous_note: None,
            journaled_start: None,
            last_pane: None,
            earlier_restarts: 0,
        }
    }

    pub fn light(&self) -> Light {
        match (&self.worker, self.state) {
            (_, TaskState::Waiting) => Light::Waiting,
            (Some(w), s) if s.is_active() => w.light(),
            _ => Light::Idle,
        }
    }

    /// Close the current attempt's span with `outcome`.
    pub fn end_attempt(&mut self, outcome: AttemptOutcome, now_ms: u64) {
        super::snapshot::end_last_attempt(&mut self.attempts, outcome, now_ms);
    }

    pub fn view(&self, task: &Task) -> TaskView {
        TaskView {
            profile: self.profile.clone(),
            state: self.state,
            light: self.light(),
            attempt: self.attempt,
            restarts: self.earlier_restarts + restarts(&self.attempts),
            attempts: self.attempts.clone(),
            last_line: self.last_line.clone(),
            message: self.message.clone(),
            pane_id: self.worker.as_ref().and_then(|w| w.pane_id.clone()),
            session: self.placement.as_ref().map(|p| p.session.clone()),
            worktree: self
                .placement
                .as_ref()
                .map(|p| p.worktree.display().to_string()),
            branch: self.placement.as_ref().map(|p| p.branch.clone()),
            ..TaskView::planned(task)
        }
    }
}

/// Attempts that followed a failed or cancelled one; one that resumes a halted
/// attempt is the same work carried on, not a restart.
pub fn restarts(attempts: &[AttemptSpan]) -> u32 {
    let ended = attempts.len().saturating_sub(1);
    attempts[..ended]
        .iter()
        .filter(|a| a.outcome != Some(AttemptOutcome::Halted))
        .count() as u32
}

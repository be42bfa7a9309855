//! The one fold of journal events into what a task shows: its state,
//! profile, attempts and their outcomes, message and last line.
//!
//! The live engine changes these only by journaling an event and applying
//! it here; the replay of a journal (history, the reopened control room)
//! applies the same events, so both see the same task.

use super::event::{Entry, Event};
use super::snapshot::{
    AttemptOutcome, AttemptSpan, Light, PauseKind, TaskState, TaskView, end_last_attempt,
};
use crate::worker::protocol::{ExitStatus, ReportState};
use crate::worker::secret::SecretDigest;

/// A task as its journal tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    pub view: TaskView,
    /// How the running attempt ended, told by an `exit`, a DEAD light or an
    /// ERROR report before the supervision event that closes its span.
    pending: Option<AttemptOutcome>,
    /// When the last event of this task happened.
    last_ms: u64,
    /// Each spawned attempt's secret digest, as journaled: what a hello
    /// for that attempt must match.
    secrets: Vec<(u32, SecretDigest)>,
}

impl TaskRecord {
    pub fn planned(task: &crate::plan::Task) -> TaskRecord {
        TaskRecord {
            view: TaskView::planned(task),
            pending: None,
            last_ms: 0,
            secrets: Vec::new(),
        }
    }

    pub fn state(&self) -> TaskState {
        self.view.state
    }

    pub fn attempt(&self) -> u32 {
        self.view.attempt
    }

    pub fn profile(&self) -> &str {
        &self.view.profile
    }

    /// The journaled digest of attempt `attempt`'s secret.
    pub fn secret_of(&self, attempt: u32) -> Option<&SecretDigest> {
        self.secrets
            .iter()
            .rev()
            .find(|(a, _)| *a == attempt)
            .map(|(_, d)| d)
    }

    /// Apply one event of this task (the caller matched `e.task`).
    pub fn apply(&mut self, e: &Entry) {
        self.apply_event(e);
        self.last_ms = e.ts_ms;
    }

    fn apply_event(&mut self, e: &Entry) {
        let task = &mut self.view;
        let attempt = e.attempt.unwrap_or(task.attempt);
        match &e.event {
            Event::State {
                state,
                profile,
                reason,
            } => {
                task.profile = profile.clone();
                if let Some(reason) = reason {
                    task.message = Some(reason.clone());
                    task.last_line = reason.clone();
                }
                if *state == TaskState::Assigned {
                    self.open_attempt(attempt, e.ts_ms);
                }
                let task = &mut self.view;
                let ended = match state {
                    TaskState::Done => Some(AttemptOutcome::Done),
                    // The work could not land: a conflict, or a merge its
                    // integration check refused.
                    TaskState::Conflict => Some(AttemptOutcome::Conflict),
                    TaskState::MergeBlocked => Some(AttemptOutcome::MergeBlocked),
                    TaskState::Halted => Some(AttemptOutcome::Halted),
                    TaskState::Cancelled => Some(AttemptOutcome::Cancelled),
                    TaskState::Skipped => Some(AttemptOutcome::Skipped),
                    TaskState::Failed => Some(self.pending.unwrap_or(AttemptOutcome::Failed)),
                    _ => None,
                };
                if let Some(outcome) = ended {
                    end_last_attempt(&mut task.attempts, outcome, e.ts_ms);
                }
                if let Some(span) = task.attempts.last_mut() {
                    if *state == TaskState::Waiting {
                        span.pause(PauseKind::Waiting, e.ts_ms);
                    } else {
                        span.resume(PauseKind::Waiting, e.ts_ms);
                    }
                }
                task.state = *state;
                task.light = match state {
                    TaskState::Waiting => Light::Waiting,
                    s if s.is_active() && task.light != Light::Waiting => task.light,
                    s if s.is_active() => Light::Healthy,
                    _ => Light::Idle,
                };
            }
            Event::Adopted { profile } => {
                task.profile = profile.clone();
                // An attempt the earlier engine closed (it judged it failed
                // while the agent ran on) is running again.
                if let Some(span) = task.attempts.last_mut().filter(|s| s.attempt == attempt) {
                    span.ended_ms = None;
                    span.outcome = None;
                    self.pending = None;
                }
                self.open_attempt(attempt, e.ts_ms);
            }
            Event::Spawned {
                session,
                pane,
                worktree,
                branch,
                secret_sha256,
                host,
                ..
            } => {
                task.host = host.clone();
                if let Some(digest) = secret_sha256 {
                    self.secrets.retain(|(a, _)| *a != attempt);
                    self.secrets.push((attempt, digest.clone()));
                }
                task.session = Some(session.clone());
                task.pane_id = Some(pane.clone());
                task.worktree = Some(worktree.clone());
                task.branch = Some(branch.clone());
            }
            Event::Light { light, .. } | Event::Timeout { light, .. } => {
                if task.state.is_active() && task.state != TaskState::Waiting {
                    task.light = *light;
                }
                if let Some(span) = task.attempts.last_mut() {
                    if *light == Light::Stalled {
                        span.pause(PauseKind::Stalled, e.ts_ms);
                    } else {
                        span.resume(PauseKind::Stalled, e.ts_ms);
                    }
                }
                if *light == Light::Dead {
                    self.pending = Some(AttemptOutcome::Crashed);
                }
            }
            Event::Exit { how, code, signal } => {
                // Judged as the engine judged it, from the status it journaled.
                let status = ExitStatus {
                    code: *code,
                    signal: *signal,
                };
                self.pending = Some(if status.by_signal() {
                    AttemptOutcome::Crashed
                } else {
                    AttemptOutcome::Failed
                });
                task.last_line = format!("agent exited: {how}");
            }
            Event::Report { state, message } => {
                if *state == ReportState::Error {
                    self.pending = Some(AttemptOutcome::Failed);
                }
                task.last_line = match message {
                    Some(m) => m.clone(),
                    None => format!("reported {}", state.as_str()),
                };
            }
            Event::Merged { commit, branch } => {
                task.last_line = super::words::merged_into(branch, commit);
            }
            // The supervision chain closes the failed attempt's span.
            Event::Restart(s) | Event::Failure(s) => {
                let outcome = s.outcome.or(self.pending).unwrap_or(AttemptOutcome::Failed);
                end_last_attempt(&mut task.attempts, outcome, e.ts_ms);
                task.message = Some(s.reason.clone());
            }
            Event::Escalation(s) => {
                let outcome = s.outcome.or(self.pending).unwrap_or(AttemptOutcome::Failed);
                end_last_attempt(&mut task.attempts, outcome, e.ts_ms);
                task.message = Some(s.reason.clone());
                if let Some(next) = &s.next_profile {
                    task.profile = next.clone();
                }
            }
            Event::TurnFinished => task.last_line = "turn finished".into(),
            Event::Usage(u) => {
                task.usage = Some(task.usage.unwrap_or_default().plus(*u));
                // Per attempt too, so spending is known per profile.
                if let Some(span) = task.attempts.last_mut() {
                    span.usage = Some(span.usage.unwrap_or_default().plus(*u));
                }
            }
            Event::Validation { ok: false, .. } => {
                self.pending = Some(AttemptOutcome::Failed);
            }
            _ => {}
        }
    }

    /// A new attempt's span, unless that attempt is the last one already.
    /// One an earlier engine left open (it died, its worker was not
    /// adopted) ends where its last event was, as halted: the work was cut
    /// off, not failed.
    fn open_attempt(&mut self, attempt: u32, at_ms: u64) {
        let task = &mut self.view;
        if task.attempts.last().map(|s| s.attempt) == Some(attempt) {
            return;
        }
        let cut_at = self.last_ms.min(at_ms);
        end_last_attempt(&mut task.attempts, AttemptOutcome::Halted, cut_at);
        task.attempts.push(AttemptSpan {
            attempt,
            profile: task.profile.clone(),
            started_ms: at_ms,
            ended_ms: None,
            outcome: None,
            pauses: Vec::new(),
            usage: None,
        });
        task.attempt = attempt;
        task.restarts = restarts(&task.attempts);
        task.light = Light::Healthy;
        self.pending = None;
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

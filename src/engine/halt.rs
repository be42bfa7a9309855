//! The halt cascade: stop dispatching, tell every shim at once, fall back to
//! tmux for shims that do not answer, and prove it with a [`HaltReport`].

use super::actor::{Actor, Input, now_ms};
use super::command::Reply;
use super::journal::Entry;
use super::snapshot::{AttemptOutcome, HaltReport, HaltWorker, RunPhase, TaskState};
use crate::worker::protocol::{EngineMessage, StopSignal};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A shim that has not acknowledged by then gets `C-c` and a kill through tmux.
const ACK_DEADLINE: Duration = Duration::from_millis(200);

pub(super) struct HaltRun {
    pub id: u64,
    started: Instant,
    workers: Vec<HaltEntry>,
    waiters: Vec<oneshot::Sender<Reply>>,
}

struct HaltEntry {
    task: usize,
    ack: Option<Duration>,
    stop: Option<Duration>,
    signal: String,
    /// The halt message reached the shim's connection.
    reachable: bool,
    fallback_started: bool,
}

impl HaltEntry {
    fn finished(&self) -> bool {
        self.stop.is_some()
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

impl Actor {
    pub(super) fn begin_halt(&mut self, reply: Option<oneshot::Sender<Reply>>) {
        if let Some(h) = self.halt.as_mut() {
            // Already halting: answer with this halt's report when it ends.
            h.waiters.extend(reply);
            return;
        }
        let id = self.next_halt_id;
        self.next_halt_id += 1;
        self.phase = RunPhase::Halting;
        let grace_ms = self.plan().plan.settings.halt.grace_ms;
        // Before the first send: a fast shim's ack is stamped by the socket
        // reader while this loop is still telling the others.
        let started = Instant::now();
        let mut workers = Vec::new();
        for t in 0..self.tasks.len() {
            let active = self.tasks[t].state.is_active();
            let Some(w) = self.tasks[t].worker.as_ref() else {
                continue;
            };
            if !active || w.exit.is_some() {
                continue;
            }
            let sent = w.send(EngineMessage::Halt {
                halt_id: id,
                grace_ms,
            });
            workers.push(HaltEntry {
                task: t,
                ack: None,
                stop: None,
                signal: String::new(),
                reachable: sent,
                fallback_started: false,
            });
        }
        self.halt = Some(HaltRun {
            id,
            started,
            workers,
            waiters: reply.into_iter().collect(),
        });
        self.dirty = true;
        self.check_halt_deadlines();
        self.maybe_complete_halt();
    }

    pub(super) fn on_halt_ack(&mut self, halt_id: u64, t: usize, at: Instant) {
        if let Some(h) = self.halt.as_mut()
            && h.id == halt_id
            && let Some(e) = h.workers.iter_mut().find(|e| e.task == t)
        {
            e.ack.get_or_insert(at.saturating_duration_since(h.started));
        }
    }

    pub(super) fn on_halted(
        &mut self,
        halt_id: u64,
        t: usize,
        _stop_ms: u64,
        signal: StopSignal,
        at: Instant,
    ) {
        if let Some(h) = self.halt.as_mut()
            && h.id == halt_id
            && let Some(e) = h.workers.iter_mut().find(|e| e.task == t)
        {
            let now = at.saturating_duration_since(h.started);
            e.ack.get_or_insert(now);
            e.stop.get_or_insert(now);
            e.signal = format!("{signal:?}").to_uppercase();
        }
        self.maybe_complete_halt();
    }

    pub(super) fn on_fallback_done(&mut self, halt_id: u64, t: usize) {
        if let Some(h) = self.halt.as_mut()
            && h.id == halt_id
            && let Some(e) = h.workers.iter_mut().find(|e| e.task == t)
            && e.stop.is_none()
        {
            e.stop = Some(h.started.elapsed());
            e.signal = "tmux".into();
        }
        self.maybe_complete_halt();
    }

    /// Shims silent past the ack deadline, or not stopped well past their
    /// signals' grace, are stopped through tmux: `C-c`, then kill-session.
    pub(super) fn check_halt_deadlines(&mut self) {
        let grace = Duration::from_millis(self.plan().plan.settings.halt.grace_ms);
        let Some(h) = self.halt.as_mut() else { return };
        let elapsed = h.started.elapsed();
        let id = h.id;
        let mut fallbacks = Vec::new();
        for e in h.workers.iter_mut() {
            if e.finished() || e.fallback_started {
                continue;
            }
            let no_ack = e.ack.is_none() && (elapsed >= ACK_DEADLINE || !e.reachable);
            let overdue = elapsed >= grace * 3 + Duration::from_secs(2);
            if no_ack || overdue {
                e.fallback_started = true;
                fallbacks.push(e.task);
            }
        }
        for t in fallbacks {
            let pane = self.tasks[t]
                .worker
                .as_ref()
                .and_then(|w| w.pane_id.clone());
            let session = self.tasks[t].placement.as_ref().map(|p| p.session.clone());
            let control = self.control.clone();
            let shop = self.shop.clone();
            let inbox = self.inbox.clone();
            tokio::spawn(async move {
                if let Some(pane) = &pane {
                    let _ = control.send_keys(pane, &["C-c"]).await;
                }
                if let Some(session) = session {
                    let _ = tokio::task::spawn_blocking(move || shop.kill_session(&session)).await;
                }
                let _ = inbox.send(Input::FallbackDone {
                    halt_id: id,
                    task: t,
                });
            });
        }
    }

    fn maybe_complete_halt(&mut self) {
        let Some(h) = self.halt.as_ref() else { return };
        if !h.workers.iter().all(HaltEntry::finished) {
            return;
        }
        let Some(h) = self.halt.take() else { return };
        let now = now_ms();
        let report = HaltReport {
            halt_id: h.id,
            total_workers: h.workers.len(),
            acks_received: h.workers.iter().filter(|e| e.ack.is_some()).count(),
            acks_failed: h.workers.iter().filter(|e| e.ack.is_none()).count(),
            stopped: h.workers.iter().filter(|e| e.stop.is_some()).count(),
            all_acked: h.workers.iter().all(|e| e.ack.is_some()),
            total_latency_ms: h
                .workers
                .iter()
                .map(|e| ms(e.ack.or(e.stop).unwrap_or_default()))
                .fold(0.0, f64::max),
            workers: h
                .workers
                .iter()
                .map(|e| HaltWorker {
                    task: self.task_id(e.task).to_string(),
                    acked: e.ack.is_some(),
                    ack_ms: e.ack.map(ms),
                    stop_ms: e.stop.map(ms),
                    signal: e.signal.clone(),
                })
                .collect(),
        };
        for e in &h.workers {
            let t = e.task;
            self.tasks[t].end_attempt(AttemptOutcome::Halted, now);
            self.stop_worker_quietly(t);
            self.set_state(t, TaskState::Halted, Some(format!("halt #{}", h.id)));
        }
        // Tasks still spawning are halted too; nothing else is dispatched.
        for t in 0..self.tasks.len() {
            if self.tasks[t].state == TaskState::Assigned {
                // Their spawn result will find no worker and kill the session.
                self.detach_worker(t);
                self.tasks[t].end_attempt(AttemptOutcome::Halted, now);
                self.set_state(t, TaskState::Halted, Some(format!("halt #{}", h.id)));
            }
        }
        self.phase = RunPhase::Halted;
        let mut entry = Entry::new("halt", now);
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&report) {
            entry.details = map;
        }
        self.record(entry);
        self.last_halt = Some(report.clone());
        for w in h.waiters {
            let _ = w.send(Reply::Halt(report.clone()));
        }
    }

    /// The halt stopped the agent; keep the pane (and the session) for reading.
    fn stop_worker_quietly(&mut self, t: usize) {
        self.detach_worker(t);
    }

    pub(super) fn resume(&mut self) -> Reply {
        if self.halt.is_some() {
            return Reply::Error {
                message: "a halt is still in progress".into(),
            };
        }
        if self.phase != RunPhase::Halted {
            return Reply::Error {
                message: format!("nothing to resume: the run is {:?}", self.phase).to_lowercase(),
            };
        }
        for t in 0..self.tasks.len() {
            if self.tasks[t].state == TaskState::Halted {
                self.tasks[t].not_before_ms = 0;
                self.set_state(t, TaskState::Pending, Some("resumed".into()));
            }
        }
        self.phase = RunPhase::Running;
        self.record(Entry::new("resume", now_ms()));
        Reply::Ok
    }
}

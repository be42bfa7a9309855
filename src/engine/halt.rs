//! The halt cascade's accounting: which workers were told, which acknowledged
//! and stopped, when each is due for the tmux fallback, and the
//! [`HaltReport`] that proves it. Times are microseconds on the engine's
//! monotonic clock; the halt's start is stamped before the first send, so a
//! fast shim's ack (stamped by the socket reader) is never before it.

use super::command::Reply;
use super::snapshot::{HaltReport, HaltWorker};
use super::tasks::TaskIdx;
use crate::worker::protocol::StopSignal;
use tokio::sync::oneshot;

/// A shim that has not acknowledged by then gets `C-c` and a kill through tmux.
pub const ACK_DEADLINE_US: u64 = 200_000;

pub struct HaltRun {
    id: u64,
    started_us: u64,
    grace_us: u64,
    workers: Vec<HaltEntry>,
    waiters: Vec<oneshot::Sender<Reply>>,
}

struct HaltEntry {
    task: TaskIdx,
    ack_us: Option<u64>,
    stop_us: Option<u64>,
    signal: String,
    /// The halt message reached the shim's connection.
    reachable: bool,
    fallback_started: bool,
}

impl HaltRun {
    /// `targets`: each worker told, and whether its connection took the message.
    pub fn new(id: u64, started_us: u64, grace_ms: u64, targets: Vec<(TaskIdx, bool)>) -> Self {
        HaltRun {
            id,
            started_us,
            grace_us: grace_ms * 1000,
            workers: targets
                .into_iter()
                .map(|(task, reachable)| HaltEntry {
                    task,
                    ack_us: None,
                    stop_us: None,
                    signal: String::new(),
                    reachable,
                    fallback_started: false,
                })
                .collect(),
            waiters: Vec::new(),
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Answer `reply` with this halt's report when it ends.
    pub fn wait(&mut self, reply: Option<oneshot::Sender<Reply>>) {
        self.waiters.extend(reply);
    }

    fn entry(&mut self, halt_id: u64, t: TaskIdx) -> Option<&mut HaltEntry> {
        if halt_id != self.id {
            return None;
        }
        self.workers.iter_mut().find(|e| e.task == t)
    }

    pub fn on_ack(&mut self, halt_id: u64, t: TaskIdx, at_us: u64) {
        let started = self.started_us;
        if let Some(e) = self.entry(halt_id, t) {
            e.ack_us.get_or_insert(at_us.saturating_sub(started));
        }
    }

    pub fn on_halted(&mut self, halt_id: u64, t: TaskIdx, at_us: u64, signal: StopSignal) {
        let started = self.started_us;
        if let Some(e) = self.entry(halt_id, t) {
            let since = at_us.saturating_sub(started);
            e.ack_us.get_or_insert(since);
            e.stop_us.get_or_insert(since);
            e.signal = format!("{signal:?}").to_uppercase();
        }
    }

    /// The tmux fallback stopped `t`.
    pub fn on_fallback_done(&mut self, halt_id: u64, t: TaskIdx, now_us: u64) {
        let started = self.started_us;
        if let Some(e) = self.entry(halt_id, t)
            && e.stop_us.is_none()
        {
            e.stop_us = Some(now_us.saturating_sub(started));
            e.signal = "tmux".into();
        }
    }

    /// Workers due for the tmux fallback now: silent past the ack deadline
    /// (or unreachable from the start), or not stopped well past their
    /// signals' grace. Each is returned once.
    pub fn due_fallbacks(&mut self, now_us: u64) -> Vec<TaskIdx> {
        let elapsed = now_us.saturating_sub(self.started_us);
        let overdue = self.overdue_us();
        self.workers
            .iter_mut()
            .filter(|e| e.stop_us.is_none() && !e.fallback_started)
            .filter(|e| {
                (e.ack_us.is_none() && (elapsed >= ACK_DEADLINE_US || !e.reachable))
                    || elapsed >= overdue
            })
            .map(|e| {
                e.fallback_started = true;
                e.task
            })
            .collect()
    }

    fn overdue_us(&self) -> u64 {
        self.grace_us * 3 + 2_000_000
    }

    /// When [`Self::due_fallbacks`] next has something to say.
    pub fn next_deadline_us(&self) -> Option<u64> {
        self.workers
            .iter()
            .filter(|e| e.stop_us.is_none() && !e.fallback_started)
            .map(|e| {
                let after = if e.ack_us.is_none() {
                    ACK_DEADLINE_US
                } else {
                    self.overdue_us()
                };
                self.started_us + after
            })
            .min()
    }

    /// Every worker stopped (by its shim or through tmux).
    pub fn is_complete(&self) -> bool {
        self.workers.iter().all(|e| e.stop_us.is_some())
    }

    pub fn tasks(&self) -> impl Iterator<Item = TaskIdx> + '_ {
        self.workers.iter().map(|e| e.task)
    }

    /// The report, and who waits for it.
    pub fn finish(
        self,
        task_of: impl Fn(TaskIdx) -> (String, Option<String>),
    ) -> (HaltReport, Vec<oneshot::Sender<Reply>>) {
        let ms = |us: u64| (us as f64 / 10.0).round() / 100.0;
        let w = &self.workers;
        let report = HaltReport {
            halt_id: self.id,
            total_workers: w.len(),
            acks_received: w.iter().filter(|e| e.ack_us.is_some()).count(),
            acks_failed: w.iter().filter(|e| e.ack_us.is_none()).count(),
            stopped: w.iter().filter(|e| e.stop_us.is_some()).count(),
            all_acked: w.iter().all(|e| e.ack_us.is_some()),
            total_latency_ms: w
                .iter()
                .map(|e| ms(e.ack_us.or(e.stop_us).unwrap_or_default()))
                .fold(0.0, f64::max),
            workers: w
                .iter()
                .map(|e| {
                    let (task, host) = task_of(e.task);
                    HaltWorker {
                        task,
                        host,
                        acked: e.ack_us.is_some(),
                        ack_ms: e.ack_us.map(ms),
                        stop_ms: e.stop_us.map(ms),
                        signal: e.signal.clone(),
                    }
                })
                .collect(),
        };
        (report, self.waiters)
    }
}

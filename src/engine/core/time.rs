//! Time in the core: when it next wants to wake, what a wakeup does, a
//! pause noticed from a late wakeup, and the end of a run.

use super::{Core, DRAIN_MS, PAUSE_GAP_MS};
use crate::engine::effect::Effect;
use crate::engine::event::{Entry, Event};
use crate::engine::schedule;
use crate::engine::snapshot::{RunPhase, TaskState};

impl Core {
    /// When the core next has something to do by itself.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        let now = self.now();
        let hb = &self.plan.plan.settings.heartbeat;
        let beats = self
            .tasks
            .iter()
            .filter(|(_, t)| matches!(t.state(), TaskState::Running | TaskState::Waiting))
            .filter_map(|(_, t)| t.worker.as_ref())
            .filter(|w| w.exit.is_none())
            .filter_map(|w| {
                crate::engine::supervise::next_threshold_ms(hb, w.last_beat_ms, w.heartbeat)
            });
        let backoff = schedule::next_wakeup(self.tasks.waiting_slots(&self.plan), now)
            .into_iter()
            .chain(self.limits_wakeup())
            .filter(|_| self.phase == RunPhase::Running)
            .min();
        let halt = self
            .halt
            .as_ref()
            .and_then(|h| h.next_deadline_us())
            .map(|us| {
                let left = us.saturating_sub(self.clock.mono_us());
                now + left.div_ceil(1000)
            });
        let poll = (self.wants_poll() && !self.polling).then_some(self.next_poll_ms);
        let scan = self.scan_due_ms();
        let checks = self.shim_checks.iter().map(|c| c.0).min();
        let deadlines = self
            .tasks
            .iter()
            .filter(|(_, t)| {
                matches!(
                    t.state(),
                    TaskState::Assigned | TaskState::Running | TaskState::Waiting
                )
            })
            .filter_map(|(_, t)| t.worker.as_ref())
            .filter(|w| w.exit.is_none())
            .filter_map(|w| w.deadline_ms)
            .min();
        beats
            .chain(backoff)
            .chain(halt)
            .chain(poll)
            .chain(scan)
            .chain(checks)
            .chain(deadlines)
            .chain(self.drain_until_ms.filter(|_| self.halt.is_none()))
            .chain(self.merge_retry_ms)
            .chain(self.claims_wakeup())
            .min()
    }

    /// Time has come for what was due at `due_ms`.
    pub(super) fn on_tick(&mut self, due_ms: u64) {
        self.notice_pause(due_ms);
        self.check_heartbeats();
        self.check_timeouts();
        self.check_halt_deadlines();
        self.run_shim_checks();
        self.start_poll();
        self.start_scan();
        if self.merge_retry_ms.is_some_and(|at| at <= self.now()) {
            self.retry_held_merges();
        }
        self.claims_tick();
    }

    /// A wakeup far later than asked for means this process was stopped
    /// (Ctrl-Z on the control room) or starved. The workers ran on meanwhile;
    /// their beats waited in the socket. Judging them by the gap would call
    /// them all DEAD, so their silence is counted from now.
    fn notice_pause(&mut self, due_ms: u64) {
        let now = self.now();
        let gap = now.saturating_sub(due_ms);
        if gap < PAUSE_GAP_MS {
            return;
        }
        let mut live = 0;
        for w in self.tasks.workers_mut() {
            w.last_beat_ms = w.last_beat_ms.max(now);
            live += 1;
        }
        self.warn(
            None,
            format!(
                "the engine was paused for {:.1} s (suspended?); heartbeat clocks of {live} workers restarted",
                gap as f64 / 1000.0
            ),
        );
    }

    /// Asked to stop: `Some(interrupted)` once the driver may close.
    /// Stopped shims get two seconds to report their agents' exits.
    pub fn ready_to_close(&mut self) -> Option<bool> {
        // A headless run that was halted ends (exit 130), its worktrees
        // kept for the next run, unless told to wait for `resume`.
        if self.exit_when_done
            && !self.wait_on_halt
            && self.phase == RunPhase::Halted
            && self.shutdown.is_none()
        {
            self.shutdown = Some(true);
        }
        if let Some(halted) = self.shutdown
            && self.halt.is_none()
        {
            let now = self.now();
            let until = *self.drain_until_ms.get_or_insert(now + DRAIN_MS);
            if self.links.drained() || now >= until {
                self.finish_shutdown(halted);
                return Some(halted);
            }
            return None;
        }
        (self.exit_when_done && self.phase == RunPhase::Finished).then_some(false)
    }

    fn finish_shutdown(&mut self, halted: bool) {
        // A pool's workers do not outlive their engine, halted or not.
        self.pool_close(true);
        if !halted {
            return;
        }
        // Interrupted: no worker survives the run; worktrees stay.
        for t in self.tasks.indices() {
            let run = &mut self.tasks[t];
            if run.worker.is_some() || run.state() == TaskState::Halted {
                if let Some(w) = run.worker.take() {
                    self.ended_shims.extend(w.shim_pid);
                }
                let session = run.placement.session.clone();
                self.effect(Effect::KillSession { session });
            }
        }
        let signal = "halt".to_string();
        self.record(Entry::new(Event::Interrupted { signal }, self.now()));
    }
}

impl Core {
    /// While the engine closes, only the last words of shims it let go of
    /// are heard: their agents' exits, each answered with its `bye`.
    pub fn closing(&mut self, ev: crate::engine::socket::SocketEvent) {
        use crate::worker::protocol::ShimMessage;
        if let crate::engine::socket::SocketEvent::Shim {
            conn,
            msg: ShimMessage::Exit { .. },
            ..
        } = ev
        {
            self.links.exit_of_dismissed(conn);
        }
    }

    /// Shims of workers let go of in this run: the driver sees them gone
    /// before the engine exits.
    pub fn ended_shims(&self) -> &[u32] {
        &self.ended_shims
    }

    /// The hosts where workers are left running as the engine closes (for
    /// the next engine to re-adopt).
    pub fn hosts_left_running(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .tasks
            .indices()
            .filter(|&t| self.tasks[t].worker.is_some())
            .filter_map(|t| self.tasks[t].placement.host.clone())
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

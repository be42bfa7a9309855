//! What shims say: hello (and adoption of an earlier engine's worker),
//! heartbeats, reports, exits, halt acknowledgements, and hanging up.

use super::Core;
use crate::engine::effect::Effect;
use crate::engine::event::{Entry, Event};
use crate::engine::snapshot::{AttemptOutcome, Light, RunPhase, TaskState};
use crate::engine::socket::{ConnId, SocketEvent};
use crate::engine::tasks::{AgentSaid, TaskIdx, Worker};
use crate::worker::protocol::{EngineMessage, ReportState, ShimMessage};
use crate::worker::secret::AttemptSecret;

/// Looks at a disconnected shim's process again after 5, 10, 20, 40, then
/// every 50 ms, about half a second in all: its socket closes a moment
/// before the process is gone.
const SHIM_CHECK_MS: u64 = 50;
const SHIM_CHECKS: u32 = 12;

impl Core {
    pub(super) fn on_socket(&mut self, ev: SocketEvent) {
        match ev {
            SocketEvent::ShimHello { conn, hello, tx } => self.on_hello(conn, hello, tx),
            SocketEvent::Shim { conn, msg, at_us } => match self.links.task_of(conn) {
                Some(t) => self.on_shim(t, msg, at_us),
                None if self.pool_heard(conn, &msg) => {}
                None if matches!(msg, ShimMessage::Exit { .. }) => {
                    self.links.exit_of_dismissed(conn)
                }
                None => {}
            },
            SocketEvent::ShimClosed { conn } => {
                let Some(t) = self.links.closed(conn) else {
                    self.pool_hung_up(conn);
                    return;
                };
                let Some(w) = self.tasks[t].worker.as_mut() else {
                    return;
                };
                if w.conn != Some(conn) {
                    return;
                }
                w.conn = None;
                w.tx = None;
                // A shim that is gone (kill -9, crash) is DEAD at once; one that
                // lives will reconnect, and the heartbeat timeouts cover the rest.
                let attempt = w.attempt;
                self.check_shim(t, attempt, 0);
            }
        }
    }

    fn on_hello(
        &mut self,
        conn: ConnId,
        hello: ShimMessage,
        tx: tokio::sync::mpsc::UnboundedSender<EngineMessage>,
    ) {
        let ShimMessage::Hello {
            task,
            attempt,
            shim_pid,
            agent_pid,
            pane_id,
            secret,
        } = hello
        else {
            return;
        };
        let Some(t) = self.plan.task_idx(&task).map(TaskIdx) else {
            tracing::warn!("a shim for unknown task {task} connected");
            return;
        };
        // Anyone who can reach the socket can say hello: only the shim this
        // engine (or the earlier one, per the journal) gave the attempt's
        // secret is heard. A refused connection is told nothing.
        if !self.secret_holds(t, attempt, &secret) {
            tracing::warn!(
                "refused a hello for {task} attempt {attempt} (pid {shim_pid}): \
                 not that attempt's secret"
            );
            return;
        }
        let run = &self.tasks[t];
        // Only a worker of an earlier engine is adopted: one this engine
        // started and let go (restarted, killed) is told goodbye.
        // A pool's workers do not outlive their engine: none to adopt.
        let adoptable = run.worker.is_none()
            && !run.launched
            && self.plan.pool_of[t.0].is_none()
            && attempt >= run.attempt()
            && matches!(
                run.state(),
                TaskState::Pending | TaskState::Halted | TaskState::Failed
            );
        if adoptable {
            self.adopt(t, attempt);
        }
        let now = self.now();
        let halt = self
            .halt
            .as_ref()
            .map(|h| (h.id(), self.plan.plan.settings.halt.grace_ms));
        // A shim says tmux's own pane id; on a host the engine's name for
        // it carries the host's (`big1:%3`, not this machine's `%3`).
        let pane_id = match &self.tasks[t].placement.host {
            Some(host) => pane_id.map(|p| format!("{host}:{p}")),
            None => pane_id,
        };
        match self.tasks[t].worker_of(attempt) {
            Some(w) => {
                w.conn = Some(conn);
                w.tx = Some(tx.clone());
                w.shim_pid = Some(shim_pid);
                w.agent_pid = agent_pid;
                w.last_beat_ms = now;
                w.heartbeat = Light::Healthy;
                if pane_id.is_some() && w.pane_id != pane_id {
                    w.pane_id = pane_id;
                    w.pane_since_ms = now;
                }
                self.links.bind(conn, t);
                // A halt in progress reaches late-connecting shims too.
                if let Some((halt_id, grace_ms)) = halt {
                    let _ = tx.send(EngineMessage::Halt { halt_id, grace_ms });
                }
                self.pool_bound(t, attempt);
            }
            // A stale attempt: done with it. If its agent still runs, the
            // bye is ignored; a second one follows its exit.
            None => self.links.dismiss(conn, tx),
        }
        self.dirty = true;
    }

    /// Whether `secret` is attempt `attempt`'s: the one its live worker was
    /// given, else the one its `spawned` line journaled. An attempt with
    /// neither (never spawned, or spawned by an engine that journaled no
    /// secret) has no shim that could prove itself.
    fn secret_holds(&self, t: TaskIdx, attempt: u32, secret: &AttemptSecret) -> bool {
        let run = &self.tasks[t];
        let digest = match run.worker.as_ref().filter(|w| w.attempt == attempt) {
            Some(w) => w.secret.as_ref(),
            None => run.record.secret_of(attempt),
        };
        digest.is_some_and(|d| d.matches(secret))
    }

    /// A live worker of an engine that died: take it on as it was, with its
    /// attempt's start, profile and open question from the journal.
    fn adopt(&mut self, t: TaskIdx, attempt: u32) {
        let now = self.now();
        let given = self.tasks[t]
            .record
            .view
            .attempts
            .first()
            .map(|a| a.profile.clone());
        let chain = super::fallback_chain(&self.plan, &self.plan.plan.tasks[t.0], given.as_deref());
        let journaled_profile = self.tasks[t]
            .record
            .view
            .attempts
            .last()
            .map(|s| s.profile.clone());
        let self_timeout = self.timeout_ms(t, journaled_profile.as_deref().unwrap_or(""));
        let run = &mut self.tasks[t];
        run.selected = true;
        run.launched = true;
        // The journal's last attempt, if it is this one, tells its profile.
        let last = run.record.view.attempts.last();
        let profile = match last {
            Some(span) if span.attempt == attempt => span.profile.clone(),
            _ => run.profile().to_string(),
        };
        // Where the journal last placed it: a host's worker stays that
        // host's (its pids, kills and fetch go there).
        if let Some(host) = run.record.view.host.clone() {
            run.placement.host = Some(host);
            if let Some(worktree) = &run.record.view.worktree {
                run.placement.worktree = worktree.into();
            }
        }
        let question = run.question.take();
        // On a fallback already: escalation goes on from there.
        run.fallbacks_used = chain.iter().position(|f| *f == profile).unwrap_or(0) as u32;
        let mut worker = Worker::new(attempt, now);
        worker.waiting = question.is_some();
        // The earlier engine typed its `typePrompt` (the agent is past its
        // first idle prompt): never twice.
        worker.screen.prompt_typed = true;
        // Its clock runs from when the earlier engine started it.
        let started = last
            .filter(|s| s.attempt == attempt)
            .map_or(now, |s| s.started_ms);
        worker.deadline_ms = self_timeout.map(|ms| started + ms);
        worker.secret = run.record.secret_of(attempt).cloned();
        run.worker = Some(worker);
        let id = self.task_id(t).to_string();
        self.record(Entry::new(Event::Adopted { profile }, now).task(&id, attempt));
        if matches!(self.phase, RunPhase::Idle | RunPhase::Finished) {
            self.phase = RunPhase::Running;
        }
        self.set_state(
            t,
            TaskState::Running,
            Some("re-adopted a live worker".into()),
        );
        if let Some(question) = question {
            self.set_state(t, TaskState::Waiting, Some(question));
        }
    }

    /// DEAD at once when a disconnected shim's process is gone; otherwise
    /// look again a few times.
    fn check_shim(&mut self, t: TaskIdx, attempt: u32, tries: u32) {
        let Some(w) = self.tasks[t].worker.as_ref() else {
            return;
        };
        if w.attempt != attempt
            || w.conn.is_some()
            || w.exit.is_some()
            || !self.tasks[t].state().is_active()
        {
            return;
        }
        if let Some(pid) = w.shim_pid {
            let host = self.tasks[t].placement.host.clone();
            self.effect(Effect::CheckShim {
                task: t,
                attempt,
                host,
                pid,
                tries,
            });
        }
    }

    pub(super) fn on_shim_checked(&mut self, t: TaskIdx, attempt: u32, alive: bool, tries: u32) {
        let still_gone = self.tasks[t]
            .worker_of(attempt)
            .is_some_and(|w| w.conn.is_none() && w.exit.is_none())
            && self.tasks[t].state().is_active();
        if !still_gone {
            return;
        }
        if !alive {
            let reason = "the shim is gone (connection closed, process dead)".into();
            self.worker_dead(t, reason);
        } else if tries < SHIM_CHECKS {
            let due = self.now() + (5 << tries.min(4)).min(SHIM_CHECK_MS);
            self.shim_checks.push((due, t, attempt, tries + 1));
        }
    }

    /// Disconnected shims due for another look.
    pub(super) fn run_shim_checks(&mut self) {
        let now = self.now();
        let (due, later) = std::mem::take(&mut self.shim_checks)
            .into_iter()
            .partition(|c| c.0 <= now);
        self.shim_checks = later;
        for (_, t, attempt, tries) in due {
            self.check_shim(t, attempt, tries);
        }
    }

    fn on_shim(&mut self, t: TaskIdx, msg: ShimMessage, at_us: u64) {
        let now = self.now();
        if let Some(w) = self.tasks[t].worker.as_mut() {
            w.last_beat_ms = now;
            if w.heartbeat != Light::Healthy {
                w.heartbeat = Light::Healthy;
                let event = Event::Light {
                    light: Light::Healthy,
                    reason: None,
                };
                self.record_task(t, event);
            }
        }
        match msg {
            ShimMessage::Hello { .. } | ShimMessage::Heartbeat { .. } => {}
            ShimMessage::Report {
                state,
                message,
                usage,
            } => {
                if let Some(usage) = usage.filter(|u| !u.is_empty()) {
                    self.record_task(t, Event::Usage(usage));
                    self.check_budgets();
                }
                // An agent's hook (or the agent) saying it is rate limited.
                if matches!(
                    state,
                    ReportState::Error | ReportState::Wait | ReportState::Help
                ) && let Some(line) = message
                    .as_deref()
                    .and_then(|m| crate::plan::screen::rate_limit_line(None, &[m.to_string()]))
                {
                    self.rate_limited(t, line);
                }
                if state != ReportState::Usage {
                    self.on_report(t, state, message);
                }
            }
            ShimMessage::Exit { status } => self.on_exit(t, status),
            ShimMessage::HaltAck { halt_id } => {
                if let Some(h) = self.halt.as_mut() {
                    h.on_ack(halt_id, t, at_us);
                }
            }
            ShimMessage::Halted {
                halt_id, signal, ..
            } => {
                if let Some(h) = self.halt.as_mut() {
                    h.on_halted(halt_id, t, at_us, signal);
                }
                self.maybe_complete_halt();
            }
        }
    }

    fn on_report(&mut self, t: TaskIdx, state: ReportState, message: Option<String>) {
        let said = match state {
            ReportState::Busy => Some(AgentSaid::Working),
            ReportState::Wait | ReportState::Help => {
                Some(AgentSaid::Waiting(message.clone().unwrap_or_default()))
            }
            ReportState::Idle => Some(AgentSaid::Idle),
            _ => None,
        };
        // Hooks say `busy` on every prompt and tool call: the journal hears
        // it when the agent's state changes.
        let before = self.tasks[t].worker.as_ref().and_then(|w| w.said.clone());
        if state != ReportState::Busy || before != said {
            self.record_task(
                t,
                Event::Report {
                    state,
                    message: message.clone(),
                },
            );
        }
        let task_state = self.tasks[t].state();
        if !matches!(
            task_state,
            TaskState::Running | TaskState::Waiting | TaskState::Assigned
        ) {
            return;
        }
        if let Some(w) = self.tasks[t].worker.as_mut() {
            w.waiting = matches!(state, ReportState::Wait | ReportState::Help);
            if said.is_some() {
                self.dirty = true;
                w.said = said;
            }
        }
        let said = |what: &str| {
            let m = message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            format!("agent reported {what}{m}")
        };
        match state {
            ReportState::Start => self.set_state(t, TaskState::Running, None),
            ReportState::Wait | ReportState::Help => {
                self.set_state(t, TaskState::Waiting, message.clone())
            }
            ReportState::Done => self.begin_validation(t),
            ReportState::Error => {
                self.interrupt_agent(t);
                self.attempt_failed(t, said("ERROR"), AttemptOutcome::Failed, false);
            }
            ReportState::Usage => {}
            ReportState::Skip => {
                self.stop_worker(t);
                self.set_state(t, TaskState::Skipped, Some(said("SKIP")));
            }
            ReportState::Busy => {
                if task_state == TaskState::Waiting {
                    let reason = "the agent is at work again".to_string();
                    self.set_state(t, TaskState::Running, Some(reason));
                }
            }
            // A headless agent's turn is its life: its exit ends it.
            ReportState::Idle if !self.is_headless(t) => {
                let alive = self.tasks[t]
                    .worker
                    .as_ref()
                    .is_some_and(|w| w.exit.is_none());
                if alive && task_state != TaskState::Assigned {
                    self.turn_finished(t);
                }
            }
            ReportState::Idle => {}
        }
    }

    /// The task's profile runs its agent headless (`mode: headless`).
    fn is_headless(&self, t: TaskIdx) -> bool {
        let profile = self.plan.plan.agents.get(self.tasks[t].profile());
        profile.and_then(|a| a.mode.as_deref()) == Some("headless")
    }
}

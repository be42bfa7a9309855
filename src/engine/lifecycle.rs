//! One attempt's life in the actor: start, shim messages, validation, merge,
//! and failure through the supervision chain (restart → fallback → failed).

use super::actor::{Actor, Input, now_ms};
use super::journal::Entry;
use super::snapshot::{AttemptOutcome, AttemptSpan, Light, RunPhase, TaskState};
use super::socket::SocketEvent;
use super::supervise::{self, Next};
use super::task::Worker;
use super::workshop::{CheckResult, Spawned};
use crate::git::MergeOutcome;
use crate::tmux::PaneInfo;
use crate::worker::protocol::{EngineMessage, ExitStatus, ReportState, ShimMessage};
use std::collections::HashMap;

impl Actor {
    pub(super) fn set_state(&mut self, t: usize, state: TaskState, reason: Option<String>) {
        if self.tasks[t].state == state && reason.is_none() {
            return;
        }
        self.tasks[t].state = state;
        if reason.is_some() {
            self.tasks[t].message = reason.clone();
        }
        let id = self.task_id(t).to_string();
        let task = &self.tasks[t];
        let mut e = Entry::new("state", now_ms())
            .task(&id, task.attempt)
            .with("state", state.as_str())
            .with("profile", task.profile.clone());
        if let Some(r) = reason {
            e = e.with("reason", r);
        }
        self.record(e);
    }

    pub(super) fn start_attempt(&mut self, t: usize) {
        let now = now_ms();
        let run = &mut self.tasks[t];
        run.attempt += 1;
        run.forced = false;
        let attempt = run.attempt;
        run.attempts.push(AttemptSpan {
            attempt,
            profile: run.profile.clone(),
            started_ms: now,
            ended_ms: None,
            outcome: None,
        });
        run.worker = Some(Worker::new(attempt, now));
        let profile = run.profile.clone();
        let previous = run.previous_note.take();
        self.set_state(t, TaskState::Assigned, None);
        let shop = self.shop.clone();
        let inbox = self.inbox.clone();
        tokio::task::spawn_blocking(move || {
            let task = &shop.plan.plan.tasks[t];
            let result = shop.spawn(task, attempt, &profile, previous.as_deref());
            let _ = inbox.send(Input::Spawned {
                task: t,
                attempt,
                result,
            });
        });
    }

    pub(super) fn on_spawned(&mut self, t: usize, attempt: u32, result: Result<Spawned, String>) {
        // Stale only when this attempt's worker is gone (halted, killed,
        // restarted while spawning): the shim may well have said hello and
        // reported START before this result arrived.
        let current = self.tasks[t].attempt == attempt
            && self.tasks[t]
                .worker
                .as_ref()
                .is_some_and(|w| w.attempt == attempt);
        if !current {
            if let Ok(s) = result {
                self.kill_session_later(s.placement.session);
            }
            return;
        }
        match result {
            Ok(spawned) => {
                let id = self.task_id(t).to_string();
                let run = &mut self.tasks[t];
                if let Some(w) = run.worker.as_mut() {
                    w.pane_id = Some(spawned.pane_id.clone());
                    w.pane_since_ms = now_ms();
                    if w.conn.is_none() {
                        w.last_beat_ms = now_ms();
                    }
                }
                let p = &spawned.placement;
                let e = Entry::new("spawned", now_ms())
                    .task(&id, attempt)
                    .with("profile", run.profile.clone())
                    .with("session", p.session.clone())
                    .with("pane", spawned.pane_id.clone())
                    .with("worktree", p.worktree.display().to_string())
                    .with("branch", p.branch.clone());
                run.placement = Some(spawned.placement);
                let was_assigned = run.state == TaskState::Assigned;
                self.record(e);
                if was_assigned {
                    self.set_state(t, TaskState::Running, None);
                }
            }
            Err(reason) => self.attempt_failed(
                t,
                format!("could not start: {reason}"),
                AttemptOutcome::Failed,
                false,
            ),
        }
    }

    pub(super) fn on_socket(&mut self, ev: SocketEvent) {
        match ev {
            SocketEvent::ShimHello { conn, hello, tx } => {
                let ShimMessage::Hello {
                    task,
                    attempt,
                    shim_pid,
                    agent_pid,
                    pane_id,
                } = hello
                else {
                    return;
                };
                let Some(t) = self.plan().task_idx(&task) else {
                    tracing::warn!("a shim for unknown task {task} connected");
                    return;
                };
                let run = &mut self.tasks[t];
                // Only a worker of an earlier engine is adopted: one this engine
                // started and let go (restarted, killed) is told goodbye.
                let adoptable = run.worker.is_none()
                    && run.attempts.is_empty()
                    && attempt >= run.attempt
                    && matches!(
                        run.state,
                        TaskState::Pending | TaskState::Halted | TaskState::Failed
                    );
                if adoptable {
                    self.adopt(t, attempt);
                }
                let run = &mut self.tasks[t];
                match run.worker.as_mut() {
                    Some(w) if w.attempt == attempt => {
                        w.conn = Some(conn);
                        w.tx = Some(tx.clone());
                        w.shim_pid = Some(shim_pid);
                        w.agent_pid = agent_pid;
                        w.last_beat_ms = now_ms();
                        w.heartbeat = Light::Healthy;
                        if pane_id.is_some() && w.pane_id != pane_id {
                            w.pane_id = pane_id;
                            w.pane_since_ms = now_ms();
                        }
                        self.conns.insert(conn, t);
                        // A halt in progress reaches late-connecting shims too.
                        if let Some(h) = &self.halt {
                            let _ = tx.send(EngineMessage::Halt {
                                halt_id: h.id,
                                grace_ms: self.plan().plan.settings.halt.grace_ms,
                            });
                        }
                    }
                    _ => {
                        // A stale attempt: done with it. If its agent still
                        // runs, the bye is ignored; a second one follows its exit.
                        let _ = tx.send(EngineMessage::Bye);
                        self.draining.insert(conn, tx);
                    }
                }
                self.dirty = true;
            }
            SocketEvent::Shim { conn, msg, at } => {
                if let Some(&t) = self.conns.get(&conn) {
                    self.on_shim(t, msg, at);
                } else if matches!(msg, ShimMessage::Exit { .. })
                    && let Some(tx) = self.draining.remove(&conn)
                {
                    let _ = tx.send(EngineMessage::Bye);
                }
            }
            SocketEvent::ShimClosed { conn } => {
                self.draining.remove(&conn);
                let Some(t) = self.conns.remove(&conn) else {
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
                self.check_shim_gone(t, attempt, 0);
            }
        }
    }

    /// DEAD at once when a disconnected shim's process is gone; otherwise look
    /// again a few times over half a second (exit closes sockets first).
    pub(super) fn check_shim_gone(&mut self, t: usize, attempt: u32, tries: u32) {
        let Some(w) = self.tasks[t].worker.as_ref() else {
            return;
        };
        if w.attempt != attempt
            || w.conn.is_some()
            || w.exit.is_some()
            || !self.tasks[t].state.is_active()
        {
            return;
        }
        if w.shim_pid.is_some_and(|pid| !process_alive(pid)) {
            self.worker_dead(
                t,
                "the shim is gone (connection closed, process dead)".into(),
            );
        } else if tries < 10 {
            let inbox = self.inbox.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let _ = inbox.send(Input::ShimGone {
                    task: t,
                    attempt,
                    tries: tries + 1,
                });
            });
        }
    }

    /// A live worker of an engine that died: take it on as it was, with its
    /// attempt's start, profile and open question from the journal.
    fn adopt(&mut self, t: usize, attempt: u32) {
        let now = now_ms();
        let kind = self.shop.plan.plan.tasks[t].agent.kind.clone();
        let fallbacks = self
            .shop
            .plan
            .plan
            .agents
            .get(&kind)
            .map(|a| a.fallbacks.clone())
            .unwrap_or_default();
        let run = &mut self.tasks[t];
        run.attempt = attempt;
        run.selected = true;
        let mut started_ms = now;
        let mut question = None;
        if let Some(start) = run.journaled_start.take()
            && start.attempt == attempt
        {
            started_ms = start.started_ms;
            if !start.profile.is_empty() {
                run.profile = start.profile;
            }
            question = start.waiting;
        }
        // On a fallback already: escalation goes on from there.
        run.fallbacks_used = fallbacks
            .iter()
            .position(|f| *f == run.profile)
            .map_or(0, |i| i as u32 + 1);
        let mut worker = Worker::new(attempt, now);
        worker.waiting = question.is_some();
        run.worker = Some(worker);
        run.attempts.push(AttemptSpan {
            attempt,
            profile: run.profile.clone(),
            started_ms,
            ended_ms: None,
            outcome: None,
        });
        if self.phase == RunPhase::Idle || self.phase == RunPhase::Finished {
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

    fn on_shim(&mut self, t: usize, msg: ShimMessage, at: std::time::Instant) {
        let now = now_ms();
        if let Some(w) = self.tasks[t].worker.as_mut() {
            w.last_beat_ms = now;
            if w.heartbeat != Light::Healthy {
                w.heartbeat = Light::Healthy;
                let id = self.task_id(t).to_string();
                let attempt = self.tasks[t].attempt;
                self.record(
                    Entry::new("light", now)
                        .task(&id, attempt)
                        .with("light", "HEALTHY"),
                );
            }
        }
        match msg {
            ShimMessage::Hello { .. } | ShimMessage::Heartbeat { .. } => {}
            ShimMessage::Report { state, message } => self.on_report(t, state, message),
            ShimMessage::Exit { status } => self.on_exit(t, status),
            ShimMessage::HaltAck { halt_id } => self.on_halt_ack(halt_id, t, at),
            ShimMessage::Halted {
                halt_id,
                stop_ms,
                signal,
            } => self.on_halted(halt_id, t, stop_ms, signal, at),
        }
    }

    fn on_report(&mut self, t: usize, state: ReportState, message: Option<String>) {
        let id = self.task_id(t).to_string();
        let attempt = self.tasks[t].attempt;
        let mut e = Entry::new("report", now_ms())
            .task(&id, attempt)
            .with("state", state.as_str());
        if let Some(m) = &message {
            e = e.with("message", m.clone());
        }
        self.record(e);
        let current = self.tasks[t].state;
        if !matches!(
            current,
            TaskState::Running | TaskState::Waiting | TaskState::Assigned
        ) {
            return;
        }
        if let Some(w) = self.tasks[t].worker.as_mut() {
            w.waiting = matches!(state, ReportState::Wait | ReportState::Help);
        }
        match state {
            ReportState::Start => self.set_state(t, TaskState::Running, None),
            ReportState::Wait | ReportState::Help => self.set_state(t, TaskState::Waiting, message),
            ReportState::Done => self.begin_validation(t),
            ReportState::Error => {
                let reason = format!(
                    "agent reported ERROR{}",
                    message.map(|m| format!(": {m}")).unwrap_or_default()
                );
                self.interrupt_agent(t);
                self.attempt_failed(t, reason, AttemptOutcome::Failed, false);
            }
            ReportState::Skip => {
                self.stop_worker(t);
                self.tasks[t].end_attempt(AttemptOutcome::Skipped, now_ms());
                self.set_state(
                    t,
                    TaskState::Skipped,
                    Some(format!(
                        "agent reported SKIP{}",
                        message.map(|m| format!(": {m}")).unwrap_or_default()
                    )),
                );
            }
        }
    }

    fn on_exit(&mut self, t: usize, status: ExitStatus) {
        let id = self.task_id(t).to_string();
        let attempt = self.tasks[t].attempt;
        let mut e = Entry::new("exit", now_ms())
            .task(&id, attempt)
            .with("how", status.describe());
        if let Some(c) = status.code {
            e = e.with("code", c);
        }
        if let Some(s) = status.signal {
            e = e.with("signal", s);
        }
        self.record(e);
        if let Some(w) = self.tasks[t].worker.as_mut() {
            w.exit = Some(status);
            w.send(EngineMessage::Bye);
        }
        match self.tasks[t].state {
            TaskState::Running | TaskState::Waiting | TaskState::Assigned => {
                if self.halt.is_some() || self.phase == RunPhase::Halted {
                    return; // the halt accounts for it
                }
                if status.success() {
                    self.begin_validation(t);
                } else {
                    // 127: the shell found no such program; restarting cannot help.
                    let hopeless = status.code == Some(127);
                    let reason = if hopeless {
                        format!(
                            "{} (command not found: {})",
                            status.describe(),
                            self.tasks[t].profile
                        )
                    } else {
                        status.describe()
                    };
                    let outcome = if status.by_signal() {
                        AttemptOutcome::Crashed
                    } else {
                        AttemptOutcome::Failed
                    };
                    self.attempt_failed(t, reason, outcome, hopeless);
                }
            }
            _ => {}
        }
    }

    pub(super) fn worker_dead(&mut self, t: usize, reason: String) {
        if let Some(w) = self.tasks[t].worker.as_mut() {
            w.heartbeat = Light::Dead;
            // A frozen or unreachable shim cannot run its own halt cascade:
            // make sure neither it nor its agent outlives the verdict.
            use nix::sys::signal::{Signal, kill};
            use nix::unistd::Pid;
            if let Some(agent) = w.agent_pid {
                let _ = kill(Pid::from_raw(-(agent as i32)), Signal::SIGKILL);
            }
            if let Some(shim) = w.shim_pid {
                let _ = kill(Pid::from_raw(shim as i32), Signal::SIGKILL);
            }
        }
        let id = self.task_id(t).to_string();
        let attempt = self.tasks[t].attempt;
        let e = Entry::new("light", now_ms())
            .task(&id, attempt)
            .with("light", "DEAD")
            .with("reason", reason.clone());
        self.record(e);
        if self.halt.is_some() {
            return;
        }
        self.interrupt_agent(t);
        self.attempt_failed(t, format!("DEAD: {reason}"), AttemptOutcome::Crashed, false);
    }

    fn begin_validation(&mut self, t: usize) {
        if !matches!(
            self.tasks[t].state,
            TaskState::Running | TaskState::Waiting | TaskState::Assigned
        ) {
            return;
        }
        self.set_state(t, TaskState::Validating, None);
        let attempt = self.tasks[t].attempt;
        let shop = self.shop.clone();
        let inbox = self.inbox.clone();
        tokio::task::spawn_blocking(move || {
            let results = shop.validate(&shop.plan.plan.tasks[t], attempt);
            let _ = inbox.send(Input::Validated {
                task: t,
                attempt,
                results,
            });
        });
    }

    pub(super) fn on_validated(&mut self, t: usize, attempt: u32, results: Vec<CheckResult>) {
        if self.tasks[t].attempt != attempt || self.tasks[t].state != TaskState::Validating {
            return;
        }
        let id = self.task_id(t).to_string();
        for r in &results {
            let e = Entry::new("validation", now_ms())
                .task(&id, attempt)
                .with("check", r.check.clone())
                .with("ok", r.ok)
                .with("detail", r.detail.clone());
            self.record(e);
        }
        if let Some(bad) = results.iter().find(|r| !r.ok) {
            let reason = format!("validation failed: {} ({})", bad.check, bad.detail);
            self.interrupt_agent(t);
            self.attempt_failed(t, reason, AttemptOutcome::Failed, false);
            return;
        }
        self.set_state(t, TaskState::Merging, None);
        self.merge_queue.push_back(t);
        self.next_merge();
    }

    /// Merges run one at a time, so they land in the order tasks finished,
    /// which respects dependencies (a dependent starts only after its merge).
    fn next_merge(&mut self) {
        if self.merging {
            return;
        }
        let Some(t) = self.merge_queue.pop_front() else {
            return;
        };
        self.merging = true;
        let shop = self.shop.clone();
        let inbox = self.inbox.clone();
        tokio::task::spawn_blocking(move || {
            let result = shop.merge(&shop.plan.plan.tasks[t]);
            let _ = inbox.send(Input::Merged { task: t, result });
        });
    }

    pub(super) fn on_merged(&mut self, t: usize, result: Result<MergeOutcome, String>) {
        self.merging = false;
        let id = self.task_id(t).to_string();
        let attempt = self.tasks[t].attempt;
        let branch = self.plan().plan.settings.integration_branch.clone();
        match result {
            Ok(outcome @ (MergeOutcome::Merged { .. } | MergeOutcome::UpToDate)) => {
                let commit = match outcome {
                    MergeOutcome::Merged { commit } => commit,
                    _ => "already contained".to_string(),
                };
                // What a done row says, rather than whatever its pane last showed.
                self.tasks[t].last_line = super::words::merged_into(&branch, &commit);
                self.record(
                    Entry::new("merged", now_ms())
                        .task(&id, attempt)
                        .with("commit", commit)
                        .with("branch", branch),
                );
                self.tasks[t].end_attempt(AttemptOutcome::Done, now_ms());
                self.stop_worker(t);
                self.set_state(t, TaskState::Done, None);
                if self.plan().plan.settings.remove_merged_worktrees {
                    let shop = self.shop.clone();
                    let inbox = self.inbox.clone();
                    tokio::task::spawn_blocking(move || {
                        let result = shop.remove_worktree(&shop.plan.plan.tasks[t]);
                        let _ = inbox.send(Input::Removed { task: t, result });
                    });
                }
            }
            Ok(MergeOutcome::Conflict { files }) => {
                self.record(
                    Entry::new("conflict", now_ms())
                        .task(&id, attempt)
                        .with("files", files.clone()),
                );
                self.tasks[t].end_attempt(AttemptOutcome::Conflict, now_ms());
                self.stop_worker_keep_pane(t);
                self.set_state(
                    t,
                    TaskState::Conflict,
                    Some(format!("merge conflict in {}", files.join(", "))),
                );
            }
            Err(e) => {
                self.tasks[t].end_attempt(AttemptOutcome::Failed, now_ms());
                self.stop_worker_keep_pane(t);
                self.record(
                    Entry::new("failure", now_ms())
                        .task(&id, attempt)
                        .with("reason", format!("merge failed: {e}")),
                );
                self.set_state(t, TaskState::Failed, Some(format!("merge failed: {e}")));
            }
        }
        self.next_merge();
    }

    /// Stop a failed attempt's agent the way a halt would (its shim runs the
    /// SIGINT → SIGTERM → SIGKILL cascade), but keep the pane readable:
    /// a failed task's last screen is for inspection. Halt id 0 is no halt's.
    fn interrupt_agent(&mut self, t: usize) {
        let grace_ms = self.plan().plan.settings.halt.grace_ms;
        if let Some(w) = self.tasks[t].worker.as_ref()
            && w.exit.is_none()
        {
            w.send(EngineMessage::Halt {
                halt_id: 0,
                grace_ms,
            });
        }
    }

    /// Let go of a task's worker. A shim whose agent has not exited yet is
    /// kept draining, so its exit still gets a `bye`.
    pub(super) fn detach_worker(&mut self, t: usize) -> Option<super::task::Worker> {
        let mut w = self.tasks[t].worker.take()?;
        if w.pane_id.is_some() {
            self.tasks[t].last_pane = w.pane_id.clone();
        }
        if let Some(c) = w.conn {
            self.conns.remove(&c);
            if w.exit.is_none()
                && let Some(tx) = w.tx.take()
            {
                self.draining.insert(c, tx);
            }
        }
        Some(w)
    }

    /// End the worker and its tmux session (done, cancelled, restarted).
    pub(super) fn stop_worker(&mut self, t: usize) {
        if self.detach_worker(t).is_some()
            && let Some(session) = self.tasks[t].placement.as_ref().map(|p| p.session.clone())
        {
            self.kill_session_later(session);
        }
    }

    /// Kill a tmux session over the control connection, off the actor's path.
    pub(super) fn kill_session_later(&mut self, session: String) {
        let control = self.control.clone();
        self.pending_kills.retain(|h| !h.is_finished());
        self.pending_kills.push(tokio::spawn(async move {
            if let Err(e) = control.kill_session(&session).await {
                tracing::debug!("kill-session {session}: {e}");
            }
        }));
    }

    /// Forget the worker but keep its (dead) pane readable for inspection.
    fn stop_worker_keep_pane(&mut self, t: usize) {
        self.detach_worker(t);
    }

    /// The supervision chain after a failed attempt.
    pub(super) fn attempt_failed(
        &mut self,
        t: usize,
        reason: String,
        outcome: AttemptOutcome,
        hopeless: bool,
    ) {
        let now = now_ms();
        let id = self.task_id(t).to_string();
        self.capture_note(t, &reason);
        self.stop_worker_keep_pane(t);
        let settings = self.plan().plan.settings.clone();
        let run = &mut self.tasks[t];
        run.end_attempt(outcome, now);
        let mut chain = vec![self.shop.plan.plan.tasks[t].agent.kind.clone()];
        chain.extend(
            self.shop
                .plan
                .plan
                .agents
                .get(&chain[0])
                .map(|a| a.fallbacks.clone())
                .unwrap_or_default(),
        );
        let restarts_used = if hopeless { u32::MAX } else { run.restarts };
        let next = supervise::after_failure(
            &settings.restart,
            settings.max_fallbacks,
            restarts_used,
            run.fallbacks_used,
            &chain,
        );
        let attempt = run.attempt;
        let profile = run.profile.clone();
        let base = |event: &str| {
            Entry::new(event, now)
                .task(&id, attempt)
                .with("profile", profile.clone())
                .with("reason", reason.clone())
                .with("outcome", serde_json::to_value(outcome).unwrap_or_default())
        };
        match next {
            Next::Restart { delay_ms } => {
                run.restarts += 1;
                run.not_before_ms = now + delay_ms;
                let e = base("restart")
                    .with("restart_count", run.restarts)
                    .with("delay_ms", delay_ms)
                    .with("next_profile", profile.clone());
                self.record(e);
                self.set_state(t, TaskState::Pending, Some(reason));
            }
            Next::Escalate {
                profile: next_profile,
            } => {
                let e = base("escalation")
                    .with("restart_count", run.restarts)
                    .with("next_profile", next_profile.clone());
                run.fallbacks_used += 1;
                run.restarts = 0;
                run.profile = next_profile;
                run.not_before_ms = now + settings.restart.backoff_ms;
                self.record(e);
                self.set_state(t, TaskState::Pending, Some(reason));
            }
            Next::Fail => {
                let e = base("failure")
                    .with("restart_count", run.restarts)
                    .with("next_profile", serde_json::Value::Null);
                self.record(e);
                self.set_state(t, TaskState::Failed, Some(reason));
            }
        }
    }

    /// Capture the last 40 lines of the pane in the background; they join
    /// the next attempt's instruction.
    fn capture_note(&mut self, t: usize, reason: &str) {
        let Some(pane) = self.tasks[t]
            .worker
            .as_ref()
            .and_then(|w| w.pane_id.clone())
        else {
            return;
        };
        let attempt = self.tasks[t].attempt;
        let control = self.control.clone();
        let inbox = self.inbox.clone();
        let how = reason.to_string();
        tokio::spawn(async move {
            let lines = control.capture_tail(&pane, 40).await.unwrap_or_default();
            let mut note = String::new();
            crate::instruction::append_previous_attempt(&mut note, &how, &lines);
            let _ = inbox.send(Input::Note {
                task: t,
                attempt,
                note,
            });
        });
    }

    /// Heartbeat silence → LATE / MISSING / DEAD.
    pub(super) fn check_heartbeats(&mut self) {
        let now = now_ms();
        let hb = self.plan().plan.settings.heartbeat.clone();
        let mut dead = Vec::new();
        for t in 0..self.tasks.len() {
            if !matches!(self.tasks[t].state, TaskState::Running | TaskState::Waiting) {
                continue;
            }
            let Some(w) = self.tasks[t].worker.as_mut() else {
                continue;
            };
            if w.exit.is_some() {
                continue;
            }
            let light = supervise::light_after_silence(&hb, w.last_beat_ms, now);
            if light != w.heartbeat {
                w.heartbeat = light;
                let silent = now.saturating_sub(w.last_beat_ms);
                let id = self.task_id(t).to_string();
                let attempt = self.tasks[t].attempt;
                if light == Light::Dead {
                    dead.push((t, format!("no heartbeat for {silent} ms")));
                } else {
                    let e = Entry::new("timeout", now)
                        .task(&id, attempt)
                        .with("light", light.as_str())
                        .with("reason", format!("no heartbeat for {silent} ms"))
                        .with("profile", self.tasks[t].profile.clone())
                        .with("restart_count", self.tasks[t].restarts)
                        .with("next_profile", serde_json::Value::Null);
                    self.record(e);
                }
            }
        }
        for (t, reason) in dead {
            let id = self.task_id(t).to_string();
            let e = Entry::new("timeout", now)
                .task(&id, self.tasks[t].attempt)
                .with("light", "DEAD")
                .with("reason", reason.clone())
                .with("profile", self.tasks[t].profile.clone())
                .with("restart_count", self.tasks[t].restarts)
                .with("next_profile", serde_json::Value::Null);
            self.record(e);
            self.worker_dead(t, reason);
        }
    }

    /// Pane states from one `list-panes -a`: last lines, stalls, dead panes.
    pub(super) fn on_panes(
        &mut self,
        panes: Vec<PaneInfo>,
        tails: HashMap<String, Vec<String>>,
        listed_ms: u64,
    ) {
        let by_pane: HashMap<&str, &PaneInfo> =
            panes.iter().map(|p| (p.pane_id.as_str(), p)).collect();
        let stall_ms = self.plan().plan.settings.stall_after_ms as i64;
        let now = now_ms() as i64;
        let mut dead = Vec::new();
        for t in 0..self.tasks.len() {
            let Some(w) = self.tasks[t].worker.as_mut() else {
                continue;
            };
            let Some(pane) = w.pane_id.clone() else {
                continue;
            };
            if let Some(tail) = tails.get(&pane) {
                if let Some(line) = super::prompts::last_output(tail)
                    && line != self.tasks[t].last_line
                {
                    self.tasks[t].last_line = line.to_string();
                    self.dirty = true;
                }
                self.apply_prompt_rules(t, tail);
            }
            let active = self.tasks[t].state.is_active();
            let assigned = self.tasks[t].state == TaskState::Assigned;
            // An agent waiting for an answer is silent on purpose.
            let waiting = self.tasks[t].state == TaskState::Waiting;
            let Some(w) = self.tasks[t].worker.as_mut() else {
                continue;
            };
            let mut stall_change = None;
            match by_pane.get(pane.as_str()) {
                Some(info) => {
                    w.activity_s = info.activity;
                    // tmux keeps activity in whole seconds: a pane counts as silent
                    // from the end of its last active second.
                    let silent_ms = info.activity.map(|a| now - (a + 1) * 1000).unwrap_or(0);
                    let stalled = !waiting && w.exit.is_none() && silent_ms >= stall_ms;
                    if stalled != w.stalled {
                        w.stalled = stalled;
                        stall_change = Some(stalled);
                    }
                    if info.pane_dead && w.conn.is_none() && w.exit.is_none() && active {
                        dead.push((t, "the pane is dead and its shim disconnected".to_string()));
                    }
                }
                None => {
                    let listed_after_spawn = w.pane_since_ms < listed_ms;
                    if !assigned && listed_after_spawn && w.conn.is_none() && w.exit.is_none() {
                        dead.push((t, "the tmux pane is gone".to_string()));
                    }
                }
            }
            if let Some(stalled) = stall_change {
                let id = self.task_id(t).to_string();
                let light = if stalled { "STALLED" } else { "HEALTHY" };
                let e = Entry::new("light", now_ms())
                    .task(&id, self.tasks[t].attempt)
                    .with("light", light);
                self.record(e);
            }
        }
        for (t, reason) in dead {
            self.worker_dead(t, reason);
        }
    }
}

/// Whether `pid` still runs. A zombie does not: the shim's parent (tmux) may
/// not have reaped it yet when its connection closes.
fn process_alive(pid: u32) -> bool {
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may hold spaces.
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.trim_start().chars().next());
        return !matches!(state, Some('Z' | 'X'));
    }
    match kill(Pid::from_raw(pid as i32), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

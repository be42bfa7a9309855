//! One attempt's life: start, spawn result, exit, validation, merge, and
//! failure through the supervision chain (restart → fallback → failed).

use super::Core;
use crate::engine::effect::Effect;
use crate::engine::error::EngineError;
use crate::engine::event::{Event, Supervision};
use crate::engine::preaccept::Preaccepted;
use crate::engine::snapshot::{AttemptOutcome, Light, RunPhase, TaskState};
use crate::engine::supervise::{self, Next};
use crate::engine::tasks::{TaskIdx, Worker};
use crate::engine::words;
use crate::engine::workshop::{CheckResult, IntegrationCheck, MergeReport, Spawned};
use crate::git::MergeOutcome;
use crate::worker::protocol::{EngineMessage, ExitStatus};
use crate::worker::secret::AttemptSecret;

/// How often held merges look again whether the checkout moved away.
const MERGE_RETRY_MS: u64 = 2_000;
/// A merge that fails on something passing is tried this many more times.
const MERGE_RETRIES: u32 = 5;

impl Core {
    pub(super) fn start_attempt(&mut self, t: TaskIdx) {
        let now = self.now();
        let run = &mut self.tasks[t];
        // Saturating: a damaged journal may say the last attempt was u32::MAX.
        let attempt = run.attempt().saturating_add(1);
        run.forced = false;
        run.launched = true;
        // The one thing the core takes from the OS itself: no decision
        // depends on the bytes, and the fixture reads them off the effect.
        let secret = AttemptSecret::mint();
        let mut worker = Worker::new(attempt, now);
        worker.secret = secret.as_ref().ok().map(AttemptSecret::digest);
        let profile = run.profile().to_string();
        worker.deadline_ms = self.timeout_ms(t, &profile).map(|ms| now + ms);
        let run = &mut self.tasks[t];
        run.worker = Some(worker);
        let note = run.previous_note.take();
        let id = self.task_id(t).to_string();
        let entry = crate::engine::event::Entry::new(
            Event::State {
                state: TaskState::Assigned,
                profile: profile.clone(),
                reason: None,
            },
            now,
        )
        .task(&id, attempt);
        self.record(entry);
        match secret {
            Ok(secret) if self.plan.pool_of[t.0].is_some() => {
                self.pool_dispatch(t, attempt, profile, note, secret)
            }
            Ok(secret) => self.effect(Effect::Spawn {
                task: t,
                attempt,
                profile,
                note,
                secret,
            }),
            Err(e) => self.on_spawned(t, attempt, Err(EngineError::NoSecret(e))),
        }
    }

    pub(super) fn on_spawned(
        &mut self,
        t: TaskIdx,
        attempt: u32,
        mut result: Result<Spawned, EngineError>,
    ) {
        // What was written outside the worktree is said, whatever follows.
        if let Ok(spawned) = &result {
            self.record_preaccepted(t, &spawned.preaccepted);
        }
        // Stale only when this attempt's worker is gone (halted, killed,
        // restarted while spawning): the shim may well have said hello and
        // reported START before this result arrived.
        let current =
            self.tasks[t].attempt() == attempt && self.tasks[t].worker_of(attempt).is_some();
        let pooled = self.pool_spawned(t, attempt, current, &mut result);
        if !current {
            if let (Ok(s), false) = (result, pooled) {
                self.effect(Effect::KillSession {
                    session: s.placement.session,
                });
            }
            return;
        }
        match result {
            Ok(spawned) => {
                let now = self.now();
                let run = &mut self.tasks[t];
                let mut secret_sha256 = None;
                if let Some(w) = run.worker.as_mut() {
                    w.pane_id = Some(spawned.pane_id.clone());
                    // Until its hello: a shim that never speaks (halted
                    // first) is still waited for when the run closes.
                    w.shim_pid = w.shim_pid.or(spawned.pane_pid);
                    w.pane_since_ms = now;
                    if w.conn.is_none() {
                        w.last_beat_ms = now;
                    }
                    secret_sha256 = w.secret.clone();
                }
                let p = &spawned.placement;
                let event = Event::Spawned {
                    profile: run.profile().to_string(),
                    session: p.session.clone(),
                    pane: spawned.pane_id.clone(),
                    worktree: p.worktree.display().to_string(),
                    branch: p.branch.clone(),
                    secret_sha256,
                    host: p.host.clone(),
                };
                run.placement = spawned.placement;
                let was_assigned = run.state() == TaskState::Assigned;
                self.record_task(t, event);
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

    /// Journal each `preaccept` write (one that found the value set already
    /// wrote nothing and says nothing), and each that could not be made.
    fn record_preaccepted(&mut self, t: TaskIdx, done: &[Result<Preaccepted, String>]) {
        for p in done {
            match p {
                Ok(p) if p.written => {
                    let event = Event::Preaccepted {
                        skips: p.skips.clone(),
                        file: p.file.display().to_string(),
                        setting: p.setting.clone(),
                    };
                    self.record_task(t, event);
                }
                Ok(_) => {}
                Err(why) => {
                    let message = format!("{why}; the dialog will wait for a person");
                    self.record_task(t, Event::Warning { message });
                }
            }
        }
    }

    pub(super) fn on_exit(&mut self, t: TaskIdx, status: ExitStatus) {
        self.record_task(
            t,
            Event::Exit {
                how: status.describe(),
                code: status.code,
                signal: status.signal,
            },
        );
        if let Some(w) = self.tasks[t].worker.as_mut() {
            w.exit = Some(status);
            w.send(EngineMessage::Bye);
        }
        if !matches!(
            self.tasks[t].state(),
            TaskState::Running | TaskState::Waiting | TaskState::Assigned
        ) {
            return;
        }
        if self.halt.is_some() || self.phase == RunPhase::Halted {
            return; // the halt accounts for it
        }
        if status.success() {
            return self.begin_validation(t);
        }
        // 127: the shell found no such program; restarting cannot help.
        let hopeless = status.code == Some(127);
        let reason = if hopeless {
            format!(
                "{} (command not found: {})",
                status.describe(),
                self.program_of(t)
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

    pub(super) fn worker_dead(&mut self, t: TaskIdx, reason: String) {
        self.pool_worker_died(t, &reason);
        let host = self.tasks[t].placement.host.clone();
        if let Some(w) = self.tasks[t].worker.as_mut() {
            w.heartbeat = Light::Dead;
            // A frozen or unreachable shim cannot run its own halt cascade:
            // make sure neither it nor its agent outlives the verdict.
            let kill = Effect::KillWorker {
                host,
                agent_pgid: w.agent_pid,
                shim_pid: w.shim_pid,
            };
            self.effect(kill);
        }
        self.record_task(
            t,
            Event::Light {
                light: Light::Dead,
                reason: Some(reason.clone()),
            },
        );
        if self.halt.is_some() {
            return;
        }
        self.interrupt_agent(t);
        self.attempt_failed(t, format!("DEAD: {reason}"), AttemptOutcome::Crashed, false);
    }

    pub(super) fn begin_validation(&mut self, t: TaskIdx) {
        if !matches!(
            self.tasks[t].state(),
            TaskState::Running | TaskState::Waiting | TaskState::Assigned
        ) {
            return;
        }
        self.set_state(t, TaskState::Validating, None);
        let attempt = self.tasks[t].attempt();
        self.effect(Effect::Validate { task: t, attempt });
    }

    /// An interactive agent's turn is over: check its work while it waits.
    /// The program an attempt's command starts (its first shell word), for
    /// messages; the profile's name when the command does not split.
    fn program_of(&self, t: TaskIdx) -> String {
        let task = &self.plan.plan.tasks[t.0];
        let profile = self.tasks[t].profile();
        let command = match (&task.command, self.plan.plan.agents.get(profile)) {
            (Some(own), _) if profile == task.agent.kind => own.as_str(),
            (_, Some(agent)) => agent.command.as_str(),
            _ => "",
        };
        shlex::split(command)
            .and_then(|words| words.into_iter().next())
            .unwrap_or_else(|| profile.to_string())
    }

    pub(super) fn turn_finished(&mut self, t: TaskIdx) {
        if let Some(w) = self.tasks[t].worker.as_mut() {
            w.turn_done = true;
            // Its next turn must show busy again before idle counts.
            w.screen.busy_seen = false;
        }
        self.record_task(t, Event::TurnFinished);
        self.begin_validation(t);
    }

    /// After a finished turn whose checks failed: tell the agent in its
    /// session, up to `restart.maxNudges` times. False when it may not.
    fn nudge(&mut self, t: TaskIdx, bad: &CheckResult) -> bool {
        let max = self.plan.plan.settings.restart.max_nudges;
        let Some(w) = self.tasks[t].worker.as_mut() else {
            return false;
        };
        if w.pane_id.is_none() || !w.turn_done || w.exit.is_some() || w.nudges >= max {
            return false;
        }
        w.turn_done = false;
        w.nudges += 1;
        let nudge = w.nudges;
        // One line: it is typed into the agent's prompt, then Enter.
        let detail: String = bad.detail.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = format!(
            "The check `{}` failed: {detail}. Fix it, commit your work, and say when you are done.",
            bad.check
        );
        self.type_into(t, text);
        let check = bad.check.clone();
        self.record_task(t, Event::Nudged { nudge, check });
        let why = format!("checks failed; the agent was told (nudge {nudge} of {max})");
        self.set_state(t, TaskState::Running, Some(why));
        true
    }

    pub(super) fn on_validated(&mut self, t: TaskIdx, attempt: u32, results: Vec<CheckResult>) {
        if self.tasks[t].attempt() != attempt || self.tasks[t].state() != TaskState::Validating {
            return;
        }
        for r in &results {
            self.record_task(
                t,
                Event::Validation {
                    check: r.check.clone(),
                    ok: r.ok,
                    detail: r.detail.clone(),
                },
            );
        }
        let by_hand = std::mem::take(&mut self.tasks[t].rechecking);
        if let Some(bad) = results.iter().find(|r| !r.ok) {
            if by_hand {
                let reason = format!("checks failed again: {} ({})", bad.check, bad.detail);
                self.set_state(t, TaskState::Failed, Some(reason));
                return;
            }
            if self.nudge(t, bad) {
                return;
            }
            let reason = format!("validation failed: {} ({})", bad.check, bad.detail);
            self.interrupt_agent(t);
            self.attempt_failed(t, reason, AttemptOutcome::Failed, false);
            return;
        }
        self.set_state(t, TaskState::Merging, None);
        if let Some(next) = self.merges.push(t) {
            self.effect(Effect::Merge { task: next });
        }
    }

    /// Git shows `t` merged though the journal does not (a crash between the
    /// merge and its journal line, or a lost journal): it is done.
    pub(super) fn found_merged(&mut self, t: TaskIdx, commit: String) {
        let branch = self.plan.plan.settings.integration_branch.clone();
        self.record_task(t, Event::Merged { commit, branch });
        let why = "git shows it already merged".to_string();
        self.set_state(t, TaskState::Done, Some(why));
        // A worker an earlier engine left behind has nothing more to do.
        self.kill_session_of(t);
    }

    /// An earlier engine validated `t` and stopped before merging it: merge
    /// it, rather than run its agent again. Its session, if any, goes.
    pub(super) fn resume_merge(&mut self, t: TaskIdx) {
        self.kill_session_of(t);
        let why = "validated by an earlier run: merging".to_string();
        self.set_state(t, TaskState::Merging, Some(why));
        if let Some(next) = self.merges.push(t) {
            self.effect(Effect::Merge { task: next });
        }
    }

    /// Held merges go back in the queue.
    pub(super) fn retry_held_merges(&mut self) {
        self.merge_retry_ms = None;
        for t in self.tasks.in_state(TaskState::MergeHeld) {
            if let Some(next) = self.merges.push(t) {
                self.effect(Effect::Merge { task: next });
            }
        }
    }

    pub(super) fn on_merged(&mut self, t: TaskIdx, report: Result<MergeReport, EngineError>) {
        let branch = self.plan.plan.settings.integration_branch.clone();
        let result = match report {
            Ok(MergeReport::Blocked { check }) => {
                self.merge_blocked(t, check, &branch);
                if let Some(next) = self.merges.finished(t) {
                    self.effect(Effect::Merge { task: next });
                }
                return;
            }
            Ok(MergeReport::Done { outcome, check }) => {
                if let Some(c) = check {
                    self.record_integration_check(t, c);
                }
                Ok(outcome)
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(outcome @ (MergeOutcome::Merged { .. } | MergeOutcome::UpToDate)) => {
                let commit = match outcome {
                    MergeOutcome::Merged { commit } => commit,
                    _ => "already contained".to_string(),
                };
                // What a done row says, rather than whatever its pane last showed.
                self.tasks[t].pane_line = None;
                self.record_task(t, Event::Merged { commit, branch });
                self.stop_worker(t);
                self.set_state(t, TaskState::Done, None);
                // A pool worker's worktree stays for its next task.
                let pooled = self.pool_worker_on_branch_of(t);
                if self.plan.plan.settings.remove_merged_worktrees && !pooled {
                    self.effect(Effect::RemoveWorktree { task: t });
                }
            }
            Ok(MergeOutcome::Conflict { files }) => {
                let reason = format!("merge conflict in {}", files.join(", "));
                self.record_task(t, Event::Conflict { files });
                self.release_worker(t);
                self.set_state(t, TaskState::Conflict, Some(reason));
            }
            Err(EngineError::Git(crate::git::GitError::BranchCheckedOut { branch, path })) => {
                // A person has the integration branch checked out: moving it
                // under them would be wrong, failing the task worse. Wait.
                if self.tasks[t].state() != TaskState::MergeHeld {
                    let reason = format!(
                        "merge held: {branch} is checked out at {}; it merges once that checkout moves to another branch",
                        path.display()
                    );
                    self.set_state(t, TaskState::MergeHeld, Some(reason));
                }
                self.merge_retry_ms = Some(self.now() + MERGE_RETRY_MS);
            }
            Err(EngineError::Git(e))
                if e.is_passing() && self.tasks[t].merge_retries < MERGE_RETRIES =>
            {
                self.tasks[t].merge_retries += 1;
                let reason = format!(
                    "merge held: {e}; trying again in {} s ({} of {MERGE_RETRIES})",
                    MERGE_RETRY_MS / 1000,
                    self.tasks[t].merge_retries
                );
                self.set_state(t, TaskState::MergeHeld, Some(reason));
                self.merge_retry_ms = Some(self.now() + MERGE_RETRY_MS);
            }
            Err(e) => {
                self.release_worker(t);
                let reason = format!("merge failed: {e}");
                let profile = Some(self.tasks[t].profile().to_string());
                self.record_task(
                    t,
                    Event::Failure(Supervision {
                        profile,
                        reason: reason.clone(),
                        outcome: Some(AttemptOutcome::Failed),
                        ..Default::default()
                    }),
                );
                self.set_state(t, TaskState::Failed, Some(reason));
            }
        }
        if let Some(next) = self.merges.finished(t) {
            self.effect(Effect::Merge { task: next });
        }
    }

    /// The integration check failed on `t`'s merge result: the branch did
    /// not move, the task waits for a person to fix its branch and recheck.
    /// Its dependents are skipped, as after a conflict (a recheck revives them).
    fn merge_blocked(&mut self, t: TaskIdx, check: IntegrationCheck, branch: &str) {
        let reason = format!(
            "merge blocked: the integration check `{}` failed on the merged tree, so {branch} did not move; fix the branch in its worktree, then recheck (D shows the output)",
            check.command
        );
        self.record_integration_check(t, check);
        self.tasks[t].pane_line = None;
        self.release_worker(t);
        self.set_state(t, TaskState::MergeBlocked, Some(reason));
    }

    fn record_integration_check(&mut self, t: TaskIdx, check: IntegrationCheck) {
        let IntegrationCheck {
            command,
            ok,
            detail,
        } = check;
        self.record_task(
            t,
            Event::IntegrationCheck {
                ok,
                command,
                detail,
            },
        );
    }

    /// Stop a failed attempt's agent the way a halt would (its shim runs the
    /// SIGINT → SIGTERM → SIGKILL cascade), but keep the pane readable:
    /// a failed task's last screen is for inspection. Halt id 0 is no halt's.
    pub(super) fn interrupt_agent(&mut self, t: TaskIdx) {
        let grace_ms = self.plan.plan.settings.halt.grace_ms;
        if let Some(w) = self.tasks[t].worker.as_ref()
            && w.exit.is_none()
        {
            w.send(EngineMessage::Halt {
                halt_id: 0,
                grace_ms,
            });
        }
    }

    /// Close `t`'s tmux session (its kept pane, or a worker an earlier
    /// engine left behind).
    pub(super) fn kill_session_of(&mut self, t: TaskIdx) {
        let session = self.tasks[t].placement.session.clone();
        if self.pool_may_close(t, &session) {
            self.effect(Effect::KillSession { session });
        }
    }

    /// Let go of a task's worker, keeping its (dead) pane readable.
    pub(super) fn release_worker(&mut self, t: TaskIdx) -> Option<Worker> {
        let run = &mut self.tasks[t];
        let mut w = run.worker.take()?;
        if w.pane_id.is_some() {
            run.last_pane = w.pane_id.clone();
        }
        if self.pool_release(t, &mut w) {
            // Its live agent waits in the pool for the next task.
            return Some(w);
        }
        // A host's shims end with its tmux server when the engine closes;
        // their pids mean nothing here.
        if self.tasks[t].placement.host.is_none() {
            self.ended_shims.extend(w.shim_pid);
        }
        self.links.release(&mut w);
        Some(w)
    }

    /// End the worker and its tmux session (done, cancelled, restarted).
    pub(super) fn stop_worker(&mut self, t: TaskIdx) {
        let keep = self.pool_keeps_session(t);
        if self.release_worker(t).is_some() && !keep {
            self.kill_session_of(t);
        }
    }

    /// The supervision chain after a failed attempt.
    pub(super) fn attempt_failed(
        &mut self,
        t: TaskIdx,
        reason: String,
        outcome: AttemptOutcome,
        hopeless: bool,
    ) {
        let now = self.now();
        self.capture_note(t, &reason);
        self.release_worker(t);
        let settings = &self.plan.plan.settings;
        let given = self.tasks[t].base_profile.clone();
        let chain = super::fallback_chain(&self.plan, &self.plan.plan.tasks[t.0], given.as_deref());
        let run = &mut self.tasks[t];
        let restarts_used = if hopeless { u32::MAX } else { run.restarts };
        let next = supervise::after_failure(
            &settings.restart,
            settings.max_fallbacks,
            restarts_used,
            run.fallbacks_used,
            &chain,
        );
        let profile = run.profile().to_string();
        let base = Supervision {
            profile: Some(profile.clone()),
            reason: reason.clone(),
            outcome: Some(outcome),
            restart_count: Some(run.restarts),
            ..Default::default()
        };
        match next {
            Next::Restart { delay_ms } => {
                run.restarts += 1;
                run.not_before_ms = now + delay_ms;
                let event = Event::Restart(Supervision {
                    restart_count: Some(run.restarts),
                    delay_ms: Some(delay_ms),
                    next_profile: Some(profile),
                    ..base
                });
                self.record_task(t, event);
                self.set_state(t, TaskState::Pending, Some(reason));
            }
            Next::Escalate {
                profile: next_profile,
            } => {
                run.fallbacks_used += 1;
                run.restarts = 0;
                run.not_before_ms = now + settings.restart.backoff_ms;
                let event = Event::Escalation(Supervision {
                    next_profile: Some(next_profile),
                    ..base
                });
                // The fold takes the next profile from the escalation.
                self.record_task(t, event);
                self.set_state(t, TaskState::Pending, Some(reason));
            }
            Next::Fail => {
                self.record_task(t, Event::Failure(base));
                self.set_state(t, TaskState::Failed, Some(reason));
            }
        }
    }

    /// Capture the last 40 lines of the pane; they join the next attempt's
    /// instruction.
    fn capture_note(&mut self, t: TaskIdx, reason: &str) {
        let Some(pane) = self.tasks[t]
            .worker
            .as_ref()
            .and_then(|w| w.pane_id.clone())
        else {
            return;
        };
        let attempt = self.tasks[t].attempt();
        self.effect(Effect::CaptureNote {
            task: t,
            attempt,
            pane,
            reason: reason.to_string(),
        });
    }
}

impl Core {
    /// How long an attempt of `t` on `profile` may run: the task's own
    /// `timeoutMinutes`, else its profile's, else the plan's.
    pub(super) fn timeout_ms(&self, t: TaskIdx, profile: &str) -> Option<u64> {
        let task = &self.plan.plan.tasks[t.0];
        let minutes = task
            .timeout_minutes
            .or_else(|| self.plan.plan.agents.get(profile)?.timeout_minutes)
            .or(self.plan.plan.settings.timeout_minutes)?;
        Some((minutes * 60_000.0).round() as u64)
    }

    /// Attempts still at work past their deadline fail, as any failure does.
    pub(super) fn check_timeouts(&mut self) {
        let now = self.now();
        let late: Vec<TaskIdx> = self
            .tasks
            .iter()
            .filter(|(_, r)| {
                matches!(
                    r.state(),
                    TaskState::Assigned | TaskState::Running | TaskState::Waiting
                )
            })
            .filter(|(_, r)| {
                r.worker
                    .as_ref()
                    .is_some_and(|w| w.exit.is_none() && w.deadline_ms.is_some_and(|d| d <= now))
            })
            .map(|(t, _)| t)
            .collect();
        for t in late {
            let profile = self.tasks[t].profile().to_string();
            let limit = self.timeout_ms(t, &profile).unwrap_or_default();
            let reason = format!("timed out after {}", words::duration(limit));
            self.interrupt_agent(t);
            self.attempt_failed(t, reason, AttemptOutcome::Failed, false);
        }
    }
}

//! Watching workers: heartbeat silence, the pane poll (dead panes, stalls,
//! last lines, prompt rules) and the conflict early-warning scan.

use super::{Core, POLL_MS};

/// A pane whose bottom reads as a question, silent this long, waits for a
/// person (tmux keeps activity in whole seconds).
const QUESTION_QUIET_MS: i64 = 2_000;
/// An interactive agent idle at its prompt this long, after being busy, has
/// finished its turn.
const TURN_QUIET_MS: i64 = 1_500;
use crate::engine::early_warning::{Other, SCAN_EVERY_MS, ScanRequest, ScanResult};
use crate::engine::effect::{Effect, TAIL_LINES};
use crate::engine::event::Event;
use crate::engine::prompts::{self, PromptChange};
use crate::engine::snapshot::{Light, RunPhase, TaskState};
use crate::engine::supervise;
use crate::engine::tasks::TaskIdx;
use crate::tmux::PaneInfo;
use std::collections::HashMap;

impl Core {
    /// Heartbeat silence → LATE / MISSING / DEAD.
    pub(super) fn check_heartbeats(&mut self) {
        let now = self.now();
        let hb = self.plan.plan.settings.heartbeat.clone();
        let mut changes = Vec::new();
        for t in self.tasks.indices() {
            let run = &mut self.tasks[t];
            if !matches!(run.state(), TaskState::Running | TaskState::Waiting) {
                continue;
            }
            let Some(w) = run.worker.as_mut().filter(|w| w.exit.is_none()) else {
                continue;
            };
            let light = supervise::light_after_silence(&hb, w.last_beat_ms, now);
            if light != w.heartbeat {
                w.heartbeat = light;
                let silent = now.saturating_sub(w.last_beat_ms);
                changes.push((t, light, format!("no heartbeat for {silent} ms")));
            }
        }
        for (t, light, reason) in changes {
            let event = Event::Timeout {
                light,
                reason: reason.clone(),
                profile: Some(self.tasks[t].profile().to_string()),
                restart_count: Some(self.tasks[t].restarts),
                next_profile: None,
            };
            self.record_task(t, event);
            if light == Light::Dead {
                self.worker_dead(t, reason);
            }
        }
    }

    /// Panes are polled while any worker has one, and while a host does
    /// not answer (the poll is what tries it again).
    pub(super) fn wants_poll(&self) -> bool {
        self.tasks.iter().any(|(_, t)| t.worker.is_some())
            || self.hosts.iter().any(|h| !h.reachable)
    }

    pub(super) fn start_poll(&mut self) {
        if self.polling || !self.wants_poll() || self.now() < self.next_poll_ms {
            return;
        }
        self.polling = true;
        self.effect(Effect::ListPanes);
    }

    /// Pane states from one `list-panes -a`: stalls and dead panes; then the
    /// tails of the panes whose activity changed.
    pub(super) fn on_panes(&mut self, panes: Vec<PaneInfo>, listed_ms: u64) {
        self.polling = false;
        self.next_poll_ms = listed_ms + POLL_MS;
        let by_pane: HashMap<&str, &PaneInfo> =
            panes.iter().map(|p| (p.pane_id.as_str(), p)).collect();
        let stall_ms = self.plan.plan.settings.stall_after_ms as i64;
        let now = self.now() as i64;
        let mut dead = Vec::new();
        let mut stalls = Vec::new();
        let mut changed = Vec::new();
        let mut questions = Vec::new();
        let mut turns = Vec::new();
        let mut titles = Vec::new();
        for t in self.tasks.indices() {
            let run = &mut self.tasks[t];
            let state = run.state();
            let Some(w) = run.worker.as_mut() else {
                continue;
            };
            let Some(pane) = w.pane_id.clone() else {
                continue;
            };
            match by_pane.get(pane.as_str()) {
                Some(info) => {
                    // tmux keeps activity in whole seconds: output later in
                    // the second of the last capture leaves it unchanged, so
                    // that pane is read once more (a dialog drawn just after
                    // a capture would otherwise never be seen).
                    let unread = info
                        .activity
                        .is_some_and(|a| w.captured_ms < (a as u64 + 1) * 1000);
                    if w.activity_s != info.activity || w.activity_s.is_none() || unread {
                        changed.push(pane.clone());
                        w.captured_ms = listed_ms;
                    }
                    w.activity_s = info.activity;
                    // tmux keeps activity in whole seconds: a pane counts as silent
                    // from the end of its last active second.
                    let silent_ms = info.activity.map(|a| now - (a + 1) * 1000).unwrap_or(0);
                    // An agent waiting for an answer is silent on purpose.
                    let waiting = state == TaskState::Waiting;
                    let stalled = !waiting && w.exit.is_none() && silent_ms >= stall_ms;
                    if stalled != w.stalled {
                        w.stalled = stalled;
                        stalls.push((t, stalled));
                    }
                    if silent_ms >= TURN_QUIET_MS
                        && w.screen.busy_seen
                        && w.screen.is_idle()
                        && w.exit.is_none()
                        && state == TaskState::Running
                    {
                        w.screen.busy_seen = false;
                        turns.push(t);
                    }
                    titles.push((t, info.title.clone()));
                    if silent_ms >= QUESTION_QUIET_MS
                        && !w.asked_on_screen
                        && w.exit.is_none()
                        && state == TaskState::Running
                        && let Some(q) = w.screen_question.clone()
                    {
                        w.asked_on_screen = true;
                        questions.push((t, q));
                    }
                    if info.pane_dead && w.conn.is_none() && w.exit.is_none() && state.is_active() {
                        dead.push((t, "the pane is dead and its shim disconnected"));
                    }
                }
                None => {
                    let listed_after_spawn = w.pane_since_ms < listed_ms;
                    if state != TaskState::Assigned
                        && listed_after_spawn
                        && w.conn.is_none()
                        && w.exit.is_none()
                    {
                        dead.push((t, "the tmux pane is gone"));
                    }
                }
            }
        }
        for (t, stalled) in stalls {
            let light = if stalled {
                Light::Stalled
            } else {
                Light::Healthy
            };
            self.record_task(
                t,
                Event::Light {
                    light,
                    reason: None,
                },
            );
        }
        for (t, reason) in dead {
            self.worker_dead(t, reason.to_string());
        }
        for t in turns {
            if self.phase == RunPhase::Running {
                self.turn_finished(t);
            }
        }
        for (t, question) in questions {
            if self.phase == RunPhase::Running {
                self.set_state(t, TaskState::Waiting, Some(format!("asks: {question}")));
            }
        }
        // Titles come with every poll; a screen's rules also act on time
        // passing (a dialog answered that did not go away).
        for (t, title) in titles {
            self.read_agent_screen(t, None, Some(&title), None);
        }
        self.send_due_enters();
        if !changed.is_empty() {
            self.early.stirred = true;
            self.effect(Effect::CaptureTails { panes: changed });
        }
    }

    /// The screens of changed panes: each worker's last line, its
    /// profile's prompt rules (on the last lines), its screen rules (on the
    /// whole screen), and any question on it.
    pub(super) fn on_tails(&mut self, screens: HashMap<String, Vec<String>>) {
        for (pane, screen) in screens {
            let Some(t) = self.tasks.by_pane(&pane) else {
                continue;
            };
            let tail = screen[screen.len().saturating_sub(TAIL_LINES)..].to_vec();
            if let Some(line) = prompts::last_output(&tail)
                && self.tasks[t].pane_line.as_deref() != Some(line)
            {
                // Pane text is live only: never journaled, so not folded.
                self.tasks[t].pane_line = Some(line.to_string());
                self.dirty = true;
            }
            self.read_rate_limit(t, &tail);
            let ruled = self.apply_prompt_rules(t, &tail);
            let known = self.read_agent_screen(t, Some(screen), None, Some(ruled));
            self.read_screen_question(t, &tail, ruled || known);
        }
    }

    /// Any command's question, with no rule for it: remembered here, and
    /// WAITING once the pane stays quiet (see `on_panes`); answered when the
    /// screen no longer reads as that question.
    fn read_screen_question(&mut self, t: TaskIdx, tail: &[String], ruled: bool) {
        let state = self.tasks[t].state();
        let Some(w) = self.tasks[t].worker.as_mut() else {
            return;
        };
        let question = (!ruled)
            .then(|| prompts::reads_as_question(tail))
            .flatten()
            .map(str::to_string);
        let same = match (&question, &w.screen_question) {
            // The answer typed after it (`Proceed? [y/N] y`) is the same question.
            (Some(now), Some(before)) => now.starts_with(before.as_str()),
            _ => false,
        };
        if same {
            return;
        }
        w.screen_question = question;
        if std::mem::take(&mut w.asked_on_screen) && state == TaskState::Waiting {
            let reason = "the question is answered".to_string();
            self.set_state(t, TaskState::Running, Some(reason));
        }
    }

    /// A profile's `promptRules` on a pane's tail: a rule with `send` answers
    /// a new question once; one without flags the worker WAITING until the
    /// question is answered. Returns whether a rule matched the tail.
    fn apply_prompt_rules(&mut self, t: TaskIdx, tail: &[String]) -> bool {
        let state = self.tasks[t].state();
        // Only a working agent is answered or flagged: not one being
        // validated, merged or halted.
        let working = matches!(
            state,
            TaskState::Assigned | TaskState::Running | TaskState::Waiting
        );
        if !working || self.phase != RunPhase::Running {
            return false;
        }
        let plan = self.plan.clone();
        let Some(rules) = plan
            .plan
            .agents
            .get(self.tasks[t].profile())
            .map(|a| &a.prompt_rules)
            .filter(|r| !r.is_empty())
        else {
            return false;
        };
        let Some(w) = self.tasks[t].worker.as_mut() else {
            return false;
        };
        if w.pane_id.is_none() {
            return false;
        }
        let found = prompts::matching(rules, tail);
        let line = found.map_or("", |(_, line, _)| line).to_string();
        match w.prompt.step(found) {
            PromptChange::Ask(i) => {
                let rule = &rules[i];
                let pattern = rule.pattern.clone();
                if let Some(answer) = rule.send.clone() {
                    self.type_into(t, answer.clone());
                    let event = Event::PromptAnswered {
                        pattern,
                        line,
                        sent: answer,
                    };
                    self.record_task(t, event);
                } else {
                    w.prompt.waiting = true;
                    // Already waiting (its report, or restored on re-adoption):
                    // this question's answer is what ends it.
                    if state != TaskState::Waiting {
                        let reason = format!("asks: {line}");
                        self.record_task(t, Event::Prompt { pattern, line });
                        self.set_state(t, TaskState::Waiting, Some(reason));
                    }
                }
            }
            PromptChange::Answered if state == TaskState::Waiting => {
                let reason = "the question is answered".to_string();
                self.set_state(t, TaskState::Running, Some(reason));
            }
            PromptChange::Answered | PromptChange::Nothing => {}
        }
        found.is_some()
    }

    /// Tasks at work and their branches, for the early warning.
    fn scan_targets(&self) -> Vec<(usize, String)> {
        self.tasks
            .iter()
            .filter(|(_, r)| r.state().is_active() && r.state() != TaskState::Assigned)
            .map(|(t, r)| (t.0, r.placement.branch.clone()))
            .collect()
    }

    pub(super) fn scan_due_ms(&self) -> Option<u64> {
        let busy = self.early.in_flight
            || !self.early.stirred
            || !self
                .tasks
                .iter()
                .any(|(_, r)| r.state().is_active() && r.state() != TaskState::Assigned);
        (!busy).then_some(self.early.next_ms)
    }

    /// Start a scan when one is due, none is running and tasks are at work.
    pub(super) fn start_scan(&mut self) {
        if self.early.in_flight || !self.early.stirred || self.now() < self.early.next_ms {
            return;
        }
        let active = self.scan_targets();
        if active.is_empty() {
            return;
        }
        self.early.in_flight = true;
        self.early.stirred = false;
        let req = ScanRequest {
            integration: self.plan.plan.settings.integration_branch.clone(),
            active,
            previous: self.early.heads.clone(),
        };
        self.effect(Effect::Scan(req));
    }

    pub(super) fn on_scanned(&mut self, result: ScanResult) {
        self.early.in_flight = false;
        self.early.next_ms = self.now() + SCAN_EVERY_MS;
        self.early.heads = result.heads;
        for w in result.warnings {
            if !self.early.is_new(&w) {
                continue;
            }
            let t = TaskIdx(w.task);
            let event = match w.other {
                Other::Integration => Event::ConflictWarning {
                    files: w.files,
                    with: self.plan.plan.settings.integration_branch.clone(),
                    with_task: None,
                },
                Other::Task(u) => {
                    let other = self.task_id(TaskIdx(u)).to_string();
                    Event::ConflictWarning {
                        files: w.files,
                        with: other.clone(),
                        with_task: Some(other),
                    }
                }
            };
            self.record_task(t, event);
        }
    }
}

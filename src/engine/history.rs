//! A [`Snapshot`] rebuilt from journal entries alone: what a front end would
//! have shown at the journal's last line. Screen tests replay a recorded
//! journal through it, so they draw what a real run wrote, not a hand-made
//! picture of one.

use super::journal::Entry;
use super::snapshot::{
    AttemptOutcome, AttemptSpan, HaltReport, Light, RunPhase, Snapshot, TaskState, TaskView,
    end_last_attempt, group_views,
};
use super::words;
use crate::plan::ValidPlan;
use crate::worker::protocol::ExitStatus;
use std::collections::HashMap;

/// What a replayed task learned so far beyond its [`TaskView`].
#[derive(Default)]
struct Pending {
    /// How the running attempt ended, told by an `exit`, a DEAD light or an
    /// ERROR report before the supervision event that closes its span.
    outcome: Option<AttemptOutcome>,
}

/// Fold `entries` (oldest first) into the snapshot of `plan` at `now_ms`.
/// Pane text is not journaled, so a task's last line is its last report or
/// reason instead of its pane's last output.
pub fn snapshot(plan: &ValidPlan, plan_name: &str, entries: &[Entry], now_ms: u64) -> Snapshot {
    let mut tasks: Vec<TaskView> = plan
        .task_order
        .iter()
        .map(|&t| TaskView::planned(&plan.plan.tasks[t]))
        .collect();
    let index: HashMap<String, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.clone(), i))
        .collect();
    let mut pending: Vec<Pending> = tasks.iter().map(|_| Pending::default()).collect();
    let mut snap = Snapshot {
        plan_name: plan_name.to_string(),
        integration_branch: plan.plan.settings.integration_branch.clone(),
        tmux_socket: plan.plan.settings.tmux.socket.clone(),
        phase: RunPhase::Idle,
        started_ms: entries.first().map_or(now_ms, |e| e.ts_ms),
        now_ms,
        groups: group_views(plan),
        tasks: Vec::new(),
        log_tail: Vec::new(),
        log_total: 0,
        last_halt: None,
    };
    for e in entries {
        if let Some(line) = words::log_line(e) {
            snap.log_tail.push(line);
            snap.log_total += 1;
        }
        apply_run_event(&mut snap, e);
        if let Some(&i) = e.task.as_deref().and_then(|id| index.get(id)) {
            apply_task_event(&mut tasks[i], &mut pending[i], e);
        }
    }
    snap.tasks = tasks;
    // The engine keeps as many lines; log_total still counts them all.
    let excess = snap.log_tail.len().saturating_sub(super::actor::LOG_TAIL);
    snap.log_tail.drain(..excess);
    snap
}

fn apply_run_event(snap: &mut Snapshot, e: &Entry) {
    match e.event.as_str() {
        "run_started" => {
            // A journal spans every run in the repo. As a new engine does, the
            // clock restarts while tasks keep what earlier runs did to them.
            snap.started_ms = e.ts_ms;
            let selected = !e.str("selection").unwrap_or("").is_empty();
            snap.phase = if selected {
                RunPhase::Running
            } else {
                RunPhase::Idle
            };
        }
        "halt" => {
            snap.phase = RunPhase::Halted;
            snap.last_halt =
                serde_json::from_value::<HaltReport>(serde_json::Value::Object(e.details.clone()))
                    .ok();
        }
        "resume" => snap.phase = RunPhase::Running,
        "run_finished" => snap.phase = RunPhase::Finished,
        "interrupted" => snap.phase = RunPhase::Halted,
        // The first task event of a TUI run that began idle means work started.
        "state" if snap.phase == RunPhase::Idle => snap.phase = RunPhase::Running,
        _ => {}
    }
}

fn apply_task_event(task: &mut TaskView, pending: &mut Pending, e: &Entry) {
    let attempt = e.attempt.unwrap_or(task.attempt);
    match e.event.as_str() {
        "state" => {
            let Some(state) = e.str("state").and_then(parse_state) else {
                return;
            };
            if let Some(profile) = e.str("profile") {
                task.profile = profile.to_string();
            }
            if let Some(reason) = e.str("reason") {
                task.message = Some(reason.to_string());
                task.last_line = reason.to_string();
            }
            if state == TaskState::Assigned
                && task.attempts.last().map(|s| s.attempt) != Some(attempt)
            {
                task.attempts.push(AttemptSpan {
                    attempt,
                    profile: task.profile.clone(),
                    started_ms: e.ts_ms,
                    ended_ms: None,
                    outcome: None,
                });
                task.attempt = attempt;
                task.restarts = super::task::restarts(&task.attempts);
                task.light = Light::Healthy;
                *pending = Pending::default();
            }
            let ended = match state {
                TaskState::Done => Some(AttemptOutcome::Done),
                TaskState::Conflict => Some(AttemptOutcome::Conflict),
                TaskState::Halted => Some(AttemptOutcome::Halted),
                TaskState::Cancelled => Some(AttemptOutcome::Cancelled),
                TaskState::Skipped => Some(AttemptOutcome::Skipped),
                TaskState::Failed => Some(pending.outcome.unwrap_or(AttemptOutcome::Failed)),
                _ => None,
            };
            if let Some(outcome) = ended {
                end_last_attempt(&mut task.attempts, outcome, e.ts_ms);
            }
            task.state = state;
            task.light = match state {
                TaskState::Waiting => Light::Waiting,
                s if s.is_active() && task.light != Light::Waiting => task.light,
                s if s.is_active() => Light::Healthy,
                _ => Light::Idle,
            };
        }
        "spawned" => {
            task.session = e.str("session").map(str::to_string);
            task.pane_id = e.str("pane").map(str::to_string);
            task.worktree = e.str("worktree").map(str::to_string);
            task.branch = e.str("branch").map(str::to_string);
        }
        // LATE and MISSING are journaled as `timeout`, STALLED and back as `light`.
        "light" | "timeout" => {
            if task.state.is_active() && task.state != TaskState::Waiting {
                task.light = match e.str("light") {
                    Some("LATE") => Light::Late,
                    Some("MISSING") => Light::Missing,
                    Some("DEAD") => Light::Dead,
                    Some("STALLED") => Light::Stalled,
                    _ => Light::Healthy,
                };
            }
            if e.str("light") == Some("DEAD") {
                pending.outcome = Some(AttemptOutcome::Crashed);
            }
        }
        "exit" => {
            // Judged as the engine judged it, from the status it journaled.
            let field = |k: &str| {
                e.details
                    .get(k)
                    .and_then(|v| v.as_i64())
                    .and_then(|n| i32::try_from(n).ok())
            };
            let status = ExitStatus {
                code: field("code"),
                signal: field("signal"),
            };
            pending.outcome = Some(if status.by_signal() {
                AttemptOutcome::Crashed
            } else {
                AttemptOutcome::Failed
            });
            task.last_line = format!("agent exited: {}", e.str("how").unwrap_or(""));
        }
        "report" => {
            let state = e.str("state").unwrap_or("");
            if state == "ERROR" {
                pending.outcome = Some(AttemptOutcome::Failed);
            }
            task.last_line = match e.str("message") {
                Some(m) => m.to_string(),
                None => format!("reported {state}"),
            };
        }
        "merged" => {
            task.last_line = words::merged_into(
                e.str("branch").unwrap_or("the integration branch"),
                e.str("commit").unwrap_or(""),
            );
        }
        // The supervision chain closes the failed attempt's span.
        "restart" | "escalation" | "failure" => {
            let journaled = e
                .details
                .get("outcome")
                .and_then(|v| serde_json::from_value(v.clone()).ok());
            let outcome = journaled
                .or(pending.outcome)
                .unwrap_or(AttemptOutcome::Failed);
            end_last_attempt(&mut task.attempts, outcome, e.ts_ms);
            if let Some(reason) = e.str("reason") {
                task.message = Some(reason.to_string());
            }
        }
        "validation" if e.details.get("ok").and_then(|v| v.as_bool()) == Some(false) => {
            pending.outcome = Some(AttemptOutcome::Failed);
        }
        _ => {}
    }
}

fn parse_state(s: &str) -> Option<TaskState> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata as fixture;

    fn outcomes(task: &TaskView) -> Vec<Option<AttemptOutcome>> {
        task.attempts.iter().map(|s| s.outcome).collect()
    }

    fn task<'a>(snap: &'a Snapshot, id: &str) -> &'a TaskView {
        snap.tasks.iter().find(|t| t.id == id).expect("task")
    }

    #[test]
    fn a_recorded_run_replays_into_what_the_engine_showed() {
        use AttemptOutcome::*;
        let snap = fixture::recorded_mid_run();
        assert_eq!(snap.phase, RunPhase::Running);
        assert_eq!(snap.tasks.len(), 22);
        // Crashed twice (killed, exit 137 through sh), running on its fallback.
        let t4 = task(&snap, "T4");
        assert_eq!((t4.state, t4.light), (TaskState::Running, Light::Healthy));
        assert_eq!(outcomes(t4), [Some(Crashed), Some(Crashed), None]);
        assert_eq!(
            (t4.attempt, t4.restarts, t4.profile.as_str()),
            (3, 2, "generalist")
        );
        let t5 = task(&snap, "T5");
        assert_eq!(t5.state, TaskState::Failed);
        assert_eq!(outcomes(t5), [Some(Failed), Some(Failed)]);
        let t6 = task(&snap, "T6");
        assert_eq!(t6.state, TaskState::Conflict);
        assert_eq!(outcomes(t6), [Some(Conflict)]);
        let t7 = task(&snap, "T7");
        assert_eq!((t7.state, t7.light), (TaskState::Waiting, Light::Waiting));
        assert!(t7.last_line.contains("advisory locks"), "{}", t7.last_line);
        let t1 = task(&snap, "T1");
        assert_eq!(t1.state, TaskState::Done);
        assert!(
            t1.last_line
                .starts_with("merged into switchboard/integration")
        );
        assert!(
            t1.worktree
                .as_deref()
                .unwrap_or("")
                .ends_with("agent-T1-database-engineer")
        );
        assert_eq!(task(&snap, "T9").state, TaskState::Pending);
        assert!(snap.last_halt.is_none());
        assert_eq!(snap.log_total as usize, snap.log_tail.len());
    }

    #[test]
    fn the_halt_closes_running_attempts_and_carries_its_report() {
        let snap = fixture::recorded_halted();
        assert_eq!(snap.phase, RunPhase::Halted);
        let report = snap.last_halt.as_ref().expect("report");
        assert!(report.all_acked);
        assert_eq!(report.workers.len(), 2);
        for id in ["T4", "T7"] {
            let t = task(&snap, id);
            assert_eq!((t.state, t.light), (TaskState::Halted, Light::Idle));
            assert_eq!(
                t.attempts.last().and_then(|s| s.outcome),
                Some(AttemptOutcome::Halted)
            );
        }
    }

    #[test]
    fn lights_follow_the_worker_and_a_dead_one_ends_as_a_crash() {
        let plan = fixture::recorded_plan();
        let at = |ms: u64, event: &str, attempt: u32| Entry::new(event, ms).task("T1", attempt);
        let entries = vec![
            Entry::new("run_started", 0).with("selection", "T1"),
            at(10, "state", 1)
                .with("state", "assigned")
                .with("profile", "p"),
            at(20, "state", 1)
                .with("state", "running")
                .with("profile", "p"),
            // As the engine writes them: LATE is a timeout, DEAD a light.
            at(30, "timeout", 1).with("light", "LATE"),
        ];
        let snap = snapshot(&plan, "x", &entries, 100);
        assert_eq!(task(&snap, "T1").light, Light::Late);
        let mut more = entries.clone();
        more.push(at(40, "light", 1).with("light", "DEAD"));
        more.push(
            at(41, "restart", 1)
                .with("reason", "heartbeat DEAD")
                .with("outcome", "crashed"),
        );
        more.push(
            at(41, "state", 1)
                .with("state", "pending")
                .with("profile", "p"),
        );
        let snap = snapshot(&plan, "x", &more, 100);
        let t1 = task(&snap, "T1");
        assert_eq!((t1.state, t1.light), (TaskState::Pending, Light::Idle));
        assert_eq!(outcomes(t1), [Some(AttemptOutcome::Crashed)]);
        assert_eq!(t1.attempts[0].ended_ms, Some(41));
        assert_eq!(t1.message.as_deref(), Some("heartbeat DEAD"));
    }

    /// What a new engine takes from the replay of earlier runs.
    #[test]
    fn an_earlier_engine_s_last_attempt_restarts_and_question() {
        use crate::engine::task::AttemptStart;
        let plan = fixture::recorded_plan();
        let at = |ms: u64, event: &str, attempt: u32| Entry::new(event, ms).task("T1", attempt);
        let assigned = |ms: u64, attempt: u32, profile: &str| {
            at(ms, "state", attempt)
                .with("state", "assigned")
                .with("profile", profile)
        };
        let entries = vec![
            assigned(1, 1, "p"),
            at(2, "restart", 1).with("outcome", "crashed"),
            assigned(3, 2, "p"),
            at(4, "escalation", 2).with("outcome", "crashed"),
            assigned(5, 3, "fallback"),
            at(6, "state", 3)
                .with("state", "waiting")
                .with("reason", "which database?"),
        ];
        let snap = snapshot(&plan, "x", &entries, 10);
        let t1 = task(&snap, "T1");
        assert_eq!(t1.restarts, 2);
        let start = AttemptStart::of(t1).expect("T1 started");
        assert_eq!(
            (start.attempt, start.profile.as_str(), start.started_ms),
            (3, "fallback", 5)
        );
        assert_eq!(start.waiting.as_deref(), Some("which database?"));
        let mut answered = entries.clone();
        answered.push(at(7, "state", 3).with("state", "running"));
        let snap = snapshot(&plan, "x", &answered, 10);
        assert_eq!(
            AttemptStart::of(task(&snap, "T1")).expect("T1").waiting,
            None
        );
    }
}

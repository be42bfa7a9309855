//! A [`Snapshot`] rebuilt from journal entries alone: what a front end would
//! have shown at the journal's last line. Screen tests replay a recorded
//! journal through it, so they draw what a real run wrote, not a hand-made
//! picture of one. Tasks go through the same fold as the live engine's
//! ([`super::fold`]).

use super::event::{Entry, Event};
use super::fold::TaskRecord;
use super::snapshot::{RunPhase, Snapshot, group_views};
use super::words;
use crate::plan::ValidPlan;
use std::collections::HashMap;

/// How many log lines a snapshot carries (front ends keep longer histories).
pub const LOG_TAIL: usize = 300;

/// Each task of `plan` (by plan index) folded from `entries`.
pub fn records(plan: &ValidPlan, entries: &[Entry]) -> Vec<TaskRecord> {
    let mut records: Vec<TaskRecord> = plan.plan.tasks.iter().map(TaskRecord::planned).collect();
    // A pool's task starts on the pool's profile.
    for (t, r) in records.iter_mut().enumerate() {
        if plan.pool_of[t].is_some() {
            r.view.profile = plan.first_profile(t).to_string();
        }
    }
    let index: HashMap<&str, usize> = plan
        .plan
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.task_id.as_str(), i))
        .collect();
    for e in entries {
        if let Some(&i) = e.task.as_deref().and_then(|id| index.get(id)) {
            records[i].apply(e);
        }
    }
    records
}

/// Fold `entries` (oldest first) into the snapshot of `plan` at `now_ms`.
/// Pane text is not journaled, so a task's last line is its last report or
/// reason instead of its pane's last output.
pub fn snapshot(plan: &ValidPlan, plan_name: &str, entries: &[Entry], now_ms: u64) -> Snapshot {
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
        limits: Default::default(),
        pools: Vec::new(),
        hosts: Vec::new(),
        local_capacity: None,
    };
    for e in entries {
        if let Some(line) = words::log_line(e) {
            snap.log_tail.push(line);
            snap.log_total += 1;
        }
        apply_run_event(&mut snap, e);
    }
    let records = records(plan, entries);
    snap.tasks = plan
        .task_order
        .iter()
        .map(|&t| records[t].view.clone())
        .collect();
    // The engine keeps as many lines; log_total still counts them all.
    let excess = snap.log_tail.len().saturating_sub(LOG_TAIL);
    snap.log_tail.drain(..excess);
    snap
}

fn apply_run_event(snap: &mut Snapshot, e: &Entry) {
    match &e.event {
        Event::RunStarted { selection } => {
            // A journal spans every run in the repo. As a new engine does, the
            // clock restarts while tasks keep what earlier runs did to them.
            snap.started_ms = e.ts_ms;
            snap.phase = if selection.is_empty() {
                RunPhase::Idle
            } else {
                RunPhase::Running
            };
        }
        Event::Halt(report) => {
            snap.phase = RunPhase::Halted;
            snap.last_halt = Some(report.clone());
        }
        Event::Resume => snap.phase = RunPhase::Running,
        Event::RunFinished { .. } => snap.phase = RunPhase::Finished,
        Event::Interrupted { .. } => snap.phase = RunPhase::Halted,
        // The first task event of a TUI run that began idle means work started.
        Event::State { .. } if snap.phase == RunPhase::Idle => snap.phase = RunPhase::Running,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::event::Supervision;
    use crate::engine::snapshot::{AttemptOutcome, Light, TaskState, TaskView};
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

    fn at(ms: u64, event: Event, attempt: u32) -> Entry {
        Entry::new(event, ms).task("T1", attempt)
    }

    fn state(state: TaskState, profile: &str, reason: Option<&str>) -> Event {
        Event::State {
            state,
            profile: profile.into(),
            reason: reason.map(str::to_string),
        }
    }

    fn supervision(outcome: AttemptOutcome, reason: &str) -> Supervision {
        Supervision {
            reason: reason.into(),
            outcome: Some(outcome),
            ..Default::default()
        }
    }

    #[test]
    fn lights_follow_the_worker_and_a_dead_one_ends_as_a_crash() {
        let plan = fixture::recorded_plan();
        let entries = vec![
            Entry::new(
                Event::RunStarted {
                    selection: "T1".into(),
                },
                0,
            ),
            at(10, state(TaskState::Assigned, "p", None), 1),
            at(20, state(TaskState::Running, "p", None), 1),
            // As the engine writes them: LATE is a timeout, DEAD a light.
            at(
                30,
                Event::Timeout {
                    light: Light::Late,
                    reason: "no heartbeat".into(),
                    profile: None,
                    restart_count: None,
                    next_profile: None,
                },
                1,
            ),
        ];
        let snap = snapshot(&plan, "x", &entries, 100);
        assert_eq!(task(&snap, "T1").light, Light::Late);
        let mut more = entries.clone();
        more.push(at(
            40,
            Event::Light {
                light: Light::Dead,
                reason: None,
            },
            1,
        ));
        more.push(at(
            41,
            Event::Restart(supervision(AttemptOutcome::Crashed, "heartbeat DEAD")),
            1,
        ));
        more.push(at(41, state(TaskState::Pending, "p", None), 1));
        let snap = snapshot(&plan, "x", &more, 100);
        let t1 = task(&snap, "T1");
        assert_eq!((t1.state, t1.light), (TaskState::Pending, Light::Idle));
        assert_eq!(outcomes(t1), [Some(AttemptOutcome::Crashed)]);
        assert_eq!(t1.attempts[0].ended_ms, Some(41));
        assert_eq!(t1.message.as_deref(), Some("heartbeat DEAD"));
    }

    /// What a new engine takes from the replay of earlier runs.
    #[test]
    fn an_earlier_engine_s_attempts_restarts_and_question() {
        let plan = fixture::recorded_plan();
        let assigned =
            |ms, attempt, profile| at(ms, state(TaskState::Assigned, profile, None), attempt);
        let entries = vec![
            assigned(1, 1, "p"),
            at(
                2,
                Event::Restart(supervision(AttemptOutcome::Crashed, "x")),
                1,
            ),
            assigned(3, 2, "p"),
            at(
                4,
                Event::Escalation(supervision(AttemptOutcome::Crashed, "y")),
                2,
            ),
            assigned(5, 3, "fallback"),
            at(
                6,
                state(TaskState::Waiting, "fallback", Some("which database?")),
                3,
            ),
        ];
        let snap = snapshot(&plan, "x", &entries, 10);
        let t1 = task(&snap, "T1");
        assert_eq!(t1.restarts, 2);
        let last = t1.attempts.last().expect("T1 started");
        assert_eq!(
            (last.attempt, last.profile.as_str(), last.started_ms),
            (3, "fallback", 5)
        );
        assert_eq!(t1.state, TaskState::Waiting);
        assert_eq!(t1.message.as_deref(), Some("which database?"));
    }

    /// An adopted attempt that the journal never saw start still gets its span.
    #[test]
    fn adoption_opens_the_attempt_once() {
        let plan = fixture::recorded_plan();
        let entries = vec![
            at(1, state(TaskState::Assigned, "p", None), 4),
            at(
                2,
                Event::Adopted {
                    profile: "p".into(),
                },
                4,
            ),
            at(
                3,
                Event::Adopted {
                    profile: "q".into(),
                },
                5,
            ),
        ];
        let snap = snapshot(&plan, "x", &entries, 10);
        let t1 = task(&snap, "T1");
        let spans: Vec<(u32, &str)> = t1
            .attempts
            .iter()
            .map(|s| (s.attempt, s.profile.as_str()))
            .collect();
        assert_eq!(spans, [(4, "p"), (5, "q")]);
    }
}

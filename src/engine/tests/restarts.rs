//! The supervision chain (restart → fallback → failure) and adoption of an
//! earlier engine's live worker.

use super::{PLAN, spawns};
use crate::engine::event::{Entry, Event};
use crate::engine::fixture::{Fixture, Start, T0, spawned};
use crate::engine::snapshot::{AttemptOutcome, Light, TaskState};
use crate::worker::protocol::ReportState;

#[test]
fn restart_then_fallback_then_failure() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2", "T3"]);
    fx.hello("T1", 1);
    fx.exit("T1", 1);
    assert_eq!(fx.state("T1"), TaskState::Pending);
    assert!(matches!(fx.events("T1").last(), Some(Event::State { .. })));
    fx.advance(1000);
    fx.hello("T1", 2);
    fx.exit("T1", 1);
    // One restart allowed: the fallback profile takes over.
    assert!(fx.events("T1").iter().any(|e| matches!(
        e,
        Event::Escalation(s) if s.next_profile.as_deref() == Some("careful")
    )));
    fx.advance(1000);
    assert_eq!(
        spawns(&fx, "T1"),
        [(1, "dev".into()), (2, "dev".into()), (3, "careful".into())]
    );
    fx.hello("T1", 3);
    fx.exit("T1", 1);
    fx.advance(2000);
    fx.hello("T1", 4);
    fx.exit("T1", 1);
    let t1 = fx.snapshot_task("T1");
    assert_eq!(t1.state, TaskState::Failed);
    assert_eq!(t1.profile, "careful");
    assert_eq!(t1.restarts, 3);
    let outcomes: Vec<_> = t1.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, [Some(AttemptOutcome::Failed); 4]);
    assert_eq!(fx.state("T3"), TaskState::Skipped);
}

/// Exit 127: the program is missing, so the same profile is not tried
/// again; the fallback is.
#[test]
fn command_not_found_is_not_restarted() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    fx.exit("T1", 127);
    let t1 = fx.snapshot_task("T1");
    assert!(t1.message.unwrap_or_default().contains("command not found"));
    assert!(matches!(
        fx.events("T1").iter().rev().nth(1),
        Some(Event::Escalation(_))
    ));
    fx.advance(1000);
    assert_eq!(
        spawns(&fx, "T1"),
        [(1, "dev".into()), (2, "careful".into())]
    );
}

#[test]
fn a_crash_by_signal_is_a_crash() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    fx.exit("T1", 137);
    let outcome = fx.snapshot_task("T1").attempts[0].outcome;
    assert_eq!(outcome, Some(AttemptOutcome::Crashed));
}

/// What an earlier engine journaled of T1: attempt 2 on the fallback, waiting.
pub(super) fn earlier_run() -> Vec<Entry> {
    let at = |ms: u64, event: Event, attempt: u32| {
        Entry::new(event, T0 - 10_000 + ms).task("T1", attempt)
    };
    let state = |state, profile: &str, reason: Option<&str>| Event::State {
        state,
        profile: profile.into(),
        reason: reason.map(str::to_string),
    };
    vec![
        Entry::new(
            Event::RunStarted {
                selection: "T1".into(),
            },
            T0 - 10_000,
        ),
        at(1, state(TaskState::Assigned, "dev", None), 1),
        at(2, spawned("T1", 1, "dev"), 1),
        at(2, state(TaskState::Running, "dev", None), 1),
        at(
            3,
            Event::Escalation(crate::engine::event::Supervision {
                reason: "exit 1".into(),
                outcome: Some(AttemptOutcome::Failed),
                next_profile: Some("careful".into()),
                ..Default::default()
            }),
            1,
        ),
        at(4, state(TaskState::Assigned, "careful", None), 2),
        at(5, spawned("T1", 2, "careful"), 2),
        at(5, state(TaskState::Running, "careful", None), 2),
        at(
            6,
            state(TaskState::Waiting, "careful", Some("which db?")),
            2,
        ),
    ]
}

#[test]
fn a_new_engine_adopts_a_live_worker_as_it_was() {
    let mut fx = Fixture::start(
        PLAN,
        Start {
            journal: earlier_run(),
            live: vec!["T1"],
            ..Default::default()
        },
    );
    // Held for its shim to come back: not started again.
    fx.advance(1000);
    assert!(spawns(&fx, "T1").is_empty());
    assert_eq!(fx.state("T1"), TaskState::Pending);
    fx.hello("T1", 2);
    let t1 = fx.snapshot_task("T1");
    assert_eq!((t1.state, t1.light), (TaskState::Waiting, Light::Waiting));
    assert_eq!(t1.message.as_deref(), Some("which db?"));
    assert_eq!(t1.profile, "careful");
    assert_eq!(t1.attempt, 2);
    // Its attempt keeps the start the earlier engine journaled.
    assert_eq!(t1.attempts.len(), 2);
    assert_eq!(t1.attempts[1].started_ms, T0 - 10_000 + 4);
    fx.report("T1", ReportState::Start, None);
    fx.exit("T1", 0);
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert!(spawns(&fx, "T1").is_empty(), "never started twice");
}

#[test]
fn a_worker_that_does_not_come_back_is_started_again_after_the_grace() {
    let mut fx = Fixture::start(
        PLAN,
        Start {
            journal: earlier_run(),
            live: vec!["T1"],
            select: vec!["T1"],
            ..Default::default()
        },
    );
    fx.advance(2999);
    assert!(spawns(&fx, "T1").is_empty());
    fx.advance(1);
    // A fresh attempt: the task's own profile and its whole fallback chain.
    assert_eq!(spawns(&fx, "T1"), [(3, "dev".into())]);
    // The earlier engine's attempt 2 was cut off, not failed: it ends where
    // its last event was, and is not counted as a restart.
    let t1 = fx.snapshot_task("T1");
    let a2 = &t1.attempts[1];
    assert_eq!((a2.attempt, a2.outcome), (2, Some(AttemptOutcome::Halted)));
    assert_eq!(a2.ended_ms, Some(T0 - 10_000 + 6));
    assert_eq!(t1.restarts, 1);
}

#[test]
fn a_merged_task_stays_done_in_a_new_engine() {
    let mut journal = earlier_run();
    journal.push(
        Entry::new(
            Event::Merged {
                commit: "abc".into(),
                branch: "switchboard/integration".into(),
            },
            T0 - 1,
        )
        .task("T1", 2),
    );
    let fx = Fixture::start(
        PLAN,
        Start {
            journal,
            select: vec!["T1"],
            ..Default::default()
        },
    );
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert!(spawns(&fx, "T1").is_empty());
}

/// A control room reopened on a journal: tasks show as they ended, on the
/// profile they reached, with every attempt; a person restarts them there.
#[test]
fn a_reopened_control_room_shows_tasks_as_they_ended() {
    let mut journal = earlier_run();
    let at = |ms: u64, event: Event| Entry::new(event, T0 - 10_000 + ms).task("T1", 2);
    journal.push(at(
        7,
        Event::Failure(crate::engine::event::Supervision {
            profile: Some("careful".into()),
            reason: "exit 1".into(),
            outcome: Some(AttemptOutcome::Failed),
            ..Default::default()
        }),
    ));
    journal.push(at(
        7,
        Event::State {
            state: TaskState::Failed,
            profile: "careful".into(),
            reason: Some("exit 1".into()),
        },
    ));
    let mut fx = Fixture::start(
        PLAN,
        Start {
            journal,
            ..Default::default()
        },
    );
    let t1 = fx.snapshot_task("T1");
    assert_eq!(
        (t1.state, t1.profile.as_str()),
        (TaskState::Failed, "careful")
    );
    assert_eq!((t1.attempt, t1.attempts.len(), t1.restarts), (2, 2, 1));
    assert_eq!(t1.message.as_deref(), Some("exit 1"));
    let restart = crate::engine::command::Command::Restart { task: "T1".into() };
    assert_eq!(fx.request(restart), crate::engine::command::Reply::Ok);
    assert_eq!(spawns(&fx, "T1"), [(3, "careful".into())]);
}

/// `timeoutMinutes`: the task's own wins over its profile's and the plan's;
/// an attempt still at work then fails and restarts as any failure does.
#[test]
fn an_attempt_past_its_timeout_fails_and_restarts() {
    let plan = PLAN
        .replace(
            "  stallAfterMs: 30000\n",
            "  stallAfterMs: 30000\n  timeoutMinutes: 10\n",
        )
        .replace(
            "    command: \"true\"\n    fallbacks",
            "    command: \"true\"\n    timeoutMinutes: 5\n    fallbacks",
        )
        .replace(
            "    agent: { type: dev }\n  - taskId: T2",
            "    agent: { type: dev }\n    timeoutMinutes: 0.05\n  - taskId: T2",
        );
    let mut fx = Fixture::new(&plan, &["T1", "T2"]);
    fx.hello("T1", 1);
    fx.hello("T2", 1);
    for ms in [1000, 1000, 999] {
        fx.advance(ms);
        fx.beat("T1");
        fx.beat("T2");
    }
    assert_eq!(fx.state("T1"), TaskState::Running, "3 s is 0.05 min");
    fx.advance(1);
    let t1 = fx.snapshot_task("T1");
    assert_eq!(t1.state, TaskState::Pending);
    assert_eq!(t1.message.as_deref(), Some("timed out after 3 s"));
    assert_eq!(t1.attempts[0].outcome, Some(AttemptOutcome::Failed));
    assert!(fx.told("T1").iter().any(|m| matches!(
        m,
        crate::worker::protocol::EngineMessage::Halt { halt_id: 0, .. }
    )));
    // T2 has its profile's 5 minutes.
    assert_eq!(fx.state("T2"), TaskState::Running);
    for _ in 0..300 {
        fx.advance(1000);
        fx.beat("T2");
    }
    assert_eq!(
        fx.snapshot_task("T2").message.as_deref(),
        Some("timed out after 5 min")
    );
}

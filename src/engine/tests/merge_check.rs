//! The merge queue's integration check (issue 13 item 6): a check that
//! fails on the merged tree blocks the merge (the branch does not move),
//! journals why, skips the dependents, and lets the queue go on; a recheck
//! after a fix puts the task back in the queue.

use super::{PLAN, merges, spawns};
use crate::engine::command::{Command, Reply};
use crate::engine::event::Event;
use crate::engine::fixture::Fixture;
use crate::engine::snapshot::TaskState;

/// T1's integration check fails; T2 merges after it; T3 (needs both) skipped.
fn blocked_t1() -> Fixture {
    let mut fx = Fixture::new(PLAN, &["T1", "T2", "T3"]);
    fx.os
        .script_integration_check("T1", false, "test result: FAILED. 1 failed");
    fx.os
        .script_integration_check("T2", true, "test result: ok");
    fx.run_through("T1");
    fx.run_through("T2");
    fx
}

#[test]
fn a_failing_integration_check_blocks_the_merge_and_says_why() {
    let fx = blocked_t1();
    let t1 = fx.snapshot_task("T1");
    assert_eq!(t1.state, TaskState::MergeBlocked);
    // Its attempt ended blocked, not in a conflict (history, detail view).
    let last = t1.attempts.last().and_then(|a| a.outcome);
    assert_eq!(
        last,
        Some(crate::engine::snapshot::AttemptOutcome::MergeBlocked)
    );
    let why = t1.message.unwrap_or_default();
    assert!(
        why.contains("integration check `make integration` failed on the merged tree"),
        "{why}"
    );
    assert!(
        why.contains("switchboard/integration did not move"),
        "{why}"
    );
    assert!(fx.events("T1").iter().any(|e| matches!(
        e,
        Event::IntegrationCheck { ok: false, command, detail }
            if command == "make integration" && detail.contains("1 failed")
    )));
    assert!(
        !fx.events("T1")
            .iter()
            .any(|e| matches!(e, Event::Merged { .. })),
        "not merged"
    );
    // The queue went on: T2's check passed and it merged, journaled so.
    assert_eq!(fx.state("T2"), TaskState::Done);
    assert!(
        fx.events("T2")
            .iter()
            .any(|e| matches!(e, Event::IntegrationCheck { ok: true, .. }))
    );
    assert_eq!(fx.state("T3"), TaskState::Skipped);
    assert!(TaskState::MergeBlocked.is_final() && TaskState::MergeBlocked.needs_attention());
}

#[test]
fn a_recheck_after_a_fix_merges_a_blocked_task_and_its_dependents_run() {
    let mut fx = blocked_t1();
    let attempts = spawns(&fx, "T1").len();
    fx.os
        .script_integration_check("T1", true, "test result: ok");
    assert_eq!(
        fx.request(Command::Recheck { task: "T1".into() }),
        Reply::Ok
    );
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert_eq!(merges(&fx), ["T1", "T2", "T1"]);
    assert_eq!(
        spawns(&fx, "T1").len(),
        attempts,
        "its agent did not run again"
    );
    assert_eq!(fx.state("T3"), TaskState::Running);
}

#[test]
fn a_recheck_that_fails_the_integration_check_again_stays_blocked() {
    let mut fx = blocked_t1();
    fx.os
        .script_integration_check("T1", false, "test result: FAILED. 2 failed");
    assert_eq!(
        fx.request(Command::Recheck { task: "T1".into() }),
        Reply::Ok
    );
    assert_eq!(fx.state("T1"), TaskState::MergeBlocked);
    let failed = fx
        .events("T1")
        .iter()
        .filter(|e| matches!(e, Event::IntegrationCheck { ok: false, .. }))
        .count();
    assert_eq!(failed, 2);
    assert_eq!(fx.state("T3"), TaskState::Skipped);
}

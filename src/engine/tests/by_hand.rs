//! Recovery by hand (issue 12): a failed task's checks run again on its
//! branch as a person fixed it, and a task marked done with a reason.

use super::{PLAN, spawns};
use crate::engine::command::{Command, Reply};
use crate::engine::fixture::Fixture;
use crate::engine::snapshot::TaskState;
use crate::engine::workshop::CheckResult;
use crate::git::MergeOutcome;

fn failing() -> Vec<CheckResult> {
    vec![CheckResult {
        check: "command".into(),
        ok: false,
        detail: "cargo test: 1 failed".into(),
    }]
}

/// T1 fails its checks on every attempt (a restart, then the fallback):
/// failed, and T3 (which needs it) skipped.
fn failed_t1() -> Fixture {
    let mut fx = Fixture::new(PLAN, &["T1", "T2", "T3"]);
    fx.run_through("T2");
    for _ in 0..6 {
        if fx.state("T1") == TaskState::Running {
            fx.os.script_checks("T1", failing());
            fx.run_through("T1");
        }
        fx.advance(5_000);
    }
    assert_eq!(fx.state("T1"), TaskState::Failed);
    assert_eq!(fx.state("T3"), TaskState::Skipped);
    fx
}

/// T1's merge conflicts; T2 is merged; T3 (which needs both) skipped.
fn conflicted_t1() -> Fixture {
    let mut fx = Fixture::new(PLAN, &["T1", "T2", "T3"]);
    let files = vec!["src/lib.rs".into()];
    fx.os
        .script_merge("T1", Ok(MergeOutcome::Conflict { files }));
    fx.run_through("T1");
    fx.run_through("T2");
    assert_eq!(fx.state("T1"), TaskState::Conflict);
    fx
}

fn recheck(fx: &mut Fixture, task: &str) -> Reply {
    fx.request(Command::Recheck { task: task.into() })
}

#[test]
fn checks_run_again_by_hand_merge_a_fixed_task_and_its_dependents_run() {
    let mut fx = failed_t1();
    let attempts = spawns(&fx, "T1").len();
    assert_eq!(recheck(&mut fx, "T1"), Reply::Ok);
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert_eq!(
        spawns(&fx, "T1").len(),
        attempts,
        "its agent did not run again"
    );
    assert_eq!(fx.state("T3"), TaskState::Running);
}

#[test]
fn checks_that_fail_again_leave_the_task_failed_without_a_new_attempt() {
    let mut fx = failed_t1();
    fx.os.script_checks("T1", failing());
    let attempts = spawns(&fx, "T1").len();
    assert_eq!(recheck(&mut fx, "T1"), Reply::Ok);
    fx.advance(10_000);
    let t1 = fx.snapshot_task("T1");
    assert_eq!(t1.state, TaskState::Failed);
    assert_eq!(
        t1.message.as_deref(),
        Some("checks failed again: command (cargo test: 1 failed)")
    );
    assert_eq!(spawns(&fx, "T1").len(), attempts);
    assert_eq!(fx.state("T3"), TaskState::Skipped);
}

#[test]
fn a_conflicted_task_marked_done_lets_its_dependents_run() {
    let mut fx = conflicted_t1();
    let mark = |reason: &str| Command::MarkDone {
        task: "T1".into(),
        reason: reason.into(),
    };
    assert!(
        matches!(fx.request(mark("  ")), Reply::Error { .. }),
        "a reason is needed"
    );
    assert_eq!(fx.request(mark("merged by hand\nin 4f2e")), Reply::Ok);
    let t1 = fx.snapshot_task("T1");
    assert_eq!(t1.state, TaskState::Done);
    assert_eq!(
        t1.message.as_deref(),
        Some("marked done by hand: merged by hand in 4f2e")
    );
    assert_eq!(fx.state("T3"), TaskState::Running);
    // Neither action is for a task at work.
    let Reply::Error { message } = recheck(&mut fx, "T3") else {
        panic!("a running task cannot be checked again by hand");
    };
    assert!(message.contains("T3 is running"), "{message}");
}

#[test]
fn a_conflict_rebased_by_hand_is_checked_and_merged_or_stays_a_conflict() {
    let mut fx = conflicted_t1();
    let rebase = || Command::RebaseMerge { task: "T1".into() };
    // The rebase conflicts too: nothing changes but the words.
    fx.os.rebases.lock().unwrap().insert(
        "T1".into(),
        crate::git::RebaseOutcome::Conflict {
            files: vec!["src/lib.rs".into()],
        },
    );
    assert_eq!(fx.request(rebase()), Reply::Ok);
    let t1 = fx.snapshot_task("T1");
    assert_eq!(t1.state, TaskState::Conflict);
    assert!(
        t1.message
            .unwrap_or_default()
            .contains("conflicts too, in src/lib.rs"),
        "{:?}",
        fx.snapshot_task("T1").message
    );
    // A clean rebase: checked, merged, and T3 runs.
    assert_eq!(fx.request(rebase()), Reply::Ok);
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert_eq!(fx.state("T3"), TaskState::Running);
    let rebased = fx
        .os
        .calls()
        .into_iter()
        .filter(|c| matches!(c, crate::engine::fixture::Call::Rebase { .. }))
        .count();
    assert_eq!(rebased, 2);
}

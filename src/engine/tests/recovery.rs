//! A new engine after a crash: git is the truth for what is merged, a
//! validated branch is merged rather than run again; merges held while the
//! integration branch is checked out; a halted headless run ends.

use super::{PLAN, merges, spawns};
use crate::engine::command::{Command, Reply};
use crate::engine::event::{Entry, Event};
use crate::engine::fixture::{Call, Fixture, Start, T0};
use crate::engine::snapshot::{RunPhase, TaskState};
use crate::git::GitError;

#[test]
fn a_merge_git_shows_but_the_journal_lost_is_done_and_journaled() {
    let fx = Fixture::start(
        PLAN,
        Start {
            select: vec!["T1", "T2"],
            found_merged: vec![("T1", "abc123")],
            ..Default::default()
        },
    );
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert!(spawns(&fx, "T1").is_empty(), "not run again");
    assert!(fx.events("T1").iter().any(|e| matches!(
        e,
        Event::Merged { commit, .. } if commit == "abc123"
    )));
    assert_eq!(fx.state("T2"), TaskState::Running);
}

/// The journal of an engine killed between validation and merge.
fn validated_then_killed() -> Vec<Entry> {
    let at = |ms: u64, event: Event| Entry::new(event, T0 - 1000 + ms).task("T1", 1);
    let state = |state| Event::State {
        state,
        profile: "dev".into(),
        reason: None,
    };
    vec![
        at(1, state(TaskState::Assigned)),
        at(2, state(TaskState::Running)),
        at(3, state(TaskState::Validating)),
        at(
            4,
            Event::Validation {
                check: "commit".into(),
                ok: true,
                detail: "1 commit".into(),
            },
        ),
        at(5, state(TaskState::Merging)),
    ]
}

#[test]
fn a_validated_branch_is_merged_not_run_again() {
    let fx = Fixture::start(
        PLAN,
        Start {
            journal: validated_then_killed(),
            ..Default::default()
        },
    );
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert_eq!(merges(&fx), ["T1"]);
    assert!(spawns(&fx, "T1").is_empty());
    assert!(fx.os.calls().contains(&Call::KillSession {
        session: "sb-fake-T1".into()
    }));
}

#[test]
fn a_checked_out_integration_branch_holds_merges_until_it_moves() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2", "T3"]);
    let checked_out = || {
        Err(GitError::BranchCheckedOut {
            branch: "switchboard/integration".into(),
            path: "/home/me/repo".into(),
        })
    };
    fx.os.script_merge_error("T1", checked_out());
    fx.os.script_merge_error("T1", checked_out());
    fx.run_through("T1");
    let t1 = fx.snapshot_task("T1");
    assert_eq!(t1.state, TaskState::MergeHeld);
    assert!(
        t1.message
            .unwrap_or_default()
            .contains("checked out at /home/me/repo")
    );
    assert_eq!(fx.state("T3"), TaskState::Pending, "waits, is not skipped");
    // Still checked out at the first retry: held, and said only once.
    fx.advance(2000);
    assert_eq!(fx.state("T1"), TaskState::MergeHeld);
    let held = fx
        .states("T1")
        .into_iter()
        .filter(|s| *s == TaskState::MergeHeld)
        .count();
    assert_eq!(held, 1);
    // The checkout moved away: merged at the next retry.
    fx.advance(2000);
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert_eq!(merges(&fx), ["T1", "T1", "T1"]);
}

/// The soak benchmark's failure: a ref lock left by another git process
/// (an agent's detached `git gc`) failed a validated task's merge for good.
/// Something passing is tried again; a lock that stays fails the task.
#[test]
fn a_merge_that_meets_a_ref_lock_is_tried_again() {
    let locked = || {
        Err(GitError::Command {
            cmd: "git update-ref".into(),
            status: Some(128),
            stderr: "fatal: cannot lock ref 'refs/heads/switchboard/integration': Unable to create '.git/refs/heads/switchboard/integration.lock': File exists.".into(),
        })
    };
    let mut fx = Fixture::new(PLAN, &["T1", "T2"]);
    fx.os.script_merge_error("T1", locked());
    fx.run_through("T1");
    let t1 = fx.snapshot_task("T1");
    assert_eq!(t1.state, TaskState::MergeHeld);
    assert!(
        t1.message
            .unwrap_or_default()
            .contains("trying again in 2 s (1 of 5)")
    );
    fx.advance(2000);
    assert_eq!(fx.state("T1"), TaskState::Done);
    // A lock that never goes: five more tries, then failed, with the reason.
    for _ in 0..6 {
        fx.os.script_merge_error("T2", locked());
    }
    fx.run_through("T2");
    for _ in 0..5 {
        fx.advance(2000);
    }
    let t2 = fx.snapshot_task("T2");
    assert_eq!(t2.state, TaskState::Failed);
    assert!(t2.message.unwrap_or_default().contains("cannot lock ref"));
    assert_eq!(merges(&fx).iter().filter(|t| *t == "T2").count(), 6);
}

#[test]
fn a_halted_headless_run_ends_as_interrupted() {
    let mut fx = Fixture::start(
        PLAN,
        Start {
            select: vec!["T1"],
            exit_when_done: true,
            ..Default::default()
        },
    );
    fx.hello("T1", 1);
    let _report = fx.request_later(Command::Halt);
    fx.halted("T1", 1);
    assert_eq!(fx.core.phase(), RunPhase::Halted);
    // Its shim's last words: the agent's exit; then nothing holds the run.
    fx.exit("T1", 130);
    assert_eq!(fx.core.ready_to_close(), Some(true));
    assert!(fx.core.ended_shims().contains(&1001));
}

#[test]
fn with_wait_on_halt_a_halted_headless_run_waits_for_resume() {
    let mut fx = Fixture::start(
        PLAN,
        Start {
            select: vec!["T1"],
            exit_when_done: true,
            wait_on_halt: true,
            ..Default::default()
        },
    );
    fx.hello("T1", 1);
    let _report = fx.request_later(Command::Halt);
    fx.halted("T1", 1);
    assert_eq!(fx.core.ready_to_close(), None);
    assert_eq!(fx.request(Command::Resume), Reply::Ok);
    assert_eq!(fx.state("T1"), TaskState::Running);
}

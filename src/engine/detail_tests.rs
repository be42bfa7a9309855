//! The detail of tasks of a recorded run: merged, failed twice, conflicted.

use super::*;
use crate::engine::snapshot::AttemptOutcome;
use crate::testdata;

fn detail_of(task: &str, log: impl Fn(u32) -> Option<AttemptLog>) -> TaskDetail {
    let plan = testdata::recorded_plan();
    let idx = plan.task_idx(task).expect("a task of the plan");
    build(&plan, idx, &testdata::recorded_entries(), log)
}

#[test]
fn a_merged_task_shows_its_checks_merge_and_log() {
    let d = detail_of("T1", |attempt| {
        Some(AttemptLog {
            file: shown_path("T1", attempt),
            size: 12,
            capped: false,
            lines: vec!["[sim] T1 done".into()],
        })
    });
    assert_eq!(d.task, "T1");
    assert_eq!(d.branch.as_deref(), Some("agent/T1/database-engineer"));
    assert!(
        d.merged
            .as_deref()
            .is_some_and(|m| m.contains("switchboard/integration") && m.contains("4bbef196c1")),
        "{:?}",
        d.merged
    );
    let [a] = d.attempts.as_slice() else {
        panic!("one attempt: {:?}", d.attempts)
    };
    assert_eq!(a.span.outcome, Some(AttemptOutcome::Done));
    assert_eq!(a.exit.as_deref(), Some("exit code 0"));
    assert_eq!(a.checks.len(), 2);
    assert!(a.checks.iter().all(|c| c.ok));
    assert_eq!(a.error, None);
    assert_eq!(
        a.log.as_ref().map(|l| l.file.as_str()),
        Some(".switchboard/logs/T1.1.log")
    );
    assert!(
        a.events
            .iter()
            .any(|l| l.text.contains("validation passed"))
    );
}

#[test]
fn each_failed_attempt_keeps_its_own_error() {
    let d = detail_of("T5", |_| None);
    let errors: Vec<_> = d.attempts.iter().map(|a| a.error.as_deref()).collect();
    let reported = "agent reported ERROR: simulated failure (--fail); nothing committed";
    assert_eq!(errors, [Some(reported), Some(reported)]);
    assert_eq!(
        d.attempts
            .iter()
            .map(|a| a.span.attempt)
            .collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(
        d.attempts
            .iter()
            .all(|a| a.span.outcome == Some(AttemptOutcome::Failed) && a.log.is_none())
    );
    assert_eq!(d.merged, None);
}

#[test]
fn a_conflict_is_the_attempt_s_error() {
    let d = detail_of("T6", |_| None);
    let a = d.attempts.last().expect("an attempt");
    assert_eq!(a.span.outcome, Some(AttemptOutcome::Conflict));
    assert_eq!(
        a.error.as_deref(),
        Some("merge conflict in src/api/middleware/versioning.ts")
    );
}

#[test]
fn a_task_that_never_ran_has_no_attempt() {
    let plan = testdata::recorded_plan();
    let idx = plan.task_idx("T22").expect("T22");
    let d = build(&plan, idx, &[], |_| panic!("no attempt, no log"));
    assert!(d.attempts.is_empty() && d.notes.is_empty());
    assert_eq!(d.worktree, None);
}

#[test]
fn a_blocked_merge_shows_the_integration_check_s_output_and_why() {
    use crate::engine::snapshot::TaskState;
    let plan = testdata::recorded_plan();
    let mut entries = testdata::recorded_entries();
    let last = entries
        .iter()
        .rev()
        .find(|e| e.task.as_deref() == Some("T6"))
        .cloned()
        .expect("T6 ran");
    let attempt = last.attempt.unwrap_or(1);
    let at = |ms: u64, event: Event| Entry::new(event, last.ts_ms + ms).task("T6", attempt);
    entries.push(at(
        1,
        Event::IntegrationCheck {
            ok: false,
            command: "cargo test".into(),
            detail: "`cargo test` failed (exit status: 101); the end of its output:\ntest api::v2 ... FAILED".into(),
        },
    ));
    let why = "merge blocked: the integration check `cargo test` failed on the merged tree";
    entries.push(at(
        2,
        Event::State {
            state: TaskState::MergeBlocked,
            profile: "dev".into(),
            reason: Some(why.into()),
        },
    ));
    let d = build(&plan, plan.task_idx("T6").unwrap(), &entries, |_| None);
    let a = d.attempts.last().expect("an attempt");
    let check = a.checks.last().expect("the integration check");
    assert_eq!(check.check, "integration check (merged tree): cargo test");
    assert!(!check.ok);
    assert!(check.detail.contains("test api::v2 ... FAILED"));
    assert_eq!(a.error.as_deref(), Some(why));
    assert!(a.events.iter().any(|l| {
        l.text
            .contains("integration check FAILED on the merged tree")
    }));
}

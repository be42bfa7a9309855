//! Rebasing a task's worktree branch onto the integration branch.

use super::kit::{Scratch, write_in};
use crate::git::RebaseOutcome;

const INTEGRATION: &str = "switchboard/integration";
const BRANCH: &str = "agent/T1/code";

/// A task worktree whose branch left `main` before integration moved on.
fn task_behind(s: &Scratch, integration_files: &[(&str, &str)]) -> std::path::PathBuf {
    s.repo.ensure_branch(INTEGRATION, "HEAD").unwrap();
    let wt = s.beside("wt-T1");
    s.repo.add_worktree(&wt, BRANCH, INTEGRATION).unwrap();
    write_in(&wt, "t1.txt", "task\n");
    s.git_in(&wt, &["add", "t1.txt"]);
    s.git_in(&wt, &["commit", "-q", "-m", "T1"]);
    s.commit_on(INTEGRATION, integration_files, "T0 merged meanwhile");
    wt
}

#[test]
fn a_branch_behind_is_rebased_onto_integration() {
    let s = Scratch::new();
    let wt = task_behind(&s, &[("t0.txt", "other\n")]);
    let outcome = s.repo.rebase_onto(&wt, INTEGRATION).unwrap();
    assert_eq!(outcome, RebaseOutcome::Rebased);
    let base = s.git(&["merge-base", BRANCH, INTEGRATION]);
    assert_eq!(
        base,
        s.git(&["rev-parse", INTEGRATION]),
        "on top of integration"
    );
    assert!(wt.join("t0.txt").is_file() && wt.join("t1.txt").is_file());
}

#[test]
fn a_conflicting_rebase_is_undone_and_names_the_files() {
    let s = Scratch::new();
    let wt = task_behind(&s, &[("t1.txt", "theirs\n")]);
    let before = s.git(&["rev-parse", BRANCH]);
    let outcome = s.repo.rebase_onto(&wt, INTEGRATION).unwrap();
    assert_eq!(
        outcome,
        RebaseOutcome::Conflict {
            files: vec!["t1.txt".into()]
        }
    );
    assert_eq!(
        s.git(&["rev-parse", BRANCH]),
        before,
        "the branch is as it was"
    );
    assert_eq!(
        s.git_in(&wt, &["status", "--porcelain"]),
        "",
        "no rebase left open"
    );
    // Uncommitted work is never rebased over.
    write_in(&wt, "notes.txt", "wip\n");
    assert_eq!(
        s.repo.rebase_onto(&wt, INTEGRATION).unwrap(),
        RebaseOutcome::Uncommitted
    );
}

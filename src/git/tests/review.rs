//! Reading a task branch's changes for review: files, counts, patch, limits.

use super::kit::Scratch;
use crate::git::{DiffBase, DiffLimits, FileStat};

const INTEGRATION: &str = "switchboard/integration";
const BRANCH: &str = "agent/T1/code";

fn scratch() -> Scratch {
    let s = Scratch::new();
    s.repo.ensure_branch(INTEGRATION, "HEAD").unwrap();
    s
}

#[test]
fn a_branch_shows_its_files_with_counts_then_its_patch() {
    let s = scratch();
    s.commit_on(
        BRANCH,
        &[
            ("README.md", "hello\nworld\n"),
            ("src/new.rs", "fn a() {}\n"),
        ],
        "T1 work",
    );
    // Later work on the integration branch is not the task's.
    s.commit_on(INTEGRATION, &[("other.txt", "x\n")], "someone else");
    let diff = s
        .repo
        .branch_diff(INTEGRATION, BRANCH, None, DiffLimits::default())
        .unwrap();
    assert_eq!(diff.base, DiffBase::Integration);
    assert_eq!(
        diff.files,
        [
            FileStat {
                path: "README.md".into(),
                added: Some(1),
                removed: Some(0),
            },
            FileStat {
                path: "src/new.rs".into(),
                added: Some(1),
                removed: Some(0),
            },
        ]
    );
    assert!(!diff.cut);
    let headers: Vec<&String> = diff
        .patch
        .iter()
        .filter(|l| l.starts_with("diff --git"))
        .collect();
    assert_eq!(
        headers,
        [
            "diff --git a/README.md b/README.md",
            "diff --git a/src/new.rs b/src/new.rs"
        ]
    );
    assert!(diff.patch.iter().any(|l| l == "+world"), "{:?}", diff.patch);
    assert!(diff.patch.iter().any(|l| l == "+fn a() {}"));
    assert_eq!(diff.command, format!("git diff {INTEGRATION}...{BRANCH}"));
}

#[test]
fn a_merged_branch_is_shown_against_the_integration_branch_before_its_merge() {
    let s = scratch();
    s.commit_on(BRANCH, &[("done.txt", "finished\n")], "T1 work");
    s.repo
        .merge_into(INTEGRATION, BRANCH, "Merge T1: work")
        .unwrap();
    let diff = s
        .repo
        .branch_diff(INTEGRATION, BRANCH, None, DiffLimits::default())
        .unwrap();
    assert!(
        matches!(diff.base, DiffBase::BeforeMerge { .. }),
        "{:?}",
        diff.base
    );
    assert_eq!(diff.files.len(), 1);
    assert_eq!(diff.files[0].path, "done.txt");
    assert!(diff.patch.iter().any(|l| l == "+finished"));
}

#[test]
fn a_huge_diff_is_cut_at_the_limits() {
    let s = scratch();
    let big: String = (0..500).map(|i| format!("line {i}\n")).collect();
    let one_line = "x".repeat(10_000);
    s.commit_on(
        BRANCH,
        &[("big.txt", &big), ("wide.txt", &one_line)],
        "T1 big",
    );
    let limits = DiffLimits {
        lines: 100,
        bytes: 1 << 20,
        files: 10,
    };
    let diff = s
        .repo
        .branch_diff(INTEGRATION, BRANCH, None, limits)
        .unwrap();
    assert!(diff.cut);
    assert_eq!(diff.patch.len(), 100);
    assert_eq!(diff.files.len(), 2);

    // A byte limit smaller than one line: that line is not read at all.
    let limits = DiffLimits {
        lines: 10_000,
        bytes: 5_000,
        files: 10,
    };
    let diff = s
        .repo
        .branch_diff(INTEGRATION, BRANCH, None, limits)
        .unwrap();
    assert!(diff.cut);
    assert!(diff.patch.iter().all(|l| l.len() < 5_000));
}

#[test]
fn a_missing_branch_is_an_error_that_names_it() {
    let s = scratch();
    let err = s
        .repo
        .branch_diff(INTEGRATION, "agent/T9/nobody", None, DiffLimits::default())
        .unwrap_err();
    assert!(err.to_string().contains("agent/T9/nobody"), "{err}");
}

#[test]
fn what_the_worktree_has_not_committed_is_listed() {
    let s = scratch();
    let wt = s.beside("wt");
    s.repo.add_worktree(&wt, BRANCH, INTEGRATION).unwrap();
    super::kit::write_in(&wt, "README.md", "changed\n");
    super::kit::write_in(&wt, "tests/report.md", "draft\n");
    let diff = s
        .repo
        .branch_diff(INTEGRATION, BRANCH, Some(&wt), DiffLimits::default())
        .unwrap();
    assert!(diff.files.is_empty());
    assert_eq!(
        diff.uncommitted,
        [
            (" M".to_string(), "README.md".to_string()),
            ("??".to_string(), "tests/report.md".to_string()),
        ]
    );
    // A worktree that is gone (merged and removed) is no error.
    let gone = s.beside("gone");
    let diff = s
        .repo
        .branch_diff(INTEGRATION, BRANCH, Some(&gone), DiffLimits::default())
        .unwrap();
    assert!(diff.uncommitted.is_empty());
}

//! Checkout-free merges into the integration branch and the conflict warning.

use super::kit::Scratch;
use crate::git::{GitError, MergeOutcome};

const INTEGRATION: &str = "switchboard/integration";

fn merged(outcome: MergeOutcome) -> String {
    match outcome {
        MergeOutcome::Merged { commit } => commit,
        other => panic!("expected Merged, got {other:?}"),
    }
}

#[test]
fn a_clean_merge_advances_integration_and_leaves_the_user_alone() {
    let s = Scratch::new();
    s.repo.ensure_branch(INTEGRATION, "HEAD").unwrap();
    let before_int = s.repo.branch_oid(INTEGRATION).unwrap().unwrap();
    let task = s.commit_on("agent/T1/code", &[("t1.txt", "one")], "T1");
    // The user is editing their checkout meanwhile: staged, unstaged, untracked.
    s.write("README.md", "user edit\n");
    s.write("staged.txt", "s");
    s.git(&["add", "staged.txt"]);
    s.write("scratch.txt", "u");
    let before = s.checkout_state();

    let commit = merged(
        s.repo
            .merge_into(INTEGRATION, "agent/T1/code", "Merge T1")
            .unwrap(),
    );

    assert_eq!(s.checkout_state(), before);
    assert_eq!(
        std::fs::read_to_string(s.root().join("README.md")).unwrap(),
        "user edit\n"
    );
    assert!(!s.root().join("t1.txt").exists());
    assert_eq!(
        s.repo.branch_oid(INTEGRATION).unwrap(),
        Some(commit.clone())
    );
    let parents = s.git(&["rev-list", "--parents", "-n", "1", &commit]);
    assert_eq!(
        parents,
        format!("{commit} {before_int} {task}"),
        "a real merge"
    );
    assert_eq!(s.git(&["log", "-1", "--format=%s", &commit]), "Merge T1");
    let mut files = s.repo.files_in(INTEGRATION).unwrap();
    files.sort();
    assert_eq!(files, ["README.md", "t1.txt"]);
    let reflog = s.git(&["reflog", "-1", "--format=%gs", INTEGRATION]);
    assert_eq!(reflog, "switchboard: merge");
}

#[test]
fn merges_are_never_fast_forwards_and_combine_tasks() {
    let s = Scratch::new();
    s.repo.ensure_branch(INTEGRATION, "HEAD").unwrap();
    s.commit_on("agent/T1/code", &[("t1.txt", "one")], "T1");
    s.commit_on("agent/T2/code", &[("t2.txt", "two")], "T2");
    let m1 = merged(
        s.repo
            .merge_into(INTEGRATION, "agent/T1/code", "Merge T1")
            .unwrap(),
    );
    let m2 = merged(
        s.repo
            .merge_into(INTEGRATION, "agent/T2/code", "Merge T2")
            .unwrap(),
    );
    assert_eq!(s.git(&["rev-parse", &format!("{m2}^1")]), m1);
    let merges = s.git(&["rev-list", "--merges", "--count", INTEGRATION]);
    assert_eq!(merges, "2");
    let mut files = s.repo.files_in(INTEGRATION).unwrap();
    files.sort();
    assert_eq!(files, ["README.md", "t1.txt", "t2.txt"]);
}

#[test]
fn merging_twice_is_up_to_date() {
    let s = Scratch::new();
    s.repo.ensure_branch(INTEGRATION, "HEAD").unwrap();
    s.commit_on("agent/T1/code", &[("t1.txt", "one")], "T1");
    merged(
        s.repo
            .merge_into(INTEGRATION, "agent/T1/code", "Merge T1")
            .unwrap(),
    );
    let tip = s.repo.branch_oid(INTEGRATION).unwrap();
    let again = s
        .repo
        .merge_into(INTEGRATION, "agent/T1/code", "Merge T1")
        .unwrap();
    assert_eq!(again, MergeOutcome::UpToDate);
    assert_eq!(s.repo.branch_oid(INTEGRATION).unwrap(), tip);
    // A branch with no work of its own is up to date as well.
    s.repo.ensure_branch("agent/T3/code", INTEGRATION).unwrap();
    let idle = s
        .repo
        .merge_into(INTEGRATION, "agent/T3/code", "Merge T3")
        .unwrap();
    assert_eq!(idle, MergeOutcome::UpToDate);
}

#[test]
fn a_conflicting_merge_names_the_files_and_changes_nothing() {
    let s = Scratch::new();
    s.repo.ensure_branch(INTEGRATION, "HEAD").unwrap();
    s.commit_on(
        "agent/T1/code",
        &[("shared.txt", "from T1\n"), ("a.txt", "a")],
        "T1",
    );
    s.commit_on(
        "agent/T2/code",
        &[("shared.txt", "from T2\n"), ("b.txt", "b")],
        "T2",
    );
    assert_eq!(
        s.repo
            .conflicts_between("agent/T1/code", "agent/T2/code")
            .unwrap(),
        ["shared.txt"],
        "the early warning sees it before any merge"
    );
    merged(
        s.repo
            .merge_into(INTEGRATION, "agent/T1/code", "Merge T1")
            .unwrap(),
    );
    let tip = s.repo.branch_oid(INTEGRATION).unwrap();
    let before = s.checkout_state();

    let outcome = s
        .repo
        .merge_into(INTEGRATION, "agent/T2/code", "Merge T2")
        .unwrap();

    assert_eq!(
        outcome,
        MergeOutcome::Conflict {
            files: vec!["shared.txt".into()]
        }
    );
    assert_eq!(s.repo.branch_oid(INTEGRATION).unwrap(), tip);
    assert_eq!(s.checkout_state(), before);
}

#[test]
fn conflicts_between_clean_branches_is_empty_and_moves_no_ref() {
    let s = Scratch::new();
    s.commit_on("agent/T1/code", &[("a.txt", "a")], "T1");
    s.commit_on("agent/T2/code", &[("b.txt", "b")], "T2");
    let refs = s.git(&["for-each-ref"]);
    assert!(
        s.repo
            .conflicts_between("agent/T1/code", "agent/T2/code")
            .unwrap()
            .is_empty()
    );
    assert!(
        s.repo
            .conflicts_between("main", "agent/T1/code")
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.git(&["for-each-ref"]), refs);
    let err = s.repo.conflicts_between("main", "agent/none").unwrap_err();
    assert!(matches!(err, GitError::UnknownRevision(_)), "{err:?}");
}

#[test]
fn a_ref_moved_between_read_and_update_is_detected() {
    let s = Scratch::new();
    let old = s.repo.ensure_branch(INTEGRATION, "HEAD").unwrap();
    let t1 = s.commit_on("agent/T1/code", &[("a.txt", "a")], "T1");
    // Someone else moves the branch after we read `old`.
    let theirs = s.commit_on(INTEGRATION, &[("z.txt", "z")], "concurrent");
    match s.repo.update_branch(INTEGRATION, &t1, &old) {
        Err(GitError::RefMoved {
            expected, actual, ..
        }) => {
            assert_eq!(expected, old);
            assert_eq!(actual, Some(theirs.clone()));
        }
        other => panic!("expected RefMoved, got {other:?}"),
    }
    assert_eq!(
        s.repo.branch_oid(INTEGRATION).unwrap(),
        Some(theirs.clone())
    );
    // With the current value the swap goes through.
    s.repo.update_branch(INTEGRATION, &t1, &theirs).unwrap();
    assert_eq!(s.repo.branch_oid(INTEGRATION).unwrap(), Some(t1));
}

#[test]
fn a_checked_out_target_is_refused() {
    let s = Scratch::new();
    s.commit_on("agent/T1/code", &[("a.txt", "a")], "T1");
    let head = s.repo.current_head().unwrap();
    match s.repo.merge_into("main", "agent/T1/code", "Merge T1") {
        Err(GitError::BranchCheckedOut { branch, path }) => {
            assert_eq!(branch, "main");
            assert_eq!(path, s.repo.root);
        }
        other => panic!("expected BranchCheckedOut, got {other:?}"),
    }
    assert_eq!(s.repo.current_head().unwrap(), head);
}

#[test]
fn merging_into_a_missing_branch_is_an_error() {
    let s = Scratch::new();
    s.commit_on("agent/T1/code", &[("a.txt", "a")], "T1");
    let err = s.repo.merge_into("nope", "agent/T1/code", "m").unwrap_err();
    assert!(
        matches!(err, GitError::UnknownRevision(ref b) if b == "nope"),
        "{err:?}"
    );
}

/// What git says is merged, whatever a journal says: a `Merge <ID>:` commit
/// whose second parent is the task branch's tip.
#[test]
fn merged_tasks_are_read_from_the_integration_branch() {
    let s = Scratch::new();
    s.repo.ensure_branch(INTEGRATION, "HEAD").unwrap();
    s.commit_on("agent/T1/code", &[("t1.txt", "one")], "T1");
    s.commit_on("agent/T2/code", &[("t2.txt", "two")], "T2");
    // T3's branch has no work of its own: it is not merged, though its tip
    // is an ancestor of the integration branch.
    s.git(&["branch", "agent/T3/code", INTEGRATION]);
    let t1 = merged(
        s.repo
            .merge_into(INTEGRATION, "agent/T1/code", "Merge T1: one")
            .unwrap(),
    );
    let tasks = [
        ("T1", "agent/T1/code"),
        ("T2", "agent/T2/code"),
        ("T3", "agent/T3/code"),
        ("T4", "agent/T4/none"),
    ];
    let found = s.repo.merged_tasks(INTEGRATION, &tasks).unwrap();
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        [("T1".to_string(), t1)]
    );
    // T2's branch moved on after its merge: not this merge's work.
    s.repo
        .merge_into(INTEGRATION, "agent/T2/code", "Merge T2: two")
        .unwrap();
    s.commit_on("agent/T2/code", &[("t2b.txt", "more")], "T2 again");
    let found = s.repo.merged_tasks(INTEGRATION, &tasks).unwrap();
    assert!(
        found.contains_key("T1") && !found.contains_key("T2"),
        "{found:?}"
    );
}

//! A merge in two halves (prepare, publish) with the merged tree checked out
//! in a throwaway detached worktree in between: the integration check's git.

use super::kit::Scratch;
use crate::git::{GitError, Preparation, PreparedMerge};

const INTEGRATION: &str = "switchboard/integration";

fn ready(p: Preparation) -> PreparedMerge {
    match p {
        Preparation::Ready(p) => p,
        other => panic!("expected a prepared merge, got {other:?}"),
    }
}

#[test]
fn a_prepared_merge_moves_nothing_until_published() {
    let s = Scratch::new();
    s.repo.ensure_branch(INTEGRATION, "HEAD").unwrap();
    let before = s.repo.branch_oid(INTEGRATION).unwrap().unwrap();
    s.commit_on("agent/T1/code", &[("t1.txt", "one")], "T1");
    let checkout = s.checkout_state();

    let p = ready(
        s.repo
            .prepare_merge(INTEGRATION, "agent/T1/code", "Merge T1")
            .unwrap(),
    );
    assert_eq!(p.old, before);
    assert_eq!(s.repo.branch_oid(INTEGRATION).unwrap(), Some(before));
    s.repo.publish_merge(&p).unwrap();
    assert_eq!(s.repo.branch_oid(INTEGRATION).unwrap(), Some(p.commit));
    assert_eq!(s.checkout_state(), checkout);
}

#[test]
fn publishing_after_the_branch_moved_is_refused() {
    let s = Scratch::new();
    s.repo.ensure_branch(INTEGRATION, "HEAD").unwrap();
    s.commit_on("agent/T1/code", &[("t1.txt", "one")], "T1");
    s.commit_on("agent/T2/code", &[("t2.txt", "two")], "T2");
    let p = ready(
        s.repo
            .prepare_merge(INTEGRATION, "agent/T1/code", "Merge T1")
            .unwrap(),
    );
    // Someone else merges first, while T1's merge is being checked.
    s.repo
        .merge_into(INTEGRATION, "agent/T2/code", "Merge T2")
        .unwrap();
    let moved = s.repo.branch_oid(INTEGRATION).unwrap();
    let err = s.repo.publish_merge(&p).unwrap_err();
    assert!(matches!(err, GitError::RefMoved { .. }), "{err:?}");
    assert_eq!(s.repo.branch_oid(INTEGRATION).unwrap(), moved);
}

#[test]
fn preparing_reports_up_to_date_and_conflicts() {
    let s = Scratch::new();
    s.repo.ensure_branch(INTEGRATION, "HEAD").unwrap();
    s.repo.ensure_branch("agent/T0/code", INTEGRATION).unwrap();
    let idle = s
        .repo
        .prepare_merge(INTEGRATION, "agent/T0/code", "Merge T0")
        .unwrap();
    assert_eq!(idle, Preparation::UpToDate);
    s.commit_on("agent/T1/code", &[("x.txt", "one\n")], "T1");
    s.commit_on("agent/T2/code", &[("x.txt", "two\n")], "T2");
    s.repo
        .merge_into(INTEGRATION, "agent/T1/code", "Merge T1")
        .unwrap();
    let conflict = s
        .repo
        .prepare_merge(INTEGRATION, "agent/T2/code", "Merge T2")
        .unwrap();
    assert_eq!(
        conflict,
        Preparation::Conflict {
            files: vec!["x.txt".into()]
        }
    );
}

#[test]
fn the_merged_tree_is_checked_out_detached_and_removed_after() {
    let s = Scratch::new();
    s.repo.ensure_branch(INTEGRATION, "HEAD").unwrap();
    s.commit_on("agent/T1/code", &[("t1.txt", "one")], "T1");
    s.commit_on("agent/T2/code", &[("t2.txt", "two")], "T2");
    s.repo
        .merge_into(INTEGRATION, "agent/T1/code", "Merge T1")
        .unwrap();
    let p = ready(
        s.repo
            .prepare_merge(INTEGRATION, "agent/T2/code", "Merge T2")
            .unwrap(),
    );
    let checkout = s.checkout_state();
    let branches = s.git(&["branch", "--list"]);
    let path = s.root().join(".switchboard/checks/T2");

    let tree = s.repo.add_detached_worktree(&path, &p.commit).unwrap();
    assert!(tree.path().join("t1.txt").exists() && tree.path().join("t2.txt").exists());
    assert_eq!(s.git_in(tree.path(), &["rev-parse", "HEAD"]), p.commit);
    assert!(!s.git_ok(&[
        "-C",
        &tree.path().to_string_lossy(),
        "symbolic-ref",
        "-q",
        "HEAD"
    ]));
    // Whatever the check leaves in it goes with it.
    std::fs::write(tree.path().join("target.out"), "built").unwrap();
    drop(tree);

    assert!(!path.exists());
    assert_eq!(s.repo.list_worktrees().unwrap().len(), 1);
    assert_eq!(s.git(&["branch", "--list"]), branches);
    assert_eq!(s.checkout_state(), checkout);
    assert_ne!(
        s.repo.branch_oid(INTEGRATION).unwrap(),
        Some(p.commit.clone())
    );

    // One left behind by a killed run is replaced, not an error.
    let again = s.repo.add_detached_worktree(&path, &p.commit).unwrap();
    std::fs::create_dir_all(path.join("junk")).unwrap();
    let leftover = s.repo.add_detached_worktree(&path, &p.commit);
    assert!(leftover.is_ok(), "{leftover:?}");
    drop(leftover);
    again.remove();
    assert!(!path.exists());
    assert_eq!(s.repo.list_worktrees().unwrap().len(), 1);
}

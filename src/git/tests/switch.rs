//! A pool worker's worktree moving between task branches.

use super::kit::{Scratch, write_in};

#[test]
fn a_worktree_moves_to_a_fresh_branch_from_the_start_and_keeps_leftovers() {
    let s = Scratch::new();
    let wt = s.beside("pool-1");
    // First task: the worktree is made, on a new branch from main.
    assert_eq!(
        s.repo
            .switch_worktree(&wt, "agent/T1/a", "main", "save")
            .unwrap(),
        None
    );
    assert_eq!(s.git_in(&wt, &["branch", "--show-current"]), "agent/T1/a");
    write_in(&wt, "t1.txt", "committed");
    s.git_in(&wt, &["add", "t1.txt"]);
    s.git_in(&wt, &["commit", "-q", "-m", "T1 work"]);
    // T1 left work uncommitted, and it was not merged.
    write_in(&wt, "t1-wip.txt", "uncommitted");
    write_in(&wt, "README.md", "edited\n");
    // The integration branch moved meanwhile: T2 starts from its head.
    s.commit_on("main", &[("other.txt", "x")], "elsewhere");
    let main = s.git(&["rev-parse", "main"]);
    let saved = s
        .repo
        .switch_worktree(&wt, "agent/T2/a", "main", "switchboard: save T1's work")
        .unwrap()
        .expect("the leftovers were committed");
    assert_eq!(saved.branch, "agent/T1/a");
    assert_eq!(s.git_in(&wt, &["branch", "--show-current"]), "agent/T2/a");
    assert_eq!(s.git_in(&wt, &["rev-parse", "HEAD"]), main);
    assert!(!wt.join("t1.txt").exists() && !wt.join("t1-wip.txt").exists());
    // Nothing of T1's is lost: both commits are on its branch.
    assert_eq!(s.git(&["rev-parse", "agent/T1/a"]), saved.commit);
    let files = s.git(&["ls-tree", "-r", "--name-only", "agent/T1/a"]);
    assert!(
        files.contains("t1.txt") && files.contains("t1-wip.txt"),
        "{files}"
    );
    assert_eq!(
        s.git(&["log", "-1", "--format=%s", "agent/T1/a"]),
        "switchboard: save T1's work"
    );
    // T1 comes back (a restart): its branch is checked out as it was.
    assert_eq!(
        s.repo
            .switch_worktree(&wt, "agent/T1/a", "main", "save")
            .unwrap(),
        None
    );
    assert!(wt.join("t1-wip.txt").is_file());
    // Already there: nothing to do.
    assert_eq!(
        s.repo
            .switch_worktree(&wt, "agent/T1/a", "main", "save")
            .unwrap(),
        None
    );
}

#[test]
fn a_detached_worktree_with_changes_is_not_moved() {
    let s = Scratch::new();
    let wt = s.beside("pool-2");
    s.repo
        .switch_worktree(&wt, "agent/T1/a", "main", "save")
        .unwrap();
    s.git_in(&wt, &["switch", "-q", "--detach"]);
    write_in(&wt, "loose.txt", "mine");
    let e = s
        .repo
        .switch_worktree(&wt, "agent/T2/a", "main", "save")
        .unwrap_err();
    assert!(e.to_string().contains("detached HEAD"), "{e}");
    assert!(wt.join("loose.txt").is_file());
}

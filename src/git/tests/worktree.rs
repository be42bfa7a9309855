//! Worktrees: create, reuse, attach, stale registrations, removal, exclude.

use super::kit::{Scratch, write_in};
use crate::git::{GitError, Repo, WorktreeOutcome};
use std::fs;

const BRANCH: &str = "agent/T1/code";

#[test]
fn add_creates_the_branch_then_reuses_the_worktree() {
    let s = Scratch::new();
    let wt = s.beside(".switchboard/workspaces/agent-T1-code");
    let start = s.repo.current_head().unwrap();
    let outcome = s.repo.add_worktree(&wt, BRANCH, "HEAD").unwrap();
    assert_eq!(outcome, WorktreeOutcome::Created);
    assert!(
        wt.join("README.md").is_file(),
        "parents made, files checked out"
    );
    assert_eq!(s.repo.branch_oid(BRANCH).unwrap(), Some(start));

    // A restart: same call, same worktree, the agent's files still there.
    write_in(&wt, "half-done.txt", "wip");
    let outcome = s.repo.add_worktree(&wt, BRANCH, "HEAD").unwrap();
    assert_eq!(outcome, WorktreeOutcome::Reused);
    assert!(wt.join("half-done.txt").is_file());
}

#[test]
fn add_attaches_an_existing_branch_at_its_own_tip() {
    let s = Scratch::new();
    let tip = s.commit_on(BRANCH, &[("earlier.txt", "from attempt 1")], "attempt 1");
    let wt = s.beside("wt");
    let outcome = s.repo.add_worktree(&wt, BRANCH, "main").unwrap();
    assert_eq!(outcome, WorktreeOutcome::Attached);
    assert_eq!(s.git_in(&wt, &["rev-parse", "HEAD"]), tip);
    assert!(wt.join("earlier.txt").is_file());
}

#[test]
fn add_prunes_a_registration_whose_directory_is_gone() {
    let s = Scratch::new();
    let wt = s.beside("wt");
    s.repo.add_worktree(&wt, BRANCH, "HEAD").unwrap();
    fs::remove_dir_all(&wt).unwrap();
    let outcome = s.repo.add_worktree(&wt, BRANCH, "HEAD").unwrap();
    assert_eq!(outcome, WorktreeOutcome::Attached);
    assert!(wt.join("README.md").is_file());

    // The branch's stale registration at another path is cleared too.
    fs::remove_dir_all(&wt).unwrap();
    let elsewhere = s.beside("elsewhere");
    let outcome = s.repo.add_worktree(&elsewhere, BRANCH, "HEAD").unwrap();
    assert_eq!(outcome, WorktreeOutcome::Attached);
    let listed = s.repo.list_worktrees().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
}

#[test]
fn add_refuses_a_path_registered_on_another_branch() {
    let s = Scratch::new();
    let wt = s.beside("wt");
    s.repo.add_worktree(&wt, "agent/T2/code", "HEAD").unwrap();
    match s.repo.add_worktree(&wt, BRANCH, "HEAD") {
        Err(GitError::WorktreeOnOtherBranch { actual, .. }) => {
            assert_eq!(actual.as_deref(), Some("agent/T2/code"))
        }
        other => panic!("expected WorktreeOnOtherBranch, got {other:?}"),
    }
}

#[test]
fn relative_paths_are_taken_from_the_repository_root() {
    let s = Scratch::new();
    let rel = std::path::Path::new(".switchboard/workspaces/agent-T1-code");
    s.repo.add_worktree(rel, BRANCH, "HEAD").unwrap();
    assert!(s.root().join(rel).join("README.md").is_file());
    assert_eq!(
        s.repo.add_worktree(rel, BRANCH, "HEAD").unwrap(),
        WorktreeOutcome::Reused
    );
}

#[test]
fn list_shows_the_main_worktree_first_and_detached_ones() {
    let s = Scratch::new();
    let wt = s.beside("wt");
    s.repo.add_worktree(&wt, BRANCH, "HEAD").unwrap();
    let detached = s.beside("detached");
    s.git(&[
        "worktree",
        "add",
        "-q",
        "--detach",
        detached.to_str().unwrap(),
    ]);
    let list = s.repo.list_worktrees().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0].path, s.repo.root);
    assert_eq!(list[0].branch.as_deref(), Some("main"));
    // Linked worktrees come in git's order (by their admin dir name), not ours.
    let find = |p: &std::path::Path| list.iter().find(|w| w.path == p).unwrap();
    assert_eq!(find(&wt).branch.as_deref(), Some(BRANCH));
    assert_eq!(find(&detached).branch, None);
    assert_eq!(find(&detached).head, Some(s.repo.current_head().unwrap()));
    assert!(list.iter().all(|w| !w.prunable));
}

#[test]
fn remove_keeps_unsaved_work_unless_forced() {
    let s = Scratch::new();
    let wt = s.beside("wt");
    s.repo.add_worktree(&wt, BRANCH, "HEAD").unwrap();
    write_in(&wt, "unsaved.txt", "precious");
    assert!(s.repo.remove_worktree(&wt, false).is_err());
    assert!(wt.join("unsaved.txt").is_file());
    s.repo.remove_worktree(&wt, true).unwrap();
    assert!(!wt.exists());
    assert!(s.repo.branch_exists(BRANCH).unwrap(), "the branch stays");
    assert_eq!(s.repo.list_worktrees().unwrap().len(), 1);
    // Removing again, or a directory deleted by hand, is not an error.
    s.repo.remove_worktree(&wt, false).unwrap();
}

#[test]
fn ensure_excluded_is_idempotent_and_works_in_worktrees() {
    let s = Scratch::new();
    let exclude = s.root().join(".git/info/exclude");
    fs::write(&exclude, "# user line without newline").unwrap();
    let patterns = [".switchboard/", "TASK_INSTRUCTION.md"];
    s.repo.ensure_excluded(&patterns).unwrap();
    s.repo.ensure_excluded(&patterns).unwrap();
    s.repo.ensure_excluded(&["TASK_INSTRUCTION.md"]).unwrap();
    assert_eq!(
        fs::read_to_string(&exclude).unwrap(),
        "# user line without newline\n.switchboard/\nTASK_INSTRUCTION.md\n"
    );

    let wt = s.root().join(".switchboard/workspaces/agent-T1-code");
    s.repo.add_worktree(&wt, BRANCH, "HEAD").unwrap();
    write_in(&wt, "TASK_INSTRUCTION.md", "do things");
    write_in(&wt, ".switchboard/state", "x");
    assert_eq!(s.checkout_state().0, "", "main checkout stays clean");
    assert!(!s.repo.has_uncommitted(&wt).unwrap());

    // From inside the worktree the same shared file is found.
    let from_wt = Repo::discover(&wt).unwrap();
    assert_eq!(from_wt.root, wt.canonicalize().unwrap());
    assert_eq!(from_wt.common_dir().unwrap(), s.root().join(".git"));
    from_wt.ensure_excluded(&patterns).unwrap();
    assert_eq!(fs::read_to_string(&exclude).unwrap().lines().count(), 3);
}

#[test]
fn ensure_excluded_creates_a_missing_info_directory() {
    let s = Scratch::new();
    fs::remove_dir_all(s.root().join(".git/info")).unwrap();
    s.repo.ensure_excluded(&[".switchboard/"]).unwrap();
    assert_eq!(
        fs::read_to_string(s.root().join(".git/info/exclude")).unwrap(),
        ".switchboard/\n"
    );
}

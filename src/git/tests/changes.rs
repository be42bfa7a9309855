//! Saving an agent's work and asking what a branch holds.

use super::kit::{Scratch, write_in};
use std::fs;

const BRANCH: &str = "agent/T1/code";

#[test]
fn commit_all_saves_everything_not_ignored_once() {
    let s = Scratch::new();
    s.repo.ensure_excluded(&["TASK_INSTRUCTION.md"]).unwrap();
    let wt = s.beside("wt");
    s.repo.add_worktree(&wt, BRANCH, "HEAD").unwrap();
    assert!(!s.repo.has_uncommitted(&wt).unwrap());
    assert_eq!(s.repo.commit_all(&wt, "nothing").unwrap(), None);

    write_in(&wt, "new/file.txt", "new");
    write_in(&wt, "README.md", "changed\n");
    write_in(&wt, "TASK_INSTRUCTION.md", "instructions");
    assert!(s.repo.has_uncommitted(&wt).unwrap());
    let saved = s.repo.commit_all(&wt, "switchboard: save T1").unwrap();
    let saved = saved.expect("a commit");
    assert_eq!(s.repo.branch_oid(BRANCH).unwrap(), Some(saved.clone()));
    assert!(!s.repo.has_uncommitted(&wt).unwrap());
    let mut files = s.repo.files_in(&saved).unwrap();
    files.sort();
    assert_eq!(files, ["README.md", "new/file.txt"]);
    assert_eq!(s.repo.commit_all(&wt, "again").unwrap(), None);
}

#[test]
fn commit_all_saves_deletions_and_skips_failing_hooks() {
    let s = Scratch::new();
    let hook = s.root().join(".git/hooks/pre-commit");
    fs::create_dir_all(hook.parent().unwrap()).unwrap();
    fs::write(&hook, "#!/bin/sh\nexit 1\n").unwrap();
    let mut perms = fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    fs::set_permissions(&hook, perms).unwrap();

    let wt = s.beside("wt");
    s.repo.add_worktree(&wt, BRANCH, "HEAD").unwrap();
    fs::remove_file(wt.join("README.md")).unwrap();
    write_in(&wt, "kept.txt", "k");
    let saved = s.repo.commit_all(&wt, "save").unwrap().expect("a commit");
    assert_eq!(s.repo.files_in(&saved).unwrap(), ["kept.txt"]);
}

#[test]
fn commit_messages_are_searched_as_fixed_strings_within_the_range() {
    let s = Scratch::new();
    let base = s.repo.current_head().unwrap();
    s.commit_on(BRANCH, &[("a.txt", "a")], "work");
    s.commit_on(BRANCH, &[("b.txt", "b")], "T1 [switchboard:DONE] finished");
    let has = |text: &str, base: &str| {
        s.repo
            .branch_has_commit_mentioning(BRANCH, base, text)
            .unwrap()
    };
    assert!(has("[switchboard:DONE]", &base));
    assert!(!has("[switchboard:ERROR]", &base));
    assert!(!has(".*", &base), "not a regex");
    let done = s.repo.branch_oid(BRANCH).unwrap().unwrap();
    assert!(!has("[switchboard:DONE]", &done), "outside base..branch");
}

#[test]
fn changed_files_counts_only_the_branch_own_changes() {
    let s = Scratch::new();
    s.repo.ensure_branch("integration", "main").unwrap();
    s.commit_on(
        BRANCH,
        &[("src/task.rs", "t"), ("odd name \"q\".txt", "o")],
        "task",
    );
    // The integration branch moves on after the task forked.
    s.commit_on("integration", &[("other.rs", "o")], "another task");
    let mut changed = s.repo.changed_files("integration", BRANCH).unwrap();
    changed.sort();
    assert_eq!(changed, ["odd name \"q\".txt", "src/task.rs"]);
    let mut all = s.repo.files_in(BRANCH).unwrap();
    all.sort();
    assert_eq!(all, ["README.md", "odd name \"q\".txt", "src/task.rs"]);
    assert!(s.repo.files_in("no-such-branch").is_err());
}

#[test]
fn branch_heads_reads_existing_branches_in_one_call() {
    let s = Scratch::new();
    let wt = s.beside("wt");
    s.repo.add_worktree(&wt, BRANCH, "HEAD").unwrap();
    write_in(&wt, "a.txt", "a");
    let tip = s.repo.commit_all(&wt, "T1 wip").unwrap().expect("a commit");
    let heads = s
        .repo
        .branch_heads(&[BRANCH, "agent/none/x", "agent"])
        .unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert_eq!(heads.get(BRANCH), Some(&tip));
    assert!(s.repo.branch_heads(&[]).unwrap().is_empty());
}

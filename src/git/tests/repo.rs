//! `Repo` basics: discovery, revisions, branches, the no-commits and
//! no-identity cases.

use super::kit::Scratch;
use crate::git::{FALLBACK_EMAIL, FALLBACK_NAME, GitError, MIN_GIT_VERSION, Repo};
use tempfile::TempDir;

#[test]
fn discover_finds_the_toplevel_from_a_subdirectory() {
    let s = Scratch::new();
    s.write("deep/er/file.txt", "x");
    let found = Repo::discover(&s.root().join("deep/er")).unwrap();
    assert_eq!(found.root, s.repo.root);
    assert_eq!(found.common_dir().unwrap(), s.root().join(".git"));
}

#[test]
fn discover_outside_a_repository_is_not_a_repo() {
    let dir = TempDir::new().unwrap();
    match Repo::discover(dir.path()) {
        Err(GitError::NotARepo(path)) => assert_eq!(path, dir.path()),
        other => panic!("expected NotARepo, got {other:?}"),
    }
}

#[test]
fn discover_of_a_missing_directory_is_an_io_error() {
    let dir = TempDir::new().unwrap();
    let err = Repo::discover(&dir.path().join("nope")).unwrap_err();
    assert!(matches!(err, GitError::Io { .. }), "{err:?}");
}

#[test]
fn a_repository_without_commits_says_so() {
    let s = Scratch::empty();
    assert!(matches!(s.repo.current_head(), Err(GitError::NoCommits)));
    let err = s.repo.ensure_branch("integration", "HEAD").unwrap_err();
    assert!(matches!(err, GitError::NoCommits), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the repository has no commits yet; commit something first"
    );
    let err = s
        .repo
        .add_worktree(&s.beside("wt"), "agent/T1/code", "HEAD")
        .unwrap_err();
    assert!(matches!(err, GitError::NoCommits), "{err:?}");
}

#[test]
fn rev_parse_and_branch_exists() {
    let s = Scratch::new();
    let head = s.git(&["rev-parse", "HEAD"]);
    assert_eq!(s.repo.current_head().unwrap(), head);
    assert_eq!(s.repo.rev_parse("main").unwrap(), Some(head.clone()));
    assert_eq!(s.repo.rev_parse("no-such-rev").unwrap(), None);
    assert_eq!(
        s.repo.rev_parse("--all").unwrap(),
        None,
        "no option injection"
    );
    assert!(s.repo.branch_exists("main").unwrap());
    assert!(!s.repo.branch_exists("nope").unwrap());
}

#[test]
fn ensure_branch_creates_once_and_never_moves_it() {
    let s = Scratch::new();
    let first = s.repo.current_head().unwrap();
    assert_eq!(s.repo.ensure_branch("integration", "HEAD").unwrap(), first);
    s.write("b.txt", "b");
    s.git(&["add", "b.txt"]);
    s.git(&["commit", "-q", "-m", "second"]);
    assert_eq!(s.repo.ensure_branch("integration", "HEAD").unwrap(), first);
    assert_eq!(s.repo.branch_oid("integration").unwrap(), Some(first));
    // The user's checkout stays on main.
    assert_eq!(s.git(&["symbolic-ref", "--short", "HEAD"]), "main");
}

#[test]
fn ensure_branch_from_an_unknown_revision_names_it() {
    let s = Scratch::new();
    match s.repo.ensure_branch("integration", "v9.9") {
        Err(GitError::UnknownRevision(rev)) => assert_eq!(rev, "v9.9"),
        other => panic!("expected UnknownRevision, got {other:?}"),
    }
}

#[test]
fn commits_work_without_any_configured_identity() {
    let s = Scratch::empty();
    // Repository-local empty values override whatever the machine's global
    // config holds, so this repository has no usable identity anywhere.
    s.config("user.name", "");
    s.config("user.email", "");
    s.config("user.useConfigOnly", "true");
    let tree = s.git(&["write-tree"]);
    assert!(
        !s.git_ok(&["commit-tree", &tree, "-m", "plain git"]),
        "the fixture must really lack an identity"
    );

    // The kit commits the base with an explicit identity; the library must
    // manage on its own from here.
    s.write("README.md", "hi\n");
    s.git(&["add", "README.md"]);
    s.git(&[
        "-c",
        "user.name=Fixture",
        "-c",
        "user.email=f@x",
        "commit",
        "-q",
        "-m",
        "base",
    ]);
    let wt = s.beside("wt");
    s.repo.add_worktree(&wt, "agent/T1/code", "HEAD").unwrap();
    super::kit::write_in(&wt, "work.txt", "agent output\n");
    let saved = s.repo.commit_all(&wt, "save T1").unwrap();
    assert!(saved.is_some());
    let who = s.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>", "agent/T1/code"]);
    let fallback = format!("{FALLBACK_NAME} <{FALLBACK_EMAIL}>");
    assert_eq!(who, format!("{fallback}|{fallback}"));

    // commit-tree (merges) too.
    s.repo.ensure_branch("integration", "main").unwrap();
    let outcome = s
        .repo
        .merge_into("integration", "agent/T1/code", "merge T1")
        .unwrap();
    assert!(matches!(outcome, crate::git::MergeOutcome::Merged { .. }));
    let who = s.git(&["log", "-1", "--format=%an <%ae>", "integration"]);
    assert_eq!(who, fallback);
}

#[test]
fn a_configured_identity_is_used_as_is() {
    let s = Scratch::new();
    let wt = s.beside("wt");
    s.repo.add_worktree(&wt, "agent/T1/code", "HEAD").unwrap();
    super::kit::write_in(&wt, "work.txt", "x");
    s.repo.commit_all(&wt, "save").unwrap();
    let who = s.git(&["log", "-1", "--format=%an <%ae>", "agent/T1/code"]);
    assert_eq!(who, "Test User <test@example.com>");
}

#[test]
fn git_versions_are_read_and_checked() {
    use crate::git::run::parse_version;
    assert_eq!(parse_version("git version 2.47.3"), Some((2, 47)));
    assert_eq!(
        parse_version("git version 2.39.3 (Apple Git-146)"),
        Some((2, 39))
    );
    assert_eq!(parse_version("git version 2.45.1.windows.1"), Some((2, 45)));
    assert_eq!(parse_version("hub version 2"), None);
    assert!(crate::git::check_git_version().unwrap() >= MIN_GIT_VERSION);
}

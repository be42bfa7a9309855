//! A scratch repository for tests: real git in a temp dir, removed on drop.
//! The kit's own git calls ignore the machine's global and system config so the
//! fixtures are the same everywhere; the library's calls are left as they are.

use crate::git::Repo;
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

pub struct Scratch {
    /// Holds `repo/`, `home/` and room for worktrees beside the repository.
    pub dir: TempDir,
    pub repo: Repo,
}

impl Scratch {
    /// A repository on `main` with one commit (`README.md`) and an identity.
    pub fn new() -> Scratch {
        let s = Scratch::empty();
        s.config("user.name", "Test User");
        s.config("user.email", "test@example.com");
        s.write("README.md", "hello\n");
        s.git(&["add", "README.md"]);
        s.git(&["commit", "-q", "-m", "initial"]);
        s
    }

    /// A repository with no commits and no identity of its own.
    pub fn empty() -> Scratch {
        let dir = TempDir::new().expect("temp dir");
        let root = dir.path().join("repo");
        std::fs::create_dir_all(dir.path().join("home")).expect("home dir");
        let home = dir.path().join("home");
        run(&home, dir.path(), &["init", "-q", "-b", "main", "repo"]);
        run(&home, &root, &["config", "commit.gpgsign", "false"]);
        let repo = Repo::discover(&root).expect("discover scratch repo");
        Scratch { dir, repo }
    }

    pub fn root(&self) -> &Path {
        &self.repo.root
    }

    /// A path beside the repository, for worktrees.
    pub fn beside(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config(&self, key: &str, value: &str) {
        self.git(&["config", key, value]);
    }

    /// git in the repository root; panics unless it succeeds; trimmed stdout.
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(self.root(), args)
    }

    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        run(&self.dir.path().join("home"), dir, args)
    }

    /// git in the repository root, hermetic, returning whether it succeeded.
    pub fn git_ok(&self, args: &[&str]) -> bool {
        hermetic(&self.dir.path().join("home"), self.root())
            .args(args)
            .output()
            .expect("run git")
            .status
            .success()
    }

    pub fn write(&self, rel: &str, text: &str) {
        write_in(self.root(), rel, text);
    }

    /// Commits `files` on top of `branch` (created from `main` if absent)
    /// through a private index: no checkout, as an agent's worktree would.
    pub fn commit_on(&self, branch: &str, files: &[(&str, &str)], message: &str) -> String {
        let parent = self
            .repo
            .branch_oid(branch)
            .expect("branch lookup")
            .unwrap_or_else(|| self.git(&["rev-parse", "main"]));
        let index = self
            .dir
            .path()
            .join(format!("index-{}", branch.replace('/', "-")));
        let with_index = |args: &[&str]| -> String {
            let out = hermetic(&self.dir.path().join("home"), self.root())
                .env("GIT_INDEX_FILE", &index)
                .args(args)
                .output()
                .expect("run git");
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        with_index(&["read-tree", &parent]);
        for (path, text) in files {
            let blob_file = self.dir.path().join("blob");
            std::fs::write(&blob_file, text).expect("write blob");
            let blob = self.git(&["hash-object", "-w", blob_file.to_str().expect("utf8")]);
            let info = format!("100644,{blob},{path}");
            with_index(&["update-index", "--add", "--cacheinfo", &info]);
        }
        let tree = with_index(&["write-tree"]);
        let commit = self.git(&["commit-tree", &tree, "-p", &parent, "-m", message]);
        self.git(&["update-ref", &format!("refs/heads/{branch}"), &commit]);
        commit
    }

    /// `git status --porcelain` and HEAD: what the user sees of their checkout.
    pub fn checkout_state(&self) -> (String, String) {
        (
            self.git(&["status", "--porcelain", "--untracked-files=all"]),
            self.git(&["rev-parse", "HEAD"]),
        )
    }
}

pub fn write_in(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write file");
}

/// git with only the repository's own config.
fn hermetic(home: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    cmd
}

fn run(home: &Path, dir: &Path, args: &[&str]) -> String {
    let out = hermetic(home, dir).args(args).output().expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

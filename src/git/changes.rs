//! What a task's branch and worktree hold: uncommitted work (and saving it),
//! files, and commits mentioning a marker.

use super::run::{checked, failure, git_in, nul_fields, output};
use super::{Repo, Result};
use std::collections::BTreeMap;
use std::path::Path;

impl Repo {
    /// Whether `worktree` has staged, unstaged or untracked (not ignored) changes.
    pub fn has_uncommitted(&self, worktree: &Path) -> Result<bool> {
        let mut cmd = git_in(worktree);
        cmd.args(["status", "--porcelain", "-z", "--untracked-files=normal"]);
        Ok(!checked(&mut cmd)?.stdout.is_empty())
    }

    /// Commits everything in `worktree` that is not ignored, so an agent's
    /// unsaved work survives a restart or a halt. `None` when there was nothing
    /// to commit. Hooks are skipped: a failing linter must not lose the work.
    pub fn commit_all(&self, worktree: &Path, message: &str) -> Result<Option<String>> {
        checked(git_in(worktree).args(["add", "--all"]))?;
        let mut staged = git_in(worktree);
        staged.args(["diff", "--cached", "--quiet"]);
        let out = output(&mut staged)?;
        match out.status.code() {
            Some(0) => return Ok(None),
            Some(1) => {}
            _ => return Err(failure(&staged, &out)),
        }
        let mut commit = self.committing_git(worktree)?;
        commit.args(["commit", "--no-verify", "--quiet", "-m", message]);
        checked(&mut commit)?;
        let mut head = git_in(worktree);
        head.args(["rev-parse", "--verify", "HEAD"]);
        let out = checked(&mut head)?;
        Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }

    /// Whether a commit in `base_rev..branch` has `text` (a fixed string) in its
    /// message: how the engine finds, say, a task's DONE marker commit.
    pub fn branch_has_commit_mentioning(
        &self,
        branch: &str,
        base_rev: &str,
        text: &str,
    ) -> Result<bool> {
        let mut cmd = self.git();
        cmd.args(["log", "-1", "--format=%H", "--fixed-strings"])
            .arg(format!("--grep={text}"))
            .args(["--end-of-options", &format!("{base_rev}..{branch}"), "--"]);
        Ok(!checked(&mut cmd)?.stdout.is_empty())
    }

    /// Every file path in the tree of `rev`.
    pub fn files_in(&self, rev: &str) -> Result<Vec<String>> {
        let mut cmd = self.git();
        cmd.args([
            "ls-tree",
            "-r",
            "-z",
            "--name-only",
            "--end-of-options",
            rev,
        ]);
        Ok(nul_fields(&checked(&mut cmd)?.stdout).collect())
    }

    /// Files `branch` changed since it forked from `base` (`base...branch`), so
    /// later work merged into `base` is not counted as the branch's.
    /// A rename shows as its old and its new path.
    pub fn changed_files(&self, base: &str, branch: &str) -> Result<Vec<String>> {
        let mut cmd = self.git();
        cmd.args([
            "diff",
            "--name-only",
            "-z",
            "--no-renames",
            "--end-of-options",
        ])
        .arg(format!("{base}...{branch}"))
        .arg("--");
        Ok(nul_fields(&checked(&mut cmd)?.stdout).collect())
    }

    /// The tips of the local branches among `names` that exist, in one git
    /// call however many there are (the early warning asks every few seconds).
    pub fn branch_heads(&self, names: &[&str]) -> Result<BTreeMap<String, String>> {
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut cmd = self.git();
        cmd.args(["for-each-ref", "--format=%(refname)%00%(objectname)"]);
        cmd.args(names.iter().map(|n| format!("refs/heads/{n}")));
        let out = checked(&mut cmd)?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let (name, oid) = line.split_once('\0')?;
                let name = name.strip_prefix("refs/heads/")?;
                // for-each-ref patterns also match whole directories: keep exact names.
                names
                    .contains(&name)
                    .then(|| (name.to_string(), oid.to_string()))
            })
            .collect())
    }
}

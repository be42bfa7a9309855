//! A pool worker's worktree moving from one task's branch to the next:
//! what the previous task left uncommitted is committed on its own branch
//! first (never dropped), then the worktree checks the next branch out,
//! created from the integration branch's head when it is new.

use super::run::{checked, git_in};
use super::{GitError, Repo, Result};
use std::path::Path;

/// Where a worktree's leftovers went before it moved on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub branch: String,
    pub commit: String,
}

impl Repo {
    /// Put the worktree at `path` on `branch`: creating the worktree if it
    /// does not exist yet, and the branch from `start_rev` if it is new.
    /// A worktree on another branch first commits what is uncommitted there
    /// onto that branch, with `save_message` (`Some` tells where). A
    /// worktree on a detached HEAD with changes is left as it is: an error.
    pub fn switch_worktree(
        &self,
        path: &Path,
        branch: &str,
        start_rev: &str,
        save_message: &str,
    ) -> Result<Option<Saved>> {
        let registered = self
            .list_worktrees()?
            .into_iter()
            .find(|wt| same_dir(&wt.path, path) && !wt.prunable && wt.path.exists());
        let Some(wt) = registered else {
            // A first task, or its directory deleted by hand.
            self.add_worktree(path, branch, start_rev)?;
            return Ok(None);
        };
        if wt.branch.as_deref() == Some(branch) {
            return Ok(None);
        }
        let saved = match &wt.branch {
            Some(current) => self.commit_all(path, save_message)?.map(|commit| Saved {
                branch: current.clone(),
                commit,
            }),
            None if self.has_uncommitted(path)? => {
                return Err(GitError::WorktreeOnOtherBranch {
                    path: path.to_path_buf(),
                    expected: branch.to_string(),
                    actual: None,
                });
            }
            None => None,
        };
        let mut switch = git_in(path);
        switch.args(["switch", "--quiet", "--no-guess"]);
        if self.branch_exists(branch)? {
            switch.arg(branch);
        } else {
            let start = self.resolve_commit(start_rev)?;
            switch.args(["-c", branch, &start]);
        }
        checked(&mut switch)?;
        Ok(saved)
    }
}

/// Compares through symlinks when both exist (git records real paths).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

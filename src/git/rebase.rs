//! Moving a task's branch onto the integration branch, for a conflict that
//! git can resolve commit by commit where one three-way merge could not.

use super::run::{checked, git_in, nul_fields, output};
use super::{Repo, Result};
use std::path::Path;

/// How a rebase ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebaseOutcome {
    /// The branch now sits on `onto`.
    Rebased,
    /// It conflicts in these files; the branch and worktree are as before.
    Conflict { files: Vec<String> },
    /// The worktree has changes that are not committed: nothing was done.
    Uncommitted,
}

impl Repo {
    /// Rebase the branch checked out in `worktree` onto `onto`. A conflict
    /// aborts the rebase, so nothing is left half done.
    pub fn rebase_onto(&self, worktree: &Path, onto: &str) -> Result<RebaseOutcome> {
        if self.has_uncommitted(worktree)? {
            return Ok(RebaseOutcome::Uncommitted);
        }
        let mut rebase = self.committing_git(worktree)?;
        rebase.args(["rebase", "--no-autostash", "--no-verify", onto]);
        if output(&mut rebase)?.status.success() {
            return Ok(RebaseOutcome::Rebased);
        }
        let mut unmerged = git_in(worktree);
        unmerged.args(["diff", "--name-only", "-z", "--diff-filter=U"]);
        let files: Vec<String> = nul_fields(&checked(&mut unmerged)?.stdout).collect();
        checked(git_in(worktree).args(["rebase", "--abort"]))?;
        Ok(RebaseOutcome::Conflict { files })
    }
}

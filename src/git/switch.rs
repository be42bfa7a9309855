//! A pool worker's worktree moving from one task's branch to the next:
//! what the previous task left uncommitted is committed on its own branch
//! first (never dropped), then the worktree checks the next branch out,
//! created from the integration branch's head when it is new. It is on the
//! dispatch path of every pooled task, so it asks git as little as it can:
//! the worktree's HEAD is read from its file, and a clean worktree on a new
//! branch costs two git processes.

use super::run::{checked, git_in, output};
use super::{GitError, Repo, Result};
use std::path::Path;

/// Where a worktree's leftovers went before it moved on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub branch: String,
    pub commit: String,
}

/// What a worktree has checked out, as its HEAD file says.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    Branch(String),
    Detached,
}

impl Repo {
    /// Whether `path` is a linked worktree of some repository (its `.git`
    /// file names a git dir that has a HEAD).
    pub fn is_linked_worktree(path: &Path) -> bool {
        head_of(path).is_some()
    }

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
        let Some(head) = head_of(path) else {
            // A first task, or its directory deleted by hand.
            self.add_worktree(path, branch, start_rev)?;
            return Ok(None);
        };
        if head == Head::Branch(branch.to_string()) {
            return Ok(None);
        }
        let saved = match head {
            _ if !self.has_uncommitted(path)? => None,
            Head::Branch(current) => self.commit_all(path, save_message)?.map(|commit| Saved {
                branch: current,
                commit,
            }),
            Head::Detached => {
                return Err(GitError::WorktreeOnOtherBranch {
                    path: path.to_path_buf(),
                    expected: branch.to_string(),
                    actual: None,
                });
            }
        };
        // A new branch (most tasks) in one go; one that exists (a task that
        // comes back) is checked out as it was.
        let mut create = git_in(path);
        create.args(["switch", "--quiet", "--no-guess", "-c", branch, start_rev]);
        let out = output(&mut create)?;
        if !out.status.success() {
            if !String::from_utf8_lossy(&out.stderr).contains("already exists") {
                return Err(super::run::failure(&create, &out));
            }
            checked(git_in(path).args(["switch", "--quiet", "--no-guess", branch]))?;
        }
        Ok(saved)
    }
}

/// The HEAD of the linked worktree at `path`, from its files (`.git` names
/// its git dir, whose `HEAD` holds a ref or a commit); None when `path` is
/// not one.
fn head_of(path: &Path) -> Option<Head> {
    let link = std::fs::read_to_string(path.join(".git")).ok()?;
    let gitdir = link.strip_prefix("gitdir:")?.trim();
    let gitdir = path.join(gitdir);
    let head = std::fs::read_to_string(gitdir.join("HEAD")).ok()?;
    Some(match head.trim().strip_prefix("ref: refs/heads/") {
        Some(b) => Head::Branch(b.to_string()),
        None => Head::Detached,
    })
}

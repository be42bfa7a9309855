//! Task worktrees: create one per task, reuse it across restarts, attach an
//! existing branch, clear stale registrations; and keep switchboard's files out
//! of `git status` through `info/exclude`.

use super::run::checked;
use super::{GitError, Repo, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One entry of `git worktree list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worktree {
    pub path: PathBuf,
    /// Commit checked out; `None` for a worktree on an unborn branch.
    pub head: Option<String>,
    /// Short branch name; `None` when detached.
    pub branch: Option<String>,
    /// git reports the worktree's directory as gone.
    pub prunable: bool,
}

/// What [`Repo::add_worktree`] had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorktreeOutcome {
    /// A new branch was created at the start revision and checked out.
    Created,
    /// The branch already existed (an earlier attempt) and was checked out.
    Attached,
    /// The worktree was already there on that branch: a restart or a resume.
    Reused,
}

impl Repo {
    /// Makes `path` a worktree on `branch`, creating the branch from `start_rev`
    /// when it does not exist yet. Idempotent, so a restarted task lands in the
    /// same worktree with the agent's earlier work intact.
    pub fn add_worktree(
        &self,
        path: &Path,
        branch: &str,
        start_rev: &str,
    ) -> Result<WorktreeOutcome> {
        let path = self.absolute(path);
        let mut stale = false;
        for wt in self.list_worktrees()? {
            let on_path = same_path(&wt.path, &path);
            let on_branch = wt.branch.as_deref() == Some(branch);
            if !on_path && !on_branch {
                continue;
            }
            if wt.prunable || !wt.path.exists() {
                // Its directory was deleted by hand; the registration would make
                // git refuse both the path and the branch.
                stale = true;
            } else if on_path && on_branch {
                return Ok(WorktreeOutcome::Reused);
            } else if on_path {
                return Err(GitError::WorktreeOnOtherBranch {
                    path,
                    expected: branch.to_owned(),
                    actual: wt.branch,
                });
            }
            // Same branch live at another path: git's own error says where.
        }
        if stale {
            self.prune()?;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|source| GitError::Io {
                action: format!("cannot create {}", parent.display()),
                source,
            })?;
        }
        let mut cmd = self.git();
        cmd.args(["worktree", "add", "--quiet"]);
        let outcome = if self.branch_exists(branch)? {
            cmd.arg("--").arg(&path).arg(branch);
            WorktreeOutcome::Attached
        } else {
            let start = self.resolve_commit(start_rev)?;
            cmd.args(["-b", branch, "--"]).arg(&path).arg(start);
            WorktreeOutcome::Created
        };
        checked(&mut cmd)?;
        Ok(outcome)
    }

    /// A throwaway worktree at `path` with `commit` checked out on a detached
    /// HEAD (no branch is made or moved): where the integration check runs on
    /// a merge result. It is removed when dropped, whatever happened in it.
    pub fn add_detached_worktree(&self, path: &Path, commit: &str) -> Result<DetachedWorktree> {
        let path = self.absolute(path);
        if path.exists() {
            // Left by a run that was killed mid-check.
            DetachedWorktree::discard(self, &path);
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|source| GitError::Io {
                action: format!("cannot create {}", parent.display()),
                source,
            })?;
        }
        let mut cmd = self.git();
        cmd.args(["worktree", "add", "--quiet", "--detach", "--"])
            .arg(&path)
            .arg(commit);
        let tree = DetachedWorktree {
            repo: self.clone(),
            path,
            removed: false,
        };
        // A failed add may leave a directory or a registration behind: the
        // guard exists already, so its drop cleans up either.
        checked(&mut cmd)?;
        Ok(tree)
    }

    /// Removes the worktree at `path` (its branch stays). Without `force`, git
    /// refuses when the worktree has uncommitted changes: nothing unmerged is
    /// deleted without an explicit request. A directory already gone is pruned.
    pub fn remove_worktree(&self, path: &Path, force: bool) -> Result<()> {
        let path = self.absolute(path);
        if !path.exists() {
            return self.prune();
        }
        let mut cmd = self.git();
        cmd.args(["worktree", "remove"]);
        if force {
            cmd.arg("--force");
        }
        cmd.arg("--").arg(&path);
        checked(&mut cmd)?;
        Ok(())
    }

    /// All worktrees, the main one first (`git worktree list --porcelain -z`).
    pub fn list_worktrees(&self) -> Result<Vec<Worktree>> {
        let mut cmd = self.git();
        cmd.args(["worktree", "list", "--porcelain", "-z"]);
        let out = checked(&mut cmd)?;
        Ok(parse_worktree_list(&out.stdout))
    }

    /// Forgets worktrees whose directories are gone.
    pub fn prune(&self) -> Result<()> {
        checked(self.git().args(["worktree", "prune"]))?;
        Ok(())
    }

    /// Appends each pattern missing from `<common_dir>/info/exclude`, which every
    /// worktree of the repository honours. Idempotent.
    pub fn ensure_excluded(&self, patterns: &[&str]) -> Result<()> {
        let file = self.common_dir()?.join("info").join("exclude");
        let io_err = |action: &str| {
            let action = format!("{action} {}", file.display());
            move |source| GitError::Io { action, source }
        };
        let existing = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io_err("cannot read")(e)),
        };
        let mut missing: Vec<&str> = Vec::new();
        for pattern in patterns.iter().map(|p| p.trim()) {
            let present = existing.lines().any(|l| l.trim() == pattern);
            if !pattern.is_empty() && !present && !missing.contains(&pattern) {
                missing.push(pattern);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        if !existing.is_empty() && !existing.ends_with('\n') {
            text.push('\n');
        }
        for pattern in missing {
            text.push_str(pattern);
            text.push('\n');
        }
        if let Some(dir) = file.parent() {
            fs::create_dir_all(dir).map_err(io_err("cannot create the directory of"))?;
        }
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(io_err("cannot append to"))
    }

    /// `path` made absolute against the repository root, as git would read it
    /// from `git -C <root>`.
    fn absolute(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.root.join(path)
        }
    }
}

/// Compares through symlinks when both paths exist (git records real paths).
fn same_path(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Records are attribute fields ended by NUL, with an empty field between records.
fn parse_worktree_list(bytes: &[u8]) -> Vec<Worktree> {
    let mut list: Vec<Worktree> = Vec::new();
    let mut fields = bytes.split(|b| *b == 0).peekable();
    while fields.peek().is_some() {
        let record: Vec<String> = fields
            .by_ref()
            .take_while(|f| !f.is_empty())
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        let Some(path) = record.iter().find_map(|f| f.strip_prefix("worktree ")) else {
            continue;
        };
        list.push(Worktree {
            path: PathBuf::from(path),
            head: record
                .iter()
                .find_map(|f| f.strip_prefix("HEAD "))
                .filter(|oid| oid.bytes().any(|b| b != b'0'))
                .map(str::to_owned),
            branch: record
                .iter()
                .find_map(|f| f.strip_prefix("branch "))
                .map(|r| r.strip_prefix("refs/heads/").unwrap_or(r).to_owned()),
            prunable: record.iter().any(|f| f.starts_with("prunable")),
        });
    }
    list
}

/// A temporary detached worktree ([`Repo::add_detached_worktree`]), removed
/// with its files on [`DetachedWorktree::remove`] or on drop.
#[derive(Debug)]
pub struct DetachedWorktree {
    repo: Repo,
    path: PathBuf,
    removed: bool,
}

impl DetachedWorktree {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes it now (a caller holding a lock on the worktree registry
    /// removes it under that lock rather than whenever it drops).
    pub fn remove(mut self) {
        Self::discard(&self.repo, &self.path);
        self.removed = true;
    }

    /// `worktree remove --force`, then whatever is left by hand, then
    /// `worktree prune`: it goes even when git refuses.
    fn discard(repo: &Repo, path: &Path) {
        let mut cmd = repo.git();
        cmd.args(["worktree", "remove", "--force", "--"]).arg(path);
        if let Err(e) = checked(&mut cmd) {
            tracing::debug!("removing the worktree {}: {e}", path.display());
        }
        if path.exists()
            && let Err(e) = fs::remove_dir_all(path)
        {
            tracing::warn!("cannot remove {}: {e}", path.display());
        }
        if let Err(e) = repo.prune() {
            tracing::debug!("git worktree prune: {e}");
        }
    }
}

impl Drop for DetachedWorktree {
    fn drop(&mut self) {
        if !self.removed {
            Self::discard(&self.repo, &self.path);
        }
    }
}

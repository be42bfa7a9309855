//! git for switchboard: worktrees per task and merges into the integration branch
//! that never touch the user's checkout. Synchronous; the engine calls it from
//! `spawn_blocking`.

mod changes;
mod merge;
mod merged;
mod rebase;
mod review;
mod run;
mod switch;
mod worktree;

#[cfg(test)]
mod tests;

pub use merge::{MergeOutcome, Preparation, PreparedMerge};
pub use rebase::RebaseOutcome;
pub use review::{BranchDiff, DiffBase, DiffLimits, FileStat};
pub use run::{FALLBACK_EMAIL, FALLBACK_NAME, MIN_GIT_VERSION, check_git_version};
pub use switch::Saved;
pub use worktree::{DetachedWorktree, Worktree, WorktreeOutcome};

use run::{failure, output, stdout_of};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub type Result<T, E = GitError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("`{cmd}` failed ({}): {stderr}", exit_text(*.status))]
    Command {
        cmd: String,
        status: Option<i32>,
        stderr: String,
    },
    #[error("{action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is not inside a git repository; switchboard works in one (cd into it, or run `git init`)",
        .0.display()
    )]
    NotARepo(PathBuf),
    #[error("the repository has no commits yet; commit something first")]
    NoCommits,
    #[error("unknown revision or branch `{0}`")]
    UnknownRevision(String),
    /// The compare-and-swap on a branch lost: someone else moved it meanwhile.
    #[error("branch `{branch}` moved while switchboard was updating it (expected {expected}, found {})",
        .actual.as_deref().unwrap_or("no branch"))]
    RefMoved {
        branch: String,
        expected: String,
        actual: Option<String>,
    },
    /// Moving a checked-out branch would leave that checkout's files and index stale.
    #[error("branch `{branch}` is checked out at {}; switchboard will not move it under a checkout", .path.display())]
    BranchCheckedOut { branch: String, path: PathBuf },
    #[error("worktree {} is on {}, not on `{expected}`", .path.display(),
        .actual.as_deref().map_or("a detached HEAD".to_owned(), |b| format!("`{b}`")))]
    WorktreeOnOtherBranch {
        path: PathBuf,
        expected: String,
        actual: Option<String>,
    },
    #[error("git {found} is too old; switchboard needs git {needed} or newer")]
    GitTooOld { found: String, needed: String },
    #[error("unexpected output from `{cmd}`: {output:?}")]
    UnexpectedOutput { cmd: String, output: String },
}

impl GitError {
    /// Worth trying again in a moment: another git process held a lock
    /// (an agent's `git gc`, an IDE's fetch), or the branch moved under a
    /// compare-and-swap. Nothing about the work itself.
    pub fn is_passing(&self) -> bool {
        match self {
            GitError::RefMoved { .. } => true,
            GitError::Command { stderr, .. } => {
                stderr.contains("cannot lock ref")
                    || (stderr.contains(".lock") && stderr.contains("File exists"))
            }
            _ => false,
        }
    }
}

fn exit_text(status: Option<i32>) -> String {
    status.map_or("killed by a signal".to_owned(), |c| format!("exit {c}"))
}

/// A git repository, addressed through its top-level working directory.
#[derive(Debug, Clone)]
pub struct Repo {
    pub root: PathBuf,
    /// Fallback identity env, probed on the first commit (see `run.rs`).
    identity: OnceLock<run::IdentityEnv>,
}

impl Repo {
    /// The repository containing `start` (`git rev-parse --show-toplevel`).
    pub fn discover(start: &Path) -> Result<Repo> {
        std::fs::metadata(start).map_err(|source| GitError::Io {
            action: format!("cannot open {}", start.display()),
            source,
        })?;
        let mut cmd = run::git_in(start);
        // English messages, so "not a git repository" can be recognised below.
        cmd.env("LC_ALL", "C")
            .args(["rev-parse", "--show-toplevel"]);
        let out = output(&mut cmd)?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("not a git repository") {
                return Err(GitError::NotARepo(start.to_path_buf()));
            }
            return Err(failure(&cmd, &out));
        }
        let root = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
        Ok(Repo::at(PathBuf::from(root)))
    }

    /// A `Repo` for a known top-level directory, without asking git.
    pub fn at(root: PathBuf) -> Repo {
        Repo {
            root,
            identity: OnceLock::new(),
        }
    }

    /// The directory shared by all worktrees (`.git` of the main one), where
    /// `info/exclude` and the refs live, even when `root` is a linked worktree.
    pub fn common_dir(&self) -> Result<PathBuf> {
        let mut cmd = self.git();
        cmd.args(["rev-parse", "--path-format=absolute", "--git-common-dir"]);
        Ok(PathBuf::from(stdout_of(&mut cmd)?))
    }

    /// The object id `rev` names, or `None` when it names nothing.
    pub fn rev_parse(&self, rev: &str) -> Result<Option<String>> {
        let mut cmd = self.git();
        cmd.args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
            .arg(rev);
        let out = output(&mut cmd)?;
        match out.status.code() {
            Some(0) => Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())),
            Some(1) => Ok(None),
            _ => Err(failure(&cmd, &out)),
        }
    }

    /// The commit `rev` names; [`GitError::NoCommits`] in a repository whose HEAD
    /// is unborn, so the user learns the real cause rather than "unknown HEAD".
    pub fn resolve_commit(&self, rev: &str) -> Result<String> {
        if let Some(oid) = self.rev_parse(&format!("{rev}^{{commit}}"))? {
            return Ok(oid);
        }
        if self.rev_parse("HEAD")?.is_none() {
            return Err(GitError::NoCommits);
        }
        Err(GitError::UnknownRevision(rev.to_owned()))
    }

    pub fn branch_exists(&self, name: &str) -> Result<bool> {
        Ok(self.branch_oid(name)?.is_some())
    }

    /// The commit at the tip of local branch `name`, if it exists.
    pub fn branch_oid(&self, name: &str) -> Result<Option<String>> {
        self.rev_parse(&format!("refs/heads/{name}^{{commit}}"))
    }

    /// The commit HEAD points at.
    pub fn current_head(&self) -> Result<String> {
        self.rev_parse("HEAD^{commit}")?.ok_or(GitError::NoCommits)
    }

    /// Creates branch `name` at `from_rev` unless it exists; returns its tip.
    /// Used for the integration branch, which starts from the user's HEAD.
    pub fn ensure_branch(&self, name: &str, from_rev: &str) -> Result<String> {
        if let Some(oid) = self.branch_oid(name)? {
            return Ok(oid);
        }
        let start = self.resolve_commit(from_rev)?;
        let mut cmd = self.git();
        cmd.args(["branch", "--no-track", "--end-of-options", name, &start]);
        let out = output(&mut cmd)?;
        if out.status.success() {
            return Ok(start);
        }
        // Lost a race with another creator: theirs is as good as ours.
        match self.branch_oid(name)? {
            Some(oid) => Ok(oid),
            None => Err(failure(&cmd, &out)),
        }
    }
}

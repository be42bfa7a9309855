//! Merges into the integration branch that never touch the user's checkout
//! (DESIGN §6): `merge-tree --write-tree` computes the result in the object
//! database, `commit-tree` records it, and `update-ref` with the old value moves
//! the branch only if nobody else moved it meanwhile.

use super::run::{failure, nul_fields, output, stdout_of};
use super::{GitError, Repo, Result};

/// How many times a merge is recomputed when the target branch moves under it.
const MERGE_ATTEMPTS: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The target branch now points at this new merge commit.
    Merged { commit: String },
    /// The source was already contained in the target; nothing changed.
    UpToDate,
    /// The merge would conflict in these files; the target is unchanged.
    Conflict { files: Vec<String> },
}

/// A merge commit computed but not published: it exists in the object
/// database, the target branch has not moved. [`Repo::publish_merge`] moves
/// it, if the branch still points where it did; in between, the merged tree
/// may be checked (the integration check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedMerge {
    pub target: String,
    /// Where the target pointed when the merge was computed.
    pub old: String,
    pub commit: String,
}

/// What [`Repo::prepare_merge`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preparation {
    Ready(PreparedMerge),
    UpToDate,
    Conflict { files: Vec<String> },
}

/// The result of a merge computed without a working tree.
enum TreeMerge {
    Clean { tree: String },
    Conflicted { files: Vec<String> },
}

impl Repo {
    /// Merges `source_branch` into `target_branch` with a real merge commit (never
    /// a fast-forward, so the integration history shows one merge per task).
    /// Refuses a target that is checked out anywhere: moving it would leave that
    /// checkout's index and files describing the old commit.
    pub fn merge_into(
        &self,
        target_branch: &str,
        source_branch: &str,
        message: &str,
    ) -> Result<MergeOutcome> {
        self.refuse_checked_out(target_branch)?;
        let mut attempt = 1;
        loop {
            match self.merge_once(target_branch, source_branch, message) {
                Err(GitError::RefMoved { .. }) if attempt < MERGE_ATTEMPTS => attempt += 1,
                result => return result,
            }
        }
    }

    /// [`GitError::BranchCheckedOut`] when `branch` is checked out in some
    /// worktree (the user's own included).
    fn refuse_checked_out(&self, branch: &str) -> Result<()> {
        if let Some(wt) = self
            .list_worktrees()?
            .into_iter()
            .find(|wt| !wt.prunable && wt.branch.as_deref() == Some(branch))
        {
            return Err(GitError::BranchCheckedOut {
                branch: branch.to_owned(),
                path: wt.path,
            });
        }
        Ok(())
    }

    fn merge_once(&self, target: &str, source: &str, message: &str) -> Result<MergeOutcome> {
        Ok(match self.compute_merge(target, source, message)? {
            Preparation::Ready(p) => {
                self.update_branch(target, &p.commit, &p.old)?;
                MergeOutcome::Merged { commit: p.commit }
            }
            Preparation::UpToDate => MergeOutcome::UpToDate,
            Preparation::Conflict { files } => MergeOutcome::Conflict { files },
        })
    }

    /// The first half of [`Repo::merge_into`]: the merge commit of
    /// `source_branch` into `target_branch`, made but not published. The
    /// same refusals as a whole merge.
    pub fn prepare_merge(
        &self,
        target_branch: &str,
        source_branch: &str,
        message: &str,
    ) -> Result<Preparation> {
        self.refuse_checked_out(target_branch)?;
        self.compute_merge(target_branch, source_branch, message)
    }

    /// The second half: move the target to the prepared commit, only if it
    /// still points where it did ([`GitError::RefMoved`] when not: prepare
    /// again). Refuses a target checked out meanwhile.
    pub fn publish_merge(&self, prepared: &PreparedMerge) -> Result<()> {
        self.refuse_checked_out(&prepared.target)?;
        self.update_branch(&prepared.target, &prepared.commit, &prepared.old)
    }

    fn compute_merge(&self, target: &str, source: &str, message: &str) -> Result<Preparation> {
        let old = self
            .branch_oid(target)?
            .ok_or_else(|| GitError::UnknownRevision(target.to_owned()))?;
        let theirs = self.branch_or_commit(source)?;
        if self.is_ancestor(&theirs, &old)? {
            return Ok(Preparation::UpToDate);
        }
        match self.merge_tree(&old, &theirs)? {
            TreeMerge::Conflicted { files } => Ok(Preparation::Conflict { files }),
            TreeMerge::Clean { tree } => {
                let commit = self.commit_tree(&tree, &[&old, &theirs], message)?;
                Ok(Preparation::Ready(PreparedMerge {
                    target: target.to_owned(),
                    old,
                    commit,
                }))
            }
        }
    }

    /// Files that would conflict if `a` and `b` were merged now: the early
    /// warning between active branches and the integration head. Changes no ref.
    pub fn conflicts_between(&self, a: &str, b: &str) -> Result<Vec<String>> {
        let a = self.branch_or_commit(a)?;
        let b = self.branch_or_commit(b)?;
        Ok(match self.merge_tree(&a, &b)? {
            TreeMerge::Clean { .. } => Vec::new(),
            TreeMerge::Conflicted { files } => files,
        })
    }

    /// Whether commit `ancestor` is reachable from `descendant`.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool> {
        let mut cmd = self.git();
        cmd.args([
            "merge-base",
            "--is-ancestor",
            "--end-of-options",
            ancestor,
            descendant,
        ]);
        let out = output(&mut cmd)?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(failure(&cmd, &out)),
        }
    }

    /// Moves `branch` to `new` only if it still points at `expected_old`
    /// (a compare-and-swap); [`GitError::RefMoved`] when it does not.
    pub fn update_branch(&self, branch: &str, new: &str, expected_old: &str) -> Result<()> {
        let mut cmd = self.git();
        cmd.args(["update-ref", "-m", "switchboard: merge", "--end-of-options"])
            .arg(format!("refs/heads/{branch}"))
            .args([new, expected_old]);
        let out = output(&mut cmd)?;
        if out.status.success() {
            return Ok(());
        }
        let actual = self.branch_oid(branch)?;
        if actual.as_deref() != Some(expected_old) {
            return Err(GitError::RefMoved {
                branch: branch.to_owned(),
                expected: expected_old.to_owned(),
                actual,
            });
        }
        Err(failure(&cmd, &out))
    }

    /// The local branch `name` if there is one (a tag of the same name must not
    /// win), else whatever commit `name` names.
    fn branch_or_commit(&self, name: &str) -> Result<String> {
        match self.branch_oid(name)? {
            Some(oid) => Ok(oid),
            None => self.resolve_commit(name),
        }
    }

    /// `git merge-tree --write-tree` (git ≥ 2.38): exit 0 is a clean merge, exit 1
    /// a conflicted one, both with the tree id first; with `--name-only -z` the
    /// conflicted paths follow, one per field.
    fn merge_tree(&self, ours: &str, theirs: &str) -> Result<TreeMerge> {
        let mut cmd = self.git();
        cmd.args([
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            "-z",
        ])
        .args(["--end-of-options", ours, theirs]);
        let out = output(&mut cmd)?;
        let mut fields = nul_fields(&out.stdout);
        let tree = fields.next();
        match (out.status.code(), tree) {
            (Some(0), Some(tree)) => Ok(TreeMerge::Clean { tree }),
            (Some(1), Some(_)) => {
                // A file conflicting in several ways is listed once.
                let mut files: Vec<String> = Vec::new();
                for file in fields {
                    if !files.contains(&file) {
                        files.push(file);
                    }
                }
                Ok(TreeMerge::Conflicted { files })
            }
            (Some(0 | 1), None) => Err(GitError::UnexpectedOutput {
                cmd: super::run::describe(&cmd),
                output: String::from_utf8_lossy(&out.stdout).into_owned(),
            }),
            _ => Err(failure(&cmd, &out)),
        }
    }

    fn commit_tree(&self, tree: &str, parents: &[&str], message: &str) -> Result<String> {
        let mut cmd = self.committing_git(&self.root)?;
        cmd.args(["commit-tree", tree]);
        for parent in parents {
            cmd.args(["-p", parent]);
        }
        cmd.args(["-m", message]);
        stdout_of(&mut cmd)
    }
}

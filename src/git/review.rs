//! What a task's branch changed, for a person to read in the control room:
//! the files with their added and removed line counts, then the patch, both
//! against the point where the branch left the integration branch
//! (`git diff <integration>...<branch>`). A branch already merged is shown
//! against the integration branch as it was before its merge, so a finished
//! task still shows its work. Reads are bounded: a huge diff is cut, and says so.

use super::run::{describe, failure, git_in};
use super::{GitError, Repo, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

/// How much of a diff is read at most.
#[derive(Debug, Clone, Copy)]
pub struct DiffLimits {
    pub lines: usize,
    pub bytes: usize,
    pub files: usize,
}

impl Default for DiffLimits {
    fn default() -> Self {
        DiffLimits {
            lines: 20_000,
            bytes: 4 << 20,
            files: 5_000,
        }
    }
}

/// One changed file; `None` counts: a binary file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    pub path: String,
    pub added: Option<u64>,
    pub removed: Option<u64>,
}

/// What the branch is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffBase {
    /// The integration branch's head (through the merge base).
    Integration,
    /// The branch is merged: the integration branch's first parent of
    /// `merge`, the merge commit that brought it in.
    BeforeMerge { merge: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchDiff {
    pub base: DiffBase,
    pub files: Vec<FileStat>,
    /// The patch's lines, without their line ends, as git wrote them
    /// (decoded lossily; control characters are the reader's to escape).
    pub patch: Vec<String>,
    /// Not every line (or file) was read: the limits were reached.
    pub cut: bool,
    /// The `git diff` that shows it all, for a person to run.
    pub command: String,
    /// What the task's worktree holds that is not committed (an agent that
    /// failed, or has not committed yet): `git status --porcelain` codes
    /// (`??`, ` M`, …) and paths.
    pub uncommitted: Vec<(String, String)>,
}

impl Repo {
    /// The changes of `branch` since it left `integration`, bounded by
    /// `limits`, and what its `worktree` (when there is one) has not committed.
    pub fn branch_diff(
        &self,
        integration: &str,
        branch: &str,
        worktree: Option<&Path>,
        limits: DiffLimits,
    ) -> Result<BranchDiff> {
        let tip = self
            .branch_oid(branch)?
            .ok_or_else(|| GitError::UnknownRevision(branch.to_string()))?;
        let head = self
            .branch_oid(integration)?
            .ok_or_else(|| GitError::UnknownRevision(integration.to_string()))?;
        let (base, from) = if tip != head && self.is_ancestor(&tip, &head)? {
            match self.merge_bringing(&head, &tip)? {
                Some((merge, before)) => (DiffBase::BeforeMerge { merge }, before),
                None => (DiffBase::Integration, head),
            }
        } else {
            (DiffBase::Integration, head)
        };
        let range = format!("{from}...{tip}");

        let mut numstat = self.diff_command(&["--numstat", "-z"], &range);
        let stats = read_bounded(&mut numstat, b'\0', limits.files, limits.bytes)?;
        let files = stats
            .records
            .iter()
            .filter_map(|r| parse_numstat(r))
            .collect();

        let mut patch =
            self.diff_command(&["--patch", "--src-prefix=a/", "--dst-prefix=b/"], &range);
        let read = read_bounded(&mut patch, b'\n', limits.lines, limits.bytes)?;
        let patch = read
            .records
            .iter()
            .map(|l| {
                let text = String::from_utf8_lossy(l);
                text.strip_suffix('\r').unwrap_or(&text).to_string()
            })
            .collect();
        let shown_base = match &base {
            DiffBase::Integration => integration.to_string(),
            DiffBase::BeforeMerge { merge } => format!("{}^1", short(merge)),
        };
        let uncommitted = match worktree.filter(|w| w.is_dir()) {
            Some(worktree) => uncommitted(worktree, limits)?,
            None => Vec::new(),
        };
        Ok(BranchDiff {
            base,
            files,
            patch,
            cut: stats.cut || read.cut,
            command: format!("git diff {shown_base}...{branch}"),
            uncommitted,
        })
    }

    /// `git diff` of `range` as plain text whatever the user's config
    /// (no colour, external diff or textconv; renames as a delete and an add,
    /// so the file list and the patch name the same files in the same order).
    fn diff_command(&self, options: &[&str], range: &str) -> Command {
        let mut cmd = git_in(&self.root);
        cmd.args([
            "-c",
            "core.quotePath=false",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--no-renames",
        ])
        .args(options)
        .args(["--end-of-options", range, "--"]);
        cmd
    }

    /// The merge on `head`'s first-parent line whose second parent is `tip`:
    /// (merge commit, its first parent).
    fn merge_bringing(&self, head: &str, tip: &str) -> Result<Option<(String, String)>> {
        let mut cmd = git_in(&self.root);
        cmd.args([
            "rev-list",
            "--first-parent",
            "--merges",
            "--parents",
            "--end-of-options",
            head,
        ]);
        // Merges are newest first; one a few thousand merges back is still found.
        let read = read_bounded(&mut cmd, b'\n', 100_000, 16 << 20)?;
        for line in &read.records {
            let line = String::from_utf8_lossy(line);
            let mut ids = line.split(' ');
            if let (Some(merge), Some(first), Some(second)) = (ids.next(), ids.next(), ids.next())
                && second == tip
            {
                return Ok(Some((merge.to_string(), first.to_string())));
            }
        }
        Ok(None)
    }
}

/// `git status --porcelain` of a worktree: (code, path) of each file that
/// differs from its commit, untracked files one by one.
fn uncommitted(worktree: &Path, limits: DiffLimits) -> Result<Vec<(String, String)>> {
    let mut cmd = git_in(worktree);
    cmd.args([
        "status",
        "--porcelain=v1",
        "-z",
        "--no-renames",
        "--untracked-files=all",
    ]);
    let read = read_bounded(&mut cmd, b'\0', limits.files, limits.bytes)?;
    Ok(read
        .records
        .iter()
        .filter_map(|r| {
            let text = String::from_utf8_lossy(r);
            let (code, path) = (text.get(..2)?, text.get(3..)?);
            Some((code.to_string(), path.to_string()))
        })
        .collect())
}

fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

/// `added\tremoved\tpath` (`-\t-\tpath` for a binary file).
fn parse_numstat(record: &[u8]) -> Option<FileStat> {
    let text = String::from_utf8_lossy(record);
    let mut fields = text.splitn(3, '\t');
    let (added, removed, path) = (fields.next()?, fields.next()?, fields.next()?);
    Some(FileStat {
        path: path.to_string(),
        added: added.parse().ok(),
        removed: removed.parse().ok(),
    })
}

struct Bounded {
    records: Vec<Vec<u8>>,
    cut: bool,
}

/// Run `cmd` and read its output's `sep`-ended records, at most `max_records`
/// of them and `max_bytes` in all; past that the rest is left unread and the
/// process killed. Fails when git fails (unless cut short).
fn read_bounded(
    cmd: &mut Command,
    sep: u8,
    max_records: usize,
    max_bytes: usize,
) -> Result<Bounded> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = describe(cmd);
    let io_error = |source| GitError::Io {
        action: format!("could not run `{shown}`"),
        source,
    };
    let mut child = cmd.spawn().map_err(io_error)?;
    let mut records = Vec::new();
    let mut cut = false;
    if let Some(stdout) = child.stdout.take() {
        let mut reader = BufReader::new(stdout);
        let mut left = max_bytes;
        loop {
            let mut record = Vec::new();
            // One more byte than is left: a record that long is over the limit.
            let read = (&mut reader)
                .take(left as u64 + 1)
                .read_until(sep, &mut record);
            let n = match read {
                Ok(n) => n,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(io_error(e));
                }
            };
            if n == 0 {
                break;
            }
            if n > left || records.len() == max_records {
                cut = true;
                break;
            }
            left -= n;
            if record.last() == Some(&sep) {
                record.pop();
            }
            records.push(record);
        }
    }
    if cut {
        let _ = child.kill();
    }
    let mut stderr = Vec::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_end(&mut stderr);
    }
    let status = child.wait().map_err(io_error)?;
    if !cut && !status.success() {
        let out = std::process::Output {
            status,
            stdout: Vec::new(),
            stderr,
        };
        return Err(failure(cmd, &out));
    }
    Ok(Bounded { records, cut })
}

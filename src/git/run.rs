//! Running git: one argv per call (never a shell), a scrubbed environment, and a
//! fallback commit identity for repositories where none is configured.

use super::{GitError, Repo, Result};
use std::path::Path;
use std::process::{Command, Output};

/// Name and email used for commits when the repository has no identity configured.
pub const FALLBACK_NAME: &str = "switchboard";
pub const FALLBACK_EMAIL: &str = "switchboard@localhost";

/// Oldest git with everything used here: `merge-tree --write-tree` came in 2.38
/// (`worktree list -z` in 2.36). Ubuntu 22.04, for one, ships 2.34.
pub const MIN_GIT_VERSION: (u32, u32) = (2, 38);

/// Variables that, inherited from a parent git process (switchboard started from
/// a hook, say), would point every call at the wrong repository or index.
const INHERITED_REPO_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_PREFIX",
    "GIT_NAMESPACE",
];

/// Environment overrides that give library-made commits an identity.
/// Empty when the repository's config (or the caller's environment) already has one.
pub(super) type IdentityEnv = Vec<(&'static str, &'static str)>;

/// A `git -C <dir>` command with the inherited repository variables removed.
pub(super) fn git_in(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir);
    for var in INHERITED_REPO_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `cmd` to completion and returns its output whatever the exit status.
pub(super) fn output(cmd: &mut Command) -> Result<Output> {
    cmd.output().map_err(|source| GitError::Io {
        action: format!("could not run `{}`", describe(cmd)),
        source,
    })
}

/// Runs `cmd` and fails with [`GitError::Command`] unless it exits 0.
pub(super) fn checked(cmd: &mut Command) -> Result<Output> {
    let out = output(cmd)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(failure(cmd, &out))
    }
}

/// Runs `cmd` and returns its stdout, trimmed, when it exits 0.
pub(super) fn stdout_of(cmd: &mut Command) -> Result<String> {
    let out = checked(cmd)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The error for a git call that exited with an unexpected status.
pub(super) fn failure(cmd: &Command, out: &Output) -> GitError {
    GitError::Command {
        cmd: describe(cmd),
        status: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    }
}

/// The command line as a user would type it, for error messages.
pub(super) fn describe(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Splits `-z` output into its NUL-terminated fields, dropping empty ones.
pub(super) fn nul_fields(bytes: &[u8]) -> impl Iterator<Item = String> + '_ {
    bytes
        .split(|b| *b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8_lossy(f).into_owned())
}

impl Repo {
    /// `git -C <root>`.
    pub(super) fn git(&self) -> Command {
        git_in(&self.root)
    }

    /// A git command in `dir` that may create commits: it carries the fallback
    /// identity when the repository has none.
    pub(super) fn committing_git(&self, dir: &Path) -> Result<Command> {
        let mut cmd = git_in(dir);
        cmd.envs(self.identity_env()?.iter().copied());
        Ok(cmd)
    }

    /// Checked once per `Repo`: a config lookup per commit would be waste, and
    /// the identity does not change during a run.
    fn identity_env(&self) -> Result<&IdentityEnv> {
        if let Some(env) = self.identity.get() {
            return Ok(env);
        }
        let env = self.probe_identity()?;
        Ok(self.identity.get_or_init(|| env))
    }

    fn probe_identity(&self) -> Result<IdentityEnv> {
        let mut env = IdentityEnv::new();
        let fields = [
            (
                "user.name",
                FALLBACK_NAME,
                ["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"],
            ),
            (
                "user.email",
                FALLBACK_EMAIL,
                ["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"],
            ),
        ];
        for (key, fallback, vars) in fields {
            // An empty value counts as unset: git refuses an empty name anyway.
            if self.config_value(key)?.is_some_and(|v| !v.is_empty()) {
                continue;
            }
            for var in vars {
                // A caller who exported GIT_AUTHOR_NAME meant it; keep theirs.
                if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
                    env.push((var, fallback));
                }
            }
        }
        Ok(env)
    }

    /// `git config --get <key>`: `None` when unset (exit 1).
    pub fn config_value(&self, key: &str) -> Result<Option<String>> {
        let mut cmd = self.git();
        cmd.args(["config", "--get", "--end-of-options"]).arg(key);
        let out = output(&mut cmd)?;
        match out.status.code() {
            Some(0) => Ok(Some(
                String::from_utf8_lossy(&out.stdout).trim_end().to_owned(),
            )),
            Some(1) => Ok(None),
            _ => Err(failure(&cmd, &out)),
        }
    }
}

/// Fails with [`GitError::GitTooOld`] unless the installed git is recent enough;
/// returns its (major, minor). Meant for startup, so the user hears it once and
/// plainly rather than as a usage error from the first merge.
pub fn check_git_version() -> Result<(u32, u32)> {
    let mut cmd = Command::new("git");
    cmd.arg("version");
    let text = stdout_of(&mut cmd)?;
    let version = parse_version(&text).ok_or_else(|| GitError::UnexpectedOutput {
        cmd: describe(&cmd),
        output: text.clone(),
    })?;
    if version < MIN_GIT_VERSION {
        return Err(GitError::GitTooOld {
            found: format!("{}.{}", version.0, version.1),
            needed: format!("{}.{}", MIN_GIT_VERSION.0, MIN_GIT_VERSION.1),
        });
    }
    Ok(version)
}

/// `git version 2.39.3 (Apple Git-146)` or `git version 2.47.3.windows.1` → (2, 39).
pub(super) fn parse_version(text: &str) -> Option<(u32, u32)> {
    let number = text
        .strip_prefix("git version ")?
        .split_whitespace()
        .next()?;
    let mut parts = number.split('.').map(str::parse::<u32>);
    Some((parts.next()?.ok()?, parts.next()?.ok()?))
}

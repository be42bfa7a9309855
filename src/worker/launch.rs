//! The shim's launch file: what the agent gets from the plan (its command
//! line and its environment: title, outputs, the profile's `env`), written
//! by the engine before it opens the pane and read once by the shim.
//!
//! tmux sends a whole `new-session`, its `-e` variables included, to its
//! server as one message of at most 16 KB ("command too long"); a plan's
//! title, command or env value can be larger. So only the file's path goes
//! on the tmux command line, and the plan's values go through the file. What
//! still limits them is `exec` (the kernel takes at most 128 KiB per
//! argument or variable), which the plan's validator checks.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where launch files live, under the repository's `.switchboard/`.
pub const DIR: &str = "launch";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    /// Run with `sh -c`.
    pub command: String,
    /// Added to the agent's environment, in order (a later one wins).
    pub env: Vec<(String, String)>,
    /// The attempt's secret for the shim's hello. Here, in a file only the
    /// user can read and that the shim removes, rather than in the tmux
    /// session's environment, which every window opened in it inherits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot write the launch file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the launch file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the launch file {path} is not readable JSON: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl Launch {
    /// Write to `path` (replacing an older one), readable by the user only:
    /// a profile's env may hold tokens.
    pub fn write(&self, path: &Path) -> Result<(), LaunchError> {
        let fail = |source| LaunchError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(fail)?;
        }
        let json = serde_json::to_vec(self).map_err(|e| fail(std::io::Error::other(e)))?;
        let _ = std::fs::remove_file(path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(fail)?;
        file.write_all(&json).map_err(fail)
    }

    /// Read `path` and remove it: it is for one shim, once.
    pub fn take(path: &Path) -> Result<Launch, LaunchError> {
        let bytes = std::fs::read(path).map_err(|source| LaunchError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if let Err(e) = std::fs::remove_file(path) {
            tracing::debug!("launch file {} stays: {e}", path.display());
        }
        serde_json::from_slice(&bytes).map_err(|source| LaunchError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_launch_file_is_private_and_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DIR).join("T1-1.json");
        let launch = Launch {
            command: "echo \"$BIG\"".into(),
            env: vec![("BIG".into(), "x".repeat(100_000))],
            secret: Some("s3cret".into()),
        };
        launch.write(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        launch.write(&path).expect("an older file is replaced");
        assert_eq!(Launch::take(&path).unwrap(), launch);
        assert!(!path.exists(), "removed once read");
        assert!(matches!(Launch::take(&path), Err(LaunchError::Read { .. })));
    }
}

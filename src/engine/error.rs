//! The engine's error type: what can go wrong at its seam with the world.

use crate::git::GitError;
use crate::tmux::TmuxError;
use crate::worker::launch::LaunchError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Git(#[from] GitError),
    #[error("git worktree: {0}")]
    Worktree(#[source] GitError),
    #[error("tmux: {0}")]
    Tmux(#[from] TmuxError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown agent profile '{0}'")]
    UnknownProfile(String),
    #[error("no random bytes for the attempt's secret: {0}")]
    NoSecret(getrandom::Error),
    #[error("{0}")]
    Launch(#[from] LaunchError),
    #[error("host {host}: {why}")]
    Host { host: String, why: String },
}

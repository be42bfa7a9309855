//! A throwaway tmux server for tests and demos: a unique `-L` socket name, and a
//! guard that kills that server when dropped, even when a test fails.

use super::command::Tmux;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Owns the name of a private tmux server (`tmux -L <name>`); the server itself
/// starts on first use. Dropping it runs `tmux -L <name> kill-server` and
/// removes the socket file.
#[derive(Debug)]
pub struct PrivateServer {
    name: String,
}

impl PrivateServer {
    /// A fresh socket name `<prefix>-<pid>-<counter>-<nanos>`: unique across
    /// parallel tests in one process and across processes.
    pub fn new(prefix: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        PrivateServer {
            name: format!("{prefix}-{}-{n}-{nanos}", std::process::id()),
        }
    }

    /// The guard of a server whose name the caller chose.
    pub fn named(name: impl Into<String>) -> Self {
        PrivateServer { name: name.into() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// One-off commands on this server.
    pub fn tmux(&self) -> Tmux {
        Tmux::new(Some(self.name.clone()))
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        // Not through `Tmux::kill_server`: a drop must not fail, and the result
        // does not matter (the server may never have started).
        let killed = Command::new("tmux")
            .args(["-L", &self.name, "kill-server"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(err) = killed {
            tracing::warn!(server = %self.name, %err, "could not kill private tmux server");
        }
        // tmux leaves its socket file behind; hundreds of test runs add up.
        let _ = std::fs::remove_file(socket_file(&self.name));
    }
}

/// Where tmux puts a `-L` socket: `$TMUX_TMPDIR` (else `/tmp`), `tmux-<uid>/<name>`.
/// tmux leaves the file behind when its server exits.
pub fn socket_file(name: &str) -> PathBuf {
    let dir = std::env::var_os("TMUX_TMPDIR").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(dir)
        .join(format!("tmux-{}", nix::unistd::getuid()))
        .join(name)
}

/// After switchboard's last session on the `-L name` server closed: once
/// that server has exited (within `within`), remove the socket file tmux
/// leaves behind. A server still listening (workers left running, or the
/// user's own sessions) keeps its file.
pub fn remove_socket_when_gone(name: &str, within: std::time::Duration) {
    use std::io::ErrorKind;
    let path = socket_file(name);
    let deadline = std::time::Instant::now() + within;
    loop {
        match std::os::unix::net::UnixStream::connect(&path) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                let _ = std::fs::remove_file(&path);
                return;
            }
            Err(_) => return, // no file, or not ours to judge
            Ok(_) if std::time::Instant::now() >= deadline => return,
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
}

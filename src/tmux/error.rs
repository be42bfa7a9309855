//! The one error type of the tmux layer, shared by one-off commands and the control client.

use thiserror::Error;

/// What can go wrong when talking to tmux.
#[derive(Debug, Error)]
pub enum TmuxError {
    /// tmux ran and refused: a non-zero exit of a one-off command, or an
    /// `%error` reply in control mode (`status` is then `None`).
    #[error("tmux {cmd} failed{}: {}", exit_note(*.status), stderr.trim_end())]
    Command {
        cmd: String,
        status: Option<i32>,
        stderr: String,
    },
    /// No tmux server is listening on the socket (none started, or it was killed).
    #[error("no tmux server running{}", socket_note(.socket.as_deref()))]
    NoServer { socket: Option<String> },
    /// The `tmux` binary could not be started or its pipes failed.
    #[error("could not run tmux: {0}")]
    Io(#[from] std::io::Error),
    /// The control-mode connection is gone (`%exit`, EOF, or the client was shut down).
    #[error("tmux control connection closed")]
    Closed,
    /// tmux answered with something this code cannot read.
    #[error("unexpected tmux output: {0}")]
    Parse(String),
    /// A request this layer refuses to send, because tmux would misread it
    /// (a newline in a control-mode line, a malformed pane id, …).
    #[error("refused to send to tmux: {0}")]
    Invalid(String),
}

pub type Result<T, E = TmuxError> = std::result::Result<T, E>;

fn exit_note(status: Option<i32>) -> String {
    status.map(|s| format!(" (exit {s})")).unwrap_or_default()
}

fn socket_note(socket: Option<&str>) -> String {
    socket
        .map(|s| format!(" on socket {s:?}"))
        .unwrap_or_default()
}

/// tmux says "no server running on …" or "error connecting to … (No such file
/// or directory)" depending on whether the socket file exists, and "server
/// exited unexpectedly" when it connected to a server that was just exiting.
pub(crate) fn is_no_server(stderr: &str) -> bool {
    stderr.contains("no server running")
        || stderr.contains("server exited unexpectedly")
        || (stderr.contains("error connecting to")
            && (stderr.contains("No such file") || stderr.contains("Connection refused")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_error_reads_well() {
        let e = TmuxError::Command {
            cmd: "kill-session".into(),
            status: Some(1),
            stderr: "can't find session: x\n".into(),
        };
        assert_eq!(
            e.to_string(),
            "tmux kill-session failed (exit 1): can't find session: x"
        );
        let e = TmuxError::NoServer {
            socket: Some("sbtest".into()),
        };
        assert_eq!(e.to_string(), "no tmux server running on socket \"sbtest\"");
    }

    #[test]
    fn recognizes_both_no_server_messages() {
        assert!(is_no_server("no server running on /tmp/tmux-0/x\n"));
        assert!(is_no_server(
            "error connecting to /tmp/tmux-0/x (No such file or directory)\n"
        ));
        assert!(!is_no_server("can't find session: x"));
    }
}

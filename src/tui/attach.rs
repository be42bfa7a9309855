//! Attaching to a worker's tmux session: which tmux command to run, and
//! running it in the foreground with the terminal handed over.

use std::io;
use std::process::{Command, ExitStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachCommand {
    pub program: String,
    pub args: Vec<String>,
    /// Run with `TMUX` unset: attaching to another server from inside tmux
    /// (a nested client) is refused while `TMUX` is set.
    pub unset_tmux: bool,
}

/// The tmux command that shows `session` on this terminal.
///
/// Outside tmux: `tmux [-L socket] attach-session -t =session`. Inside tmux
/// (`$TMUX` set), on the workers' own server: `switch-client`, so the person
/// moves between sessions without nesting. Inside tmux on another server, a
/// nested `attach-session`. The `=` asks tmux for an exact name, so `sb-T1`
/// never lands in `sb-T10`.
pub fn attach_command(
    socket: Option<&str>,
    session: &str,
    tmux_env: Option<&str>,
) -> AttachCommand {
    let mut args = Vec::new();
    if let Some(socket) = socket {
        args.extend(["-L".to_string(), socket.to_string()]);
    }
    let current_server = tmux_env.filter(|v| !v.is_empty()).map(server_name);
    let same_server = current_server.as_deref() == Some(socket.unwrap_or("default"));
    let verb = if same_server {
        "switch-client"
    } else {
        "attach-session"
    };
    args.extend([verb.to_string(), "-t".to_string(), format!("={session}")]);
    AttachCommand {
        program: "tmux".into(),
        args,
        unset_tmux: current_server.is_some() && !same_server,
    }
}

/// `$TMUX` is `socket_path,pid,session`; `-L name` puts the socket at
/// `.../tmux-UID/name`, so the server's name is the path's last part.
fn server_name(tmux_env: &str) -> String {
    let path = tmux_env.split(',').next().unwrap_or_default();
    path.rsplit('/').next().unwrap_or_default().to_string()
}

/// Run the attach with inherited stdio and wait for it (blocking: call it
/// from `spawn_blocking`, with the terminal already restored).
pub fn run_attach(command: &AttachCommand) -> io::Result<ExitStatus> {
    let mut child = Command::new(&command.program);
    child.args(&command.args);
    if command.unset_tmux {
        child.env_remove("TMUX");
    }
    child.status()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(c: &AttachCommand) -> String {
        c.args.join(" ")
    }

    #[test]
    fn outside_tmux_attaches() {
        let c = attach_command(Some("switchboard"), "sb-T4", None);
        assert_eq!(args(&c), "-L switchboard attach-session -t =sb-T4");
        assert!(!c.unset_tmux);
        let c = attach_command(None, "sb-T4", Some(""));
        assert_eq!(args(&c), "attach-session -t =sb-T4");
    }

    #[test]
    fn inside_tmux_on_the_same_server_switches() {
        let env = "/tmp/tmux-1000/switchboard,4242,0";
        let c = attach_command(Some("switchboard"), "sb-T4", Some(env));
        assert_eq!(args(&c), "-L switchboard switch-client -t =sb-T4");
        let c = attach_command(None, "sb-T4", Some("/tmp/tmux-1000/default,1,2"));
        assert_eq!(args(&c), "switch-client -t =sb-T4");
        assert!(!c.unset_tmux);
    }

    #[test]
    fn inside_tmux_on_another_server_nests() {
        let c = attach_command(
            Some("switchboard"),
            "sb-T4",
            Some("/tmp/tmux-1000/default,1,2"),
        );
        assert_eq!(args(&c), "-L switchboard attach-session -t =sb-T4");
        assert!(c.unset_tmux);
    }
}

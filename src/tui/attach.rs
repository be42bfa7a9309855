//! Attaching to a worker's tmux session from the control room, and coming
//! back with a detach (`C-b d`).
//!
//! - Outside tmux: the control room steps aside (its terminal restored) and
//!   `tmux attach-session` takes the terminal until the person detaches.
//! - Inside tmux ≥ 3.2: the worker opens in a `display-popup` on the
//!   person's own tmux client, over the control room, which stays drawn and
//!   live beneath. Detaching ends the popup's `tmux attach`, which closes it.
//! - Inside older tmux: a new window next to the control room's; its tmux
//!   takes the prefix first, so detaching is `C-b C-b d`.
//!
//! The popup's and window's client is a nested one, so `TMUX` is unset in
//! its command (tmux refuses to nest otherwise, on the same server too).
//! The person's client is named explicitly: never the engine's control-mode
//! client, which may be a client of the same server.

use crate::tmux::names::shell_word;
use std::io;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;

/// `SWITCHBOARD_ATTACH`: `popup`, `window` or `suspend` picks the way
/// inside tmux instead of the tmux version.
pub const MODE_VAR: &str = "SWITCHBOARD_ATTACH";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachCommand {
    pub program: String,
    pub args: Vec<String>,
    /// Run with `TMUX` unset: attaching from inside tmux (a nested client)
    /// is refused while `TMUX` is set.
    pub unset_tmux: bool,
}

/// How the worker is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachPlan {
    /// Hand the terminal over: suspend the control room, run, resume.
    Foreground(AttachCommand),
    /// Run without the terminal: the person's tmux shows the worker in a
    /// popup or a window; the command ends when it closes (popup) or at
    /// once (window).
    Beside {
        command: AttachCommand,
        /// What the footer says while it is open.
        how: String,
        /// The command ends when the person is back (a popup), not at once
        /// (a new window).
        until_closed: bool,
    },
}

/// Where the control room runs: `$TMUX` and `$TMUX_PANE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Surroundings {
    /// `socket_path,pid,session`; None outside tmux.
    pub tmux: Option<String>,
    pub pane: Option<String>,
    /// [`MODE_VAR`]'s value.
    pub mode: Option<String>,
}

impl Surroundings {
    pub fn from_env() -> Surroundings {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Surroundings {
            tmux: var("TMUX"),
            pane: var("TMUX_PANE"),
            mode: var(MODE_VAR),
        }
    }

    /// The socket path of the person's tmux server.
    fn socket_path(&self) -> Option<&str> {
        let path = self.tmux.as_deref()?.split(',').next()?;
        (!path.is_empty()).then_some(path)
    }
}

/// The one command that attaches a client to the worker's session:
/// `tmux -L <socket> attach-session -t =<session>`. Workers on the default
/// server (no socket) are on the server `$TMUX` names when there is one.
/// The `=` asks tmux for an exact name, so `sb-T1` never lands in `sb-T10`.
pub fn attach_argv(socket: Option<&str>, session: &str, env: &Surroundings) -> Vec<String> {
    let mut argv = vec!["tmux".to_string()];
    match (socket, env.socket_path()) {
        (Some(name), _) => argv.extend(["-L".into(), name.into()]),
        (None, Some(path)) => argv.extend(["-S".into(), path.into()]),
        (None, None) => {}
    }
    argv.extend(["attach-session".into(), "-t".into(), format!("={session}")]);
    argv
}

/// `has-session` for the worker's session, on the server [`attach_argv`]
/// would attach to.
pub fn has_session_argv(socket: Option<&str>, session: &str, env: &Surroundings) -> Vec<String> {
    let mut argv = attach_argv(socket, session, env);
    let target = argv.pop().unwrap_or_default();
    argv.truncate(argv.len().saturating_sub(2));
    argv.extend(["has-session".into(), "-t".into(), target]);
    argv
}

/// Whether the worker's session is still there (`has-session`), on the
/// server [`attach_argv`] would attach to.
pub fn session_exists(socket: Option<&str>, session: &str, env: &Surroundings) -> bool {
    let argv = has_session_argv(socket, session, env);
    Command::new(&argv[0])
        .args(&argv[1..])
        .env_remove("TMUX")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// How to run `argv`, a command that attaches a client to a worker's
/// session ([`attach_argv`], or ssh to a host's for a worker there).
/// `client` is the person's tmux client showing the control room (see
/// [`find_client`]); `version` the tmux version.
pub fn plan(
    argv: Vec<String>,
    env: &Surroundings,
    client: Option<&ClientSpot>,
    version: Option<(u32, u32)>,
) -> AttachPlan {
    let foreground = |unset_tmux| {
        let mut argv = argv.clone();
        let program = argv.remove(0);
        AttachPlan::Foreground(AttachCommand {
            program,
            args: argv,
            unset_tmux,
        })
    };
    let (Some(path), Some(client)) = (env.socket_path(), client) else {
        // Outside tmux, or inside with no client to show a popup on (the
        // control room's session is not on any screen): take this terminal.
        return foreground(env.tmux.is_some());
    };
    let popup = version.is_none_or(|v| v >= (3, 2));
    let mode = match env.mode.as_deref() {
        Some("suspend") => return foreground(true),
        Some("window") => "window",
        Some("popup") => "popup",
        _ if popup => "popup",
        _ => "window",
    };
    // The nested client's command, as tmux hands it to `sh -c`.
    let shell = std::iter::once("env -u TMUX".to_string())
        .chain(argv.iter().map(|w| shell_word(w)))
        .collect::<Vec<_>>()
        .join(" ");
    let mut args = vec!["-S".to_string(), path.to_string()];
    let how = if mode == "popup" {
        args.extend(
            [
                "display-popup",
                "-E",
                "-w",
                "90%",
                "-h",
                "90%",
                "-c",
                &client.client,
            ]
            .map(String::from),
        );
        "in a popup: detach (C-b d) to come back".to_string()
    } else {
        args.extend(["new-window", "-a", "-t", &client.window, "-n", "worker"].map(String::from));
        "in a new window: detach with C-b C-b d to come back".to_string()
    };
    args.push(shell);
    AttachPlan::Beside {
        command: AttachCommand {
            program: "tmux".into(),
            args,
            unset_tmux: false,
        },
        how,
        until_closed: mode == "popup",
    }
}

/// The person's tmux client that shows the control room, and the
/// control room's window (`@4`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSpot {
    pub client: String,
    pub window: String,
}

/// Ask the person's tmux server which of its clients shows the control
/// room's pane: one whose current window holds it (the most recently
/// active), else one attached to its session; never a control-mode client.
/// None outside tmux, or when no client shows it.
pub fn find_client(env: &Surroundings) -> Option<ClientSpot> {
    let (path, pane) = (env.socket_path()?, env.pane.as_deref()?);
    let out = Command::new("tmux")
        .args(["-S", path, "display-message", "-p", "-t", pane])
        .arg("#{window_id} #{session_id}")
        .arg(";")
        .args(["list-clients", "-F"])
        .arg("#{client_control_mode} #{window_id} #{session_id} #{client_activity} #{client_name}")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    pick_client(&String::from_utf8_lossy(&out.stdout))
}

/// From `display-message`'s line (our window and session) and then
/// `list-clients`' lines, the client to show a popup on.
fn pick_client(output: &str) -> Option<ClientSpot> {
    let mut lines = output.lines();
    let mut ours = lines.next()?.split(' ');
    let (window, session) = (ours.next()?, ours.next()?);
    let mut best: Option<(u8, u64, String)> = None;
    for line in lines {
        let mut fields = line.splitn(5, ' ');
        let (Some(control), Some(w), Some(s), Some(activity), Some(name)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        let rank = match (control, w == window, s == session) {
            ("1", _, _) => continue,
            (_, true, _) => 2,
            (_, false, true) => 1,
            _ => continue,
        };
        let activity = activity.parse().unwrap_or(0);
        if best
            .as_ref()
            .is_none_or(|(r, a, _)| (rank, activity) > (*r, *a))
        {
            best = Some((rank, activity, name.to_string()));
        }
    }
    best.map(|(_, _, client)| ClientSpot {
        client,
        window: window.to_string(),
    })
}

/// The tmux version (`tmux -V`), read once; None when it cannot be read
/// or parsed (a build from git: assumed new).
pub fn tmux_version() -> Option<(u32, u32)> {
    static VERSION: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let out = Command::new("tmux")
            .arg("-V")
            .stdin(Stdio::null())
            .output()
            .ok()?;
        parse_version(&String::from_utf8_lossy(&out.stdout))
    })
}

/// `tmux 3.3a` → (3, 3); `tmux next-3.4` → (3, 4); `tmux master` → None.
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let mut parts = text[start..].split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Run a foreground attach with inherited stdio and wait for it (blocking:
/// call it from `spawn_blocking`, with the terminal already restored).
pub fn run_attach(command: &AttachCommand) -> io::Result<ExitStatus> {
    let mut child = Command::new(&command.program);
    child.args(&command.args);
    if command.unset_tmux {
        child.env_remove("TMUX");
    }
    child.status()
}

#[cfg(test)]
#[path = "attach_tests.rs"]
mod tests;

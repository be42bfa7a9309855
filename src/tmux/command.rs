//! One-off tmux commands (a `tmux` process each): creating and killing worker
//! sessions (their panes logged), listing them. Attaching is the front
//! end's (`tui::attach`).
//! Hot paths (polling, keys, capture) go through the control client instead.

use super::error::{Result, TmuxError, is_no_server};
use super::names;
use std::borrow::Cow;
use std::path::Path;
use std::process::{Command, Stdio};
use tmux_interface::{
    DisplayMessage, HasSession, KillServer, KillSession, ListSessions, NewSession, PipePane,
    RunShell, SetOption, TmuxCommand,
};

/// A tmux server to talk to: `tmux -L <socket>`, or the default server (the one
/// `$TMUX` points at, if set) when `socket` is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tmux {
    pub socket: Option<String>,
}

/// A new session's pane: its id, and the pid of its first process (the
/// program of the argv, which tmux runs without a shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPane {
    pub id: String,
    pub pid: Option<u32>,
}

impl Tmux {
    pub fn new(socket: Option<String>) -> Self {
        Tmux { socket }
    }

    /// Starts a detached session whose one pane runs `argv` (the shell's default
    /// command when empty) in `cwd`, with `env` added; returns the pane id (`%3`).
    ///
    /// The pane keeps its last screen after its process exits (`remain-on-exit`,
    /// set on this pane only, in the same tmux invocation so even a command that
    /// exits at once leaves a dead pane to read). Arguments reach the program
    /// verbatim: with two or more, tmux execs them without a shell; a lone one
    /// would go through `sh -c`, so it is wrapped in `sh -c 'exec "$0"'`.
    pub fn new_session(
        &self,
        name: &str,
        cwd: &Path,
        env: &[(String, String)],
        argv: &[String],
        size: (u16, u16),
    ) -> Result<String> {
        self.new_labelled_session(name, None, None, cwd, env, argv, size)
            .map(|pane| pane.id)
    }

    /// [`Self::new_session`], with `label` as the session's status-left, so a
    /// person attached to it sees which worker this is, and with the pane's
    /// output copied to `log`. tmux expands formats (`#(…)` runs a command)
    /// in status-left: the label must hold no `#`.
    #[allow(clippy::too_many_arguments)]
    pub fn new_labelled_session(
        &self,
        name: &str,
        label: Option<&str>,
        log: Option<&PaneLog>,
        cwd: &Path,
        env: &[(String, String)],
        argv: &[String],
        size: (u16, u16),
    ) -> Result<NewPane> {
        check_session_name(name)?;
        if let Some(label) = label {
            check_label(label)?;
        }
        let cwd = utf8_dir(cwd)?;
        let mut new = NewSession::new()
            .detached()
            .print()
            .format("#{pane_id} #{pane_pid}")
            .session_name(literal(name))
            .start_directory(literal(cwd))
            .width(usize::from(size.0))
            .height(usize::from(size.1));
        let (client_path, vars) = split_env(env)?;
        for (var, value) in vars {
            new = new.environment(Cow::Owned(literal(var)), Cow::Owned(literal(value)));
        }
        let mut new = new.build();
        for arg in program_argv(argv) {
            new.push_param(literal(&arg));
        }
        let keep_pane = SetOption::new()
            .pane()
            .target_pane(format!("={name}:"))
            .option("remain-on-exit")
            .value("on")
            .build();
        let mut commands = vec![new, keep_pane];
        // In the same invocation as new-session: tmux runs one client's
        // commands back to back, before it reads any output of the new pane,
        // so the log misses nothing, not even the first line.
        if let Some(log) = log {
            commands.push(
                PipePane::new()
                    .open()
                    .target_pane(format!("={name}:"))
                    .shell_command(literal(&log.shell_command()?))
                    .build(),
            );
        }
        if let Some(label) = label {
            commands.extend(status_label(&format!("={name}:"), label));
        }
        let out = self.exec_with_path("new-session", commands, client_path)?;
        parse_new_pane("new-session", &out)
    }

    /// Kills a session; `Ok(false)` when there was no such session (or no server).
    pub fn kill_session(&self, name: &str) -> Result<bool> {
        let kill = KillSession::new().target_session(exact(name)).build();
        absent_is_false(self.exec("kill-session", vec![kill]))
    }

    pub fn has_session(&self, name: &str) -> Result<bool> {
        let has = HasSession::new().target_session(exact(name)).build();
        absent_is_false(self.exec("has-session", vec![has]))
    }

    /// Every session name on the server; empty when no server runs.
    pub fn list_sessions(&self) -> Result<Vec<String>> {
        let list = ListSessions::new().format("#{session_name}").build();
        match self.exec("list-sessions", vec![list]) {
            Ok(out) => Ok(out.lines().map(str::to_string).collect()),
            Err(TmuxError::NoServer { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Every session with whether its (active) pane still runs: a worker
    /// session has one pane, so this says whether its worker lives.
    pub fn sessions_alive(&self) -> Result<Vec<(String, bool)>> {
        let list = ListSessions::new()
            .format("#{pane_dead} #{session_name}")
            .build();
        match self.exec("list-sessions", vec![list]) {
            Ok(out) => Ok(out
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(dead, name)| (name.to_string(), dead != "1"))
                .collect()),
            Err(TmuxError::NoServer { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Kills the server and every session on it; fine when none runs.
    pub fn kill_server(&self) -> Result<()> {
        match self.exec("kill-server", vec![KillServer::new().build()]) {
            Ok(_) | Err(TmuxError::NoServer { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Expands a format against a target (`display-message -p -t target fmt`):
    /// for one-off questions such as `#{pane_dead_status}` outside the engine.
    pub fn display(&self, target: &str, format: &str) -> Result<String> {
        let display = DisplayMessage::new()
            .print()
            .target_pane(literal(target))
            .message(literal(format))
            .build();
        let out = self.exec("display-message", vec![display])?;
        Ok(out.strip_suffix('\n').unwrap_or(&out).to_string())
    }

    /// Makes the server reap exited panes it missed. tmux 3.3a sometimes misses
    /// a SIGCHLD (seen under load, and while the server starts): the pane shows
    /// `pane_dead` but no `pane_dead_status`, its process stays a zombie, until
    /// another child of the server exits. `run-shell true` is such a child.
    pub fn nudge_reaper(&self) -> Result<()> {
        let run = RunShell::new().shell_command("true").build();
        self.exec("run-shell", vec![run]).map(drop)
    }

    /// Runs `tmux [-L socket] cmd1 ; cmd2 …` with no stdin; stdout on success.
    fn exec(&self, what: &str, commands: Vec<TmuxCommand<'_>>) -> Result<String> {
        self.exec_with_path(what, commands, None)
    }

    fn exec_with_path(
        &self,
        what: &str,
        commands: Vec<TmuxCommand<'_>>,
        path: Option<&str>,
    ) -> Result<String> {
        let mut tmux = tmux_interface::Tmux::new();
        if let Some(socket) = &self.socket {
            tmux = tmux.socket_name(socket.as_str());
        }
        for command in commands {
            tmux = tmux.command(command);
        }
        let argv = tmux.build().to_vec();
        let Some((program, args)) = argv.split_first() else {
            return Err(TmuxError::Invalid(format!("empty argv for {what}")));
        };
        let mut command = Command::new(program.as_ref());
        command.args(args.iter().map(|a| a.as_ref()));
        if let Some(path) = path {
            command.env("PATH", path);
        }
        self.spawn(what, &mut command)
    }

    fn spawn(&self, what: &str, command: &mut Command) -> Result<String> {
        let out = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if is_no_server(&stderr) {
            return Err(TmuxError::NoServer {
                socket: self.socket.clone(),
            });
        }
        Err(TmuxError::Command {
            cmd: what.to_string(),
            status: out.status.code(),
            stderr,
        })
    }
}

/// Where a pane's output is copied (`pipe-pane`), and by what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneLog {
    pub path: std::path::PathBuf,
    /// The copier: a program and its first arguments. It gets the pane's
    /// output on stdin, then `--pid <the pane's process> <path>` as its
    /// last arguments (`switchboard pane-log --max-bytes N`).
    pub copier: Vec<String>,
}

impl PaneLog {
    /// `exec COPIER… --pid #{pane_pid} 'PATH'`, as tmux must be given it:
    /// every word of the copier and the path one quoted shell word with `#`
    /// and `%` doubled (tmux expands formats and `strftime` in this
    /// command), but for the pane's pid, which tmux fills in.
    pub fn shell_command(&self) -> Result<String> {
        let path = self
            .path
            .to_str()
            .ok_or_else(|| TmuxError::Invalid(format!("log path {:?} is not UTF-8", self.path)))?;
        if self.copier.is_empty() {
            return Err(TmuxError::Invalid("a pane log needs a copier".into()));
        }
        let word = |w: &str| names::format_literal(&names::shell_word(w));
        let copier: Vec<String> = self.copier.iter().map(|w| word(w)).collect();
        Ok(format!(
            "exec {} --pid #{{pane_pid}} {}",
            copier.join(" "),
            word(path)
        ))
    }
}

/// `=name`: an exact session match (a bare name would also match by prefix).
fn exact(session: &str) -> String {
    literal(&format!("={session}"))
}

/// Makes an argument of a tmux *command line argv* literal: tmux reads an argv
/// item ending in `;` as the end of a command (`x\;` stands for `x;`), so a
/// trailing `;` gets a backslash in front. Nothing else in argv is special.
pub(crate) fn literal(arg: &str) -> String {
    match arg.strip_suffix(';') {
        Some(head) => format!("{head}\\;"),
        None => arg.to_string(),
    }
}

/// tmux runs a single argument through `sh -c`; make it an exec of that one word.
fn program_argv(argv: &[String]) -> Vec<String> {
    match argv {
        [only] => vec!["sh".into(), "-c".into(), "exec \"$0\"".into(), only.clone()],
        _ => argv.to_vec(),
    }
}

pub(crate) fn check_session_name(name: &str) -> Result<()> {
    // tmux itself rejects `:` and `.`; a leading `-` would read as a flag.
    if name.is_empty() || name.contains([':', '.', '\0', '\n']) || name.starts_with('-') {
        return Err(TmuxError::Invalid(format!("bad session name {name:?}")));
    }
    Ok(())
}

/// "can't find session" and "no server" both mean the session is not there.
fn absent_is_false(result: Result<String>) -> Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(TmuxError::NoServer { .. }) => Ok(false),
        Err(TmuxError::Command { stderr, .. }) if stderr.contains("can't find session") => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

#[path = "command_respawn.rs"]
mod respawn;

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;

/// The pane a `new-session` or `respawn-pane` made, from what its
/// `display-message -p '#{pane_id} #{pane_pid}'` printed.
pub(super) fn parse_new_pane(what: &str, out: &str) -> Result<NewPane> {
    let line = out.lines().next().unwrap_or_default().trim();
    let (id, pid) = line.split_once(' ').unwrap_or((line, ""));
    if names::is_pane_id(id) {
        Ok(NewPane {
            id: id.to_string(),
            pid: pid.parse().ok(),
        })
    } else {
        Err(TmuxError::Parse(format!(
            "{what} printed {out:?}, not a pane id"
        )))
    }
}

/// A label goes into `status-left`, where `#` starts a tmux format.
fn check_label(label: &str) -> Result<()> {
    if label.contains('#') {
        return Err(TmuxError::Invalid(format!(
            "status label {label:?} holds '#'"
        )));
    }
    Ok(())
}

fn utf8_dir(cwd: &Path) -> Result<&str> {
    cwd.to_str()
        .ok_or_else(|| TmuxError::Invalid(format!("working directory {cwd:?} is not UTF-8")))
}

/// The client's PATH, and the pane's other variables.
type PaneEnv<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>);

/// A pane's environment as tmux takes it: PATH apart, since tmux 3.3a gives
/// a new pane the *client's* PATH, overriding `-e PATH=…` (so PATH travels
/// as the tmux process's own environment instead); every other variable
/// checked to be a name tmux can set.
fn split_env(env: &[(String, String)]) -> Result<PaneEnv<'_>> {
    let mut client_path = None;
    let mut vars = Vec::new();
    for (var, value) in env {
        if var == "PATH" {
            client_path = Some(value.as_str());
        } else if var.is_empty() || var.contains('=') || var.contains('\0') {
            return Err(TmuxError::Invalid(format!(
                "bad environment variable name {var:?}"
            )));
        } else {
            vars.push((var.as_str(), value.as_str()));
        }
    }
    Ok((client_path, vars))
}

/// The commands that show `[label]` at the left of `target`'s status line.
fn status_label(target: &str, label: &str) -> [TmuxCommand<'static>; 2] {
    [
        ("status-left", format!("[{label}] ")),
        (
            "status-left-length",
            (label.chars().count() + 3).to_string(),
        ),
    ]
    .map(|(option, value)| {
        SetOption::new()
            .target_pane(target.to_string())
            .option(option)
            .value(literal(&value))
            .build()
    })
}

//! The control-mode client (DESIGN §5): one long-lived `tmux -C` connection that
//! carries the engine's hot-path commands, pipelined, as text lines.
//!
//! Three tasks serve a connection: a writer that owns tmux's stdin, a reader
//! that frames tmux's stdout into replies, and a reaper that owns the child
//! process. Handles are clones of one `mpsc::Sender`; when the last one drops,
//! the writer asks tmux to kill the control session, which detaches the client.
//!
//! Not `destroy-unattached`: tmux 3.3a segfaults now and then (the whole
//! server, workers and all) when a session is destroyed because a control
//! client just left it. Killing the session while the client is still attached
//! is the ordinary path, the one a user's `kill-session` takes.

use super::command::{check_session_name, literal};
use super::control_io::{
    BATCH, Request, SharedState, collect_stderr, lock, read_loop, reap, write_loop,
};
use super::error::{Result, TmuxError};
use super::names::quote;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};

/// What the control session's own pane runs: something inert and cheap (the
/// default would be an interactive shell reading rc files).
const CONTROL_PANE_COMMAND: &str = "cat";
/// How long connecting may take before it is reported as a failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle on the control connection; cheap to clone, safe to use from many
/// tasks at once. Replies come back in request order (tmux answers in order).
#[derive(Debug, Clone)]
pub struct ControlClient {
    requests: mpsc::Sender<Request>,
    session: Arc<str>,
}

impl ControlClient {
    /// Connects to (creating if needed) `session` on the server `socket` (the
    /// default server when `None`), starting the server if none runs.
    ///
    /// Runs `tmux [-L socket] -C new-session -A -s <session> cat` with pipes
    /// for stdin/stdout (no tty is needed with a single `-C`), waits until the
    /// client is in its session, then turns off `%output` streaming
    /// (`refresh-client -f no-output`). If this process dies without dropping
    /// its handles, the control session stays behind and the next `connect`
    /// with the same name attaches to it (`-A`).
    pub async fn connect(socket: Option<&str>, session: &str) -> Result<ControlClient> {
        let argv = Self::argv(socket, session)?;
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        Self::start(command, session).await
    }

    /// The `tmux … -C new-session …` words [`Self::connect`] runs, for a
    /// caller that runs them elsewhere (on a host, through ssh).
    pub fn argv(socket: Option<&str>, session: &str) -> Result<Vec<String>> {
        check_session_name(session)?;
        // `-u`: a client in a locale that is not UTF-8 (LANG unset, as in an
        // ssh session or cron) gets every control character and non-ASCII
        // character of a reply as `_`, the list-panes field separator and
        // an agent's `✳` title included.
        let mut argv = vec!["tmux".to_string(), "-u".to_string()];
        if let Some(socket) = socket {
            argv.extend(["-L".to_string(), socket.to_string()]);
        }
        argv.extend(["-C", "new-session", "-A", "-s"].map(String::from));
        argv.push(literal(session));
        argv.push(CONTROL_PANE_COMMAND.into());
        Ok(argv)
    }

    /// Like [`Self::connect`], through `command`, which must run
    /// [`Self::argv`] with its standard input and output as tmux's (`ssh
    /// host tmux -C …`). Dropping the last handle ends it as it ends a
    /// local connection.
    pub async fn connect_through(command: Command, session: &str) -> Result<ControlClient> {
        check_session_name(session)?;
        Self::start(command, session).await
    }

    async fn start(mut command: Command, session: &str) -> Result<ControlClient> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(TmuxError::Parse("tmux -C started without pipes".into()));
        };

        let shared = SharedState::default();
        let (requests, receiver) = mpsc::channel(BATCH * 2);
        let (writer_done, writer_done_rx) = oneshot::channel();
        let (attached, attached_rx) = oneshot::channel();
        let farewell = farewell(session);
        tokio::spawn(read_loop(stdout, shared.clone(), attached));
        tokio::spawn(write_loop(
            stdin,
            receiver,
            shared.clone(),
            farewell,
            writer_done,
        ));
        tokio::spawn(reap(child, writer_done_rx));
        let stderr_task = tokio::spawn(collect_stderr(stderr));

        let client = ControlClient {
            requests,
            session: session.into(),
        };
        let setup = async {
            // tmux may run stdin lines before the command-line new-session.
            attached_rx.await.map_err(|_| TmuxError::Closed)?;
            client.run("refresh-client -f no-output").await
        };
        let failure = match tokio::time::timeout(CONNECT_TIMEOUT, setup).await {
            Ok(Ok(_)) => return Ok(client),
            Ok(Err(TmuxError::Closed)) => "the control client exited".to_string(),
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("no reply within {CONNECT_TIMEOUT:?}"),
        };
        drop(client);
        let stderr = tokio::time::timeout(Duration::from_secs(1), stderr_task)
            .await
            .ok()
            .and_then(|joined| joined.ok())
            .unwrap_or_default();
        let mut told = vec![failure];
        {
            let shared = lock(&shared);
            told.extend(shared.unsolicited_errors.iter().cloned());
            told.extend(shared.exit_reason.iter().cloned());
        }
        told.push(stderr);
        told.retain(|s| !s.trim().is_empty());
        Err(TmuxError::Command {
            cmd: format!("-C new-session -A -s {session}"),
            status: None,
            stderr: told.join("\n"),
        })
    }

    /// The control session this client is attached to.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// Runs one tmux command line and returns its output lines.
    ///
    /// The line is tmux command language: quote arguments with
    /// [`quote`](super::names::quote). It may not contain a line break (it would
    /// become two lines, and an empty line detaches the client) nor start with
    /// `%` (a `%if` would swallow the lines after it). Commands that answer later
    /// in the background (`run-shell -b` with output) are not supported.
    /// `%error` becomes [`TmuxError::Command`]; a gone connection
    /// [`TmuxError::Closed`].
    pub async fn run(&self, command: &str) -> Result<Vec<String>> {
        check_command_line(command)?;
        let (reply, answer) = oneshot::channel();
        let request = Request {
            command: command.to_string(),
            reply,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| TmuxError::Closed)?;
        answer.await.map_err(|_| TmuxError::Closed)?
    }
}

fn check_command_line(command: &str) -> Result<()> {
    if command.contains(['\n', '\r', '\0']) {
        return Err(TmuxError::Invalid(format!(
            "a control-mode command is one line: {command:?}"
        )));
    }
    let trimmed = command.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('%') {
        return Err(TmuxError::Invalid(format!(
            "not a tmux command line: {command:?}"
        )));
    }
    Ok(())
}

/// The last line a connection sends: kill the control session if this client
/// is its only one, else just detach. Either way tmux detaches the client.
fn farewell(session: &str) -> String {
    let kill = format!("kill-session -t {}", quote(&format!("={session}")));
    // `=name:`: if-shell resolves its target as a pane, and `=name` alone
    // would be looked up as a window name.
    format!(
        "if-shell -F -t {} '#{{==:#{{session_attached}},1}}' {} detach-client",
        quote(&format!("={session}:")),
        quote(&kill)
    )
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;

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
use super::error::{Result, TmuxError};
use super::framing::{Frame, Framer};
use super::names::quote;
use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};

/// What the control session's own pane runs: something inert and cheap (the
/// default would be an interactive shell reading rc files).
const CONTROL_PANE_COMMAND: &str = "cat";
/// Requests written to tmux in one `write_all`, at most.
const BATCH: usize = 128;
/// How long connecting may take before it is reported as a failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the tmux client gets to exit after its stdin closes.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// A handle on the control connection; cheap to clone, safe to use from many
/// tasks at once. Replies come back in request order (tmux answers in order).
#[derive(Debug, Clone)]
pub struct ControlClient {
    requests: mpsc::Sender<Request>,
    session: Arc<str>,
}

#[derive(Debug)]
struct Request {
    command: String,
    reply: oneshot::Sender<Result<Vec<String>>>,
}

/// A request written to tmux and not yet answered.
///
/// Every request is followed on the wire by a sentinel `display-message` whose
/// unique text marks where its reply ends. One command line can yield zero
/// blocks (a comment) or several (`a ; b`, `if-shell`'s nested commands), so
/// counting blocks would let one odd line shift every later reply onto the
/// wrong request; the sentinel keeps the pairing exact.
#[derive(Debug)]
struct Pending {
    command: String,
    sentinel: String,
    lines: Vec<String>,
    error: Option<String>,
    reply: oneshot::Sender<Result<Vec<String>>>,
}

#[derive(Debug, Default)]
struct Shared {
    pending: VecDeque<Pending>,
    closed: bool,
    /// Error text of blocks we did not ask for (the command-line `new-session`),
    /// kept for the connect error.
    unsolicited_errors: Vec<String>,
    exit_reason: Option<String>,
}

type SharedState = Arc<Mutex<Shared>>;

fn lock(shared: &SharedState) -> MutexGuard<'_, Shared> {
    // A panic elsewhere must not wedge every caller; the queue stays usable.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
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
        check_session_name(session)?;
        let mut command = Command::new("tmux");
        if let Some(socket) = socket {
            command.args(["-L", socket]);
        }
        let session_arg = literal(session);
        command
            .args(["-C", "new-session", "-A", "-s", &session_arg])
            .arg(CONTROL_PANE_COMMAND)
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

/// A per-connection nonce, so sentinel text cannot be guessed by whatever a
/// command prints.
fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{:x}{n:x}", std::process::id(), nanos)
}

async fn write_loop(
    mut stdin: ChildStdin,
    mut requests: mpsc::Receiver<Request>,
    shared: SharedState,
    farewell: String,
    done: oneshot::Sender<ChildStdin>,
) {
    let nonce = nonce();
    let mut seq: u64 = 0;
    let mut buf = String::new();
    while let Some(first) = requests.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        buf.clear();
        {
            // Queued before written: the reader must never see a reply first.
            let mut state = lock(&shared);
            for request in batch {
                if state.closed {
                    // The caller may have gone; nothing to do if so.
                    let _ = request.reply.send(Err(TmuxError::Closed));
                    continue;
                }
                seq += 1;
                let sentinel = format!("sb-sync-{nonce}-{seq}");
                buf.push_str(&request.command);
                buf.push('\n');
                buf.push_str("display-message -p ");
                buf.push_str(&sentinel);
                buf.push('\n');
                state.pending.push_back(Pending {
                    command: request.command,
                    sentinel,
                    lines: Vec::new(),
                    error: None,
                    reply: request.reply,
                });
            }
        }
        if buf.is_empty() {
            continue;
        }
        let written = async {
            stdin.write_all(buf.as_bytes()).await?;
            stdin.flush().await
        };
        if let Err(err) = written.await {
            tracing::warn!(%err, "writing to tmux control client failed");
            close(&shared, Some(format!("write failed: {err}")));
        }
    }
    // The last handle is gone. Not EOF yet: tmux may drop lines still queued
    // when stdin closes. The reaper closes it once the client is out.
    let closed = lock(&shared).closed;
    if !closed {
        let line = format!("{farewell}\n");
        if let Err(err) = stdin.write_all(line.as_bytes()).await {
            tracing::debug!(%err, "could not say goodbye to tmux");
        }
        let _ = stdin.flush().await;
    }
    let _ = done.send(stdin);
}

/// `attached` fires at the first `%session-changed`: the client is in its session.
async fn read_loop(stdout: ChildStdout, shared: SharedState, attached: oneshot::Sender<()>) {
    let mut attached = Some(attached);
    let mut reader = BufReader::new(stdout);
    let mut framer = Framer::default();
    let mut raw = Vec::new();
    let reason = loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw).await {
            Ok(0) => break None,
            Ok(_) => {}
            Err(err) => break Some(format!("read failed: {err}")),
        }
        if raw.last() == Some(&b'\n') {
            raw.pop();
        }
        // Pane text may be any bytes; replies are handed on lossily as UTF-8.
        let line = String::from_utf8_lossy(&raw).into_owned();
        match framer.push(line) {
            None => {}
            Some(Frame::Reply {
                from_client: true,
                ok,
                lines,
            }) => deliver(&shared, ok, lines),
            // Blocks we did not ask for: only their errors are worth keeping.
            Some(Frame::Reply {
                from_client: false,
                ok: false,
                lines,
            }) => {
                tracing::debug!(?lines, "tmux error outside our requests");
                lock(&shared).unsolicited_errors.extend(lines);
            }
            Some(Frame::Reply { .. }) => {}
            Some(Frame::Exit { reason }) => {
                break Some(reason.map_or("%exit".into(), |r| format!("%exit {r}")));
            }
            Some(Frame::Notification(line)) => {
                if line.starts_with("%session-changed ")
                    && let Some(attached) = attached.take()
                {
                    let _ = attached.send(());
                }
                tracing::trace!(%line, "tmux notification");
            }
            Some(Frame::Stray(line)) => tracing::debug!(%line, "unexpected line from tmux -C"),
        }
    };
    tracing::debug!(?reason, "tmux control connection ended");
    close(&shared, reason);
}

/// Routes one reply block to the oldest pending request: output is gathered
/// until that request's sentinel block arrives, then handed over whole.
fn deliver(shared: &SharedState, ok: bool, lines: Vec<String>) {
    let mut state = lock(shared);
    let Some(front) = state.pending.front_mut() else {
        tracing::warn!(?lines, "tmux replied with no request pending");
        return;
    };
    if ok && lines.len() == 1 && lines[0] == front.sentinel {
        let Some(done) = state.pending.pop_front() else {
            return;
        };
        let result = match done.error {
            Some(stderr) => Err(TmuxError::Command {
                cmd: done.command,
                status: None,
                stderr,
            }),
            None => Ok(done.lines),
        };
        // A caller that stopped waiting does not need its answer.
        let _ = done.reply.send(result);
    } else if ok {
        front.lines.extend(lines);
    } else {
        let error = front.error.get_or_insert_with(String::new);
        if !error.is_empty() {
            error.push('\n');
        }
        error.push_str(&lines.join("\n"));
    }
}

/// Fails everything pending and everything sent from now on with `Closed`.
fn close(shared: &SharedState, reason: Option<String>) {
    let pending = {
        let mut state = lock(shared);
        state.closed = true;
        if state.exit_reason.is_none() {
            state.exit_reason = reason;
        }
        std::mem::take(&mut state.pending)
    };
    for request in pending {
        let _ = request.reply.send(Err(TmuxError::Closed));
    }
}

/// Waits for the tmux client. After the writer's farewell, gives it a moment
/// to leave on its own, then closes its stdin, then kills it: no handle leaks
/// a process.
async fn reap(mut child: Child, writer_done: oneshot::Receiver<ChildStdin>) {
    let mut stdin = tokio::select! {
        status = child.wait() => {
            tracing::debug!(?status, "tmux control client exited");
            return;
        }
        stdin = writer_done => stdin.ok(),
    };
    for step in ["farewell", "EOF"] {
        match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
            Ok(status) => {
                tracing::debug!(?status, after = step, "tmux control client exited");
                return;
            }
            Err(_) => drop(stdin.take()),
        }
    }
    tracing::warn!("tmux control client did not exit; killing it");
    if let Err(err) = child.kill().await {
        tracing::warn!(%err, "could not kill tmux control client");
    }
}

/// Logs what tmux says on stderr and keeps the start of it for a connect error.
async fn collect_stderr(stderr: ChildStderr) -> String {
    let mut lines = BufReader::new(stderr).lines();
    let mut kept = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::warn!(%line, "tmux control client stderr");
        if kept.len() < 4096 {
            kept.push_str(&line);
            kept.push('\n');
        }
    }
    kept
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;

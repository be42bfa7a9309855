//! The tasks behind one control connection: the writer (requests out, each
//! followed by a sentinel), the reader (frames in, paired with requests), and
//! the reaper (the `tmux -C` child process).

use super::error::{Result, TmuxError};
use super::framing::{Frame, Framer};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot};

/// Requests written to tmux in one `write_all`, at most.
pub(super) const BATCH: usize = 128;
/// How long the tmux client gets to leave after the farewell, and after EOF.
const EXIT_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub(super) struct Request {
    pub(super) command: String,
    pub(super) reply: oneshot::Sender<Result<Vec<String>>>,
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
pub(super) struct Shared {
    pending: VecDeque<Pending>,
    closed: bool,
    /// Error text of blocks we did not ask for (the command-line `new-session`),
    /// kept for the connect error.
    pub(super) unsolicited_errors: Vec<String>,
    pub(super) exit_reason: Option<String>,
}

pub(super) type SharedState = Arc<Mutex<Shared>>;

pub(super) fn lock(shared: &SharedState) -> MutexGuard<'_, Shared> {
    // A panic elsewhere must not wedge every caller; the queue stays usable.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
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

pub(super) async fn write_loop(
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
pub(super) async fn read_loop(
    stdout: ChildStdout,
    shared: SharedState,
    attached: oneshot::Sender<()>,
) {
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
pub(super) async fn reap(mut child: Child, writer_done: oneshot::Receiver<ChildStdin>) {
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
pub(super) async fn collect_stderr(stderr: ChildStderr) -> String {
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

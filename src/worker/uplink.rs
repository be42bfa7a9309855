//! The shim's link to the engine: connect, say hello, beat, relay; reconnect
//! with backoff whenever the engine is away, keeping undelivered messages in
//! order meanwhile.
//!
//! Per connection the engine sees: `hello`, then (after a reconnect) the
//! `exit` it may have missed, then queued messages in the order they were
//! produced, with heartbeats in between. Heartbeats are never queued: while
//! disconnected there is nothing to prove.

use super::protocol::{EngineMessage, ShimMessage};
use super::secret::AttemptSecret;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::time::{MissedTickBehavior, interval, sleep, timeout};

pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// An engine that has not taken a line for this long is treated as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Reports beyond this many undelivered messages push the oldest report out,
/// so a chatty agent with no engine cannot grow the shim without bound.
/// Exit and halt results are never dropped.
const MAX_QUEUED: usize = 1024;
/// Beats faster than this would only load the engine.
const MIN_HEARTBEAT: Duration = Duration::from_millis(10);

/// Who this shim is; the fields of every `hello`.
#[derive(Debug, Clone)]
pub struct Identity {
    pub task: String,
    pub attempt: u32,
    pub shim_pid: u32,
    pub agent_pid: Option<u32>,
    pub pane_id: Option<String>,
    pub secret: AttemptSecret,
}

#[derive(Debug)]
enum Outgoing {
    Send(ShimMessage),
    AgentGone,
    /// Speak for another task's attempt from now on (a pool worker's live
    /// agent took its next task): a new connection with a new hello.
    Rebind {
        task: String,
        attempt: u32,
        secret: AttemptSecret,
    },
}

/// The sending side, cheap to clone (the report socket holds one).
#[derive(Debug, Clone)]
pub struct Uplink {
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl Uplink {
    /// The queue, usable at once; messages wait in it until the returned
    /// [`Connector`] is started (the hello needs the agent's pid, the agent
    /// needs the report socket, the report socket needs somewhere to queue).
    pub fn new() -> (Uplink, Connector) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Uplink { tx }, Connector { rx })
    }

    /// Queue a message for the engine (delivered in order, across reconnects).
    pub fn send(&self, message: ShimMessage) {
        if self.tx.send(Outgoing::Send(message)).is_err() {
            tracing::warn!("the uplink has stopped; message dropped");
        }
    }

    /// The agent has ended: hellos from now on carry no agent pid.
    pub fn agent_gone(&self) {
        let _ = self.tx.send(Outgoing::AgentGone);
    }

    /// From now on, speak for `task`'s attempt `attempt`: what was queued
    /// before goes out first, then the connection is made again at once
    /// with a hello proving `secret`.
    pub fn rebind(&self, task: String, attempt: u32, secret: AttemptSecret) {
        let _ = self.tx.send(Outgoing::Rebind {
            task,
            attempt,
            secret,
        });
    }
}

/// The not-yet-started connection side of an [`Uplink`].
#[derive(Debug)]
pub struct Connector {
    rx: mpsc::UnboundedReceiver<Outgoing>,
}

impl Connector {
    /// Connect in the background; engine messages come out of the receiver.
    pub fn start(
        self,
        engine_socket: PathBuf,
        identity: Identity,
        heartbeat: Duration,
    ) -> mpsc::Receiver<EngineMessage> {
        let (incoming, from_engine) = mpsc::channel(16);
        let link = Link {
            path: engine_socket,
            identity,
            heartbeat: heartbeat.max(MIN_HEARTBEAT),
            seq: 0,
            queue: VecDeque::new(),
            delivered_exit: None,
            rx: self.rx,
            incoming,
        };
        tokio::spawn(link.run());
        from_engine
    }
}

/// Why a connection ended.
enum Ended {
    /// The engine went away: reconnect.
    Dropped,
    /// The shim dropped every `Uplink`: stop.
    Closed,
    /// The shim speaks for another attempt now: connect again at once.
    Rebound,
}

struct Link {
    path: PathBuf,
    identity: Identity,
    heartbeat: Duration,
    seq: u64,
    queue: VecDeque<ShimMessage>,
    /// The `exit` once written: a restarted engine may never have read it,
    /// so it follows every later hello until the shim ends (on `bye`).
    delivered_exit: Option<ShimMessage>,
    rx: mpsc::UnboundedReceiver<Outgoing>,
    incoming: mpsc::Sender<EngineMessage>,
}

impl Link {
    async fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            match UnixStream::connect(&self.path).await {
                Ok(stream) => {
                    backoff = BACKOFF_MIN;
                    match self.serve(stream).await {
                        Ended::Closed => return,
                        Ended::Rebound => continue,
                        Ended::Dropped => tracing::info!("engine connection lost"),
                    }
                }
                Err(e) => tracing::debug!("engine at {} unreachable: {e}", self.path.display()),
            }
            // Keep taking messages while waiting, so nothing blocks on us.
            let pause = sleep(backoff);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    _ = &mut pause => break,
                    out = self.rx.recv() => match out {
                        Some(out) => self.absorb(out),
                        None => return,
                    },
                }
            }
            backoff = next_backoff(backoff);
        }
    }

    async fn serve(&mut self, stream: UnixStream) -> Ended {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let hello = self.hello();
        if write_line(&mut write, &hello).await.is_err() {
            return Ended::Dropped;
        }
        if let Some(exit) = self.delivered_exit.clone()
            && write_line(&mut write, &exit).await.is_err()
        {
            return Ended::Dropped;
        }
        if self.flush(&mut write).await.is_err() {
            return Ended::Dropped;
        }
        let mut beat = interval(self.heartbeat);
        beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                out = self.rx.recv() => match out {
                    Some(out) => {
                        let rebound = matches!(out, Outgoing::Rebind { .. });
                        self.absorb(out);
                        if self.flush(&mut write).await.is_err() {
                            return Ended::Dropped;
                        }
                        if rebound {
                            return Ended::Rebound;
                        }
                    }
                    None => return Ended::Closed,
                },
                _ = beat.tick() => {
                    self.seq += 1;
                    let beat = ShimMessage::Heartbeat { seq: self.seq };
                    if write_line(&mut write, &beat).await.is_err() {
                        return Ended::Dropped;
                    }
                }
                line = lines.next_line() => match line {
                    Ok(Some(line)) => {
                        if let Some(message) = parse_engine_line(&line)
                            && self.incoming.send(message).await.is_err()
                        {
                            return Ended::Closed;
                        }
                    }
                    Ok(None) | Err(_) => return Ended::Dropped,
                },
            }
        }
    }

    fn hello(&self) -> ShimMessage {
        let id = &self.identity;
        ShimMessage::Hello {
            task: id.task.clone(),
            attempt: id.attempt,
            shim_pid: id.shim_pid,
            agent_pid: id.agent_pid,
            pane_id: id.pane_id.clone(),
            secret: id.secret.clone(),
        }
    }

    fn absorb(&mut self, out: Outgoing) {
        match out {
            Outgoing::AgentGone => self.identity.agent_pid = None,
            Outgoing::Rebind {
                task,
                attempt,
                secret,
            } => {
                self.identity.task = task;
                self.identity.attempt = attempt;
                self.identity.secret = secret;
                self.delivered_exit = None;
            }
            Outgoing::Send(message) => {
                if self.queue.len() >= MAX_QUEUED
                    && let Some(i) = self
                        .queue
                        .iter()
                        .position(|m| matches!(m, ShimMessage::Report { .. }))
                {
                    tracing::warn!("engine away too long: dropping the oldest queued report");
                    self.queue.remove(i);
                }
                self.queue.push_back(message);
            }
        }
    }

    /// Write queued messages in order; each leaves the queue only once written.
    async fn flush(&mut self, write: &mut OwnedWriteHalf) -> std::io::Result<()> {
        while let Some(message) = self.queue.front() {
            write_line(write, message).await?;
            if matches!(message, ShimMessage::Exit { .. }) {
                self.delivered_exit = Some(message.clone());
            }
            self.queue.pop_front();
        }
        Ok(())
    }
}

fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(BACKOFF_MAX)
}

/// Unknown or malformed lines are skipped: a newer engine may say more.
fn parse_engine_line(line: &str) -> Option<EngineMessage> {
    match serde_json::from_str(line) {
        Ok(message) => Some(message),
        Err(e) => {
            tracing::warn!("ignoring engine line {line:?}: {e}");
            None
        }
    }
}

async fn write_line(write: &mut OwnedWriteHalf, message: &ShimMessage) -> std::io::Result<()> {
    let mut line = serde_json::to_string(message).map_err(std::io::Error::other)?;
    line.push('\n');
    match timeout(WRITE_TIMEOUT, write.write_all(line.as_bytes())).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "engine not reading",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut b = BACKOFF_MIN;
        let mut seen = vec![b];
        for _ in 0..8 {
            b = next_backoff(b);
            seen.push(b);
        }
        assert_eq!(seen[1], Duration::from_millis(100));
        assert_eq!(seen[5], Duration::from_millis(1600));
        assert_eq!(*seen.last().unwrap(), BACKOFF_MAX);
    }

    #[test]
    fn unknown_engine_lines_are_skipped() {
        assert_eq!(
            parse_engine_line(r#"{"type":"bye"}"#),
            Some(EngineMessage::Bye)
        );
        assert_eq!(parse_engine_line(r#"{"type":"future_thing"}"#), None);
        assert_eq!(parse_engine_line("not json"), None);
    }
}

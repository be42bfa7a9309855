//! An [`EngineLink`] to an engine in another process, over its control
//! socket: requests are forwarded in order on one connection, and snapshots
//! come from polling `status` a few times a second.

use super::command::{Command, Reply};
use super::link::{EngineLink, Request};
use super::snapshot::Snapshot;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, watch};

const POLL: Duration = Duration::from_millis(250);

/// Connect to the engine at `path`; fails when none answers.
pub async fn connect(path: &Path) -> io::Result<EngineLink> {
    let first = match super::socket::call(path, &Command::Status).await? {
        Reply::Status(s) => *s,
        other => {
            return Err(io::Error::other(format!(
                "unexpected reply to status: {other:?}"
            )));
        }
    };
    let stream = UnixStream::connect(path).await?;
    let (snap_tx, snap_rx) = watch::channel(Arc::new(first));
    let (req_tx, mut req_rx) = mpsc::channel::<Request>(64);
    let (read, mut write) = stream.into_split();
    tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        let mut poll = tokio::time::interval(POLL);
        loop {
            // Our own status polls and the front end's requests share the
            // connection; each line sent gets exactly one reply line back.
            let (command, reply) = tokio::select! {
                req = req_rx.recv() => match req {
                    Some(r) => (r.command, r.reply),
                    None => break,
                },
                _ = poll.tick() => (Command::Status, None),
            };
            let polled = command == Command::Status;
            let Ok(mut line) = serde_json::to_string(&command) else {
                continue;
            };
            line.push('\n');
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
            let answer = match lines.next_line().await {
                Ok(Some(text)) => {
                    serde_json::from_str::<Reply>(&text).unwrap_or_else(|e| Reply::Error {
                        message: format!("unreadable reply: {e}"),
                    })
                }
                _ => break,
            };
            if polled && let Reply::Status(s) = &answer {
                snap_tx.send_replace(Arc::new(Snapshot::clone(s)));
            }
            if let Some(tx) = reply {
                let _ = tx.send(answer);
            }
        }
    });
    Ok(EngineLink {
        requests: req_tx,
        snapshots: snap_rx,
    })
}

//! The engine's Unix socket: shims and control clients (`switchboard status`,
//! `halt`, `resume`, an attaching TUI) connect here. Mode 0600 in a 0700
//! directory under `$XDG_RUNTIME_DIR` (or `/tmp/switchboard-<uid>/`), one
//! socket per repository.

use super::command::{Command, Reply};
use super::link::Request;
use super::os::Clock;
use crate::worker::protocol::{EngineMessage, ShimMessage};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

pub type ConnId = u64;

/// What the socket tells the actor.
#[derive(Debug)]
pub enum SocketEvent {
    ShimHello {
        conn: ConnId,
        hello: ShimMessage,
        tx: mpsc::UnboundedSender<EngineMessage>,
    },
    /// `at_us`: when the line was read (the engine's monotonic clock), so
    /// latencies exclude the actor's queue.
    Shim {
        conn: ConnId,
        msg: ShimMessage,
        at_us: u64,
    },
    ShimClosed {
        conn: ConnId,
    },
}

/// The directory holding engine and shim sockets, created 0700.
pub fn runtime_dir() -> io::Result<PathBuf> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() && Path::new(&d).is_dir() => PathBuf::from(d).join("switchboard"),
        _ => PathBuf::from(format!("/tmp/switchboard-{}", nix::unistd::getuid())),
    };
    std::fs::create_dir_all(&dir)?;
    let meta = std::fs::symlink_metadata(&dir)?;
    // Another user's directory (or a planted symlink) must not be trusted.
    use std::os::unix::fs::MetadataExt;
    if meta.file_type().is_symlink() || meta.uid() != nix::unistd::getuid().as_raw() {
        return Err(io::Error::other(format!(
            "{} is not a directory owned by this user",
            dir.display()
        )));
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}

/// The engine socket of the repository keyed `repo_key`.
pub fn socket_path(repo_key: &str) -> io::Result<PathBuf> {
    Ok(runtime_dir()?.join(format!("{repo_key}.sock")))
}

/// The socket engine `n` of the repository listens on: its shims reach it
/// there (the first engine also answers front ends on [`socket_path`]).
pub fn engine_socket_path(repo_key: &str, n: u32) -> io::Result<PathBuf> {
    Ok(runtime_dir()?.join(format!("{repo_key}-{n}.sock")))
}

/// Bind the engine socket. A live engine already listening is an error; a
/// stale socket file left by a dead one is replaced.
pub async fn bind(path: &Path) -> io::Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "an engine is already running for this repository ({})",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Accept connections forever, sorting them into shims and control clients.
pub async fn serve(
    listener: UnixListener,
    events: mpsc::Sender<SocketEvent>,
    requests: mpsc::Sender<Request>,
    clock: Arc<dyn Clock>,
) {
    let mut next_id: ConnId = 1;
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("engine socket accept: {e}");
                continue;
            }
        };
        let conn = next_id;
        next_id += 1;
        tokio::spawn(handle(
            stream,
            conn,
            events.clone(),
            requests.clone(),
            clock.clone(),
        ));
    }
}

pub(super) async fn handle(
    stream: UnixStream,
    conn: ConnId,
    events: mpsc::Sender<SocketEvent>,
    requests: mpsc::Sender<Request>,
    clock: Arc<dyn Clock>,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let Ok(Some(first)) = lines.next_line().await else {
        return;
    };
    if let Ok(hello @ ShimMessage::Hello { .. }) = serde_json::from_str::<ShimMessage>(&first) {
        let (tx, mut rx) = mpsc::unbounded_channel::<EngineMessage>();
        if events
            .send(SocketEvent::ShimHello { conn, hello, tx })
            .await
            .is_err()
        {
            return;
        }
        let writer = tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                let Ok(mut line) = serde_json::to_string(&msg) else {
                    continue;
                };
                line.push('\n');
                if write.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<ShimMessage>(&line) {
                Ok(msg) => {
                    let at_us = clock.mono_us();
                    if events
                        .send(SocketEvent::Shim { conn, msg, at_us })
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => tracing::warn!("shim {conn} sent an unreadable line: {e}"),
            }
        }
        let _ = events.send(SocketEvent::ShimClosed { conn }).await;
        writer.abort();
        return;
    }
    // A control client: each line a Command, each answered by one Reply line.
    let mut line = Some(first);
    while let Some(text) = line {
        let reply = match serde_json::from_str::<Command>(&text) {
            Ok(command) => {
                let (tx, rx) = oneshot::channel();
                if requests
                    .send(Request {
                        command,
                        reply: Some(tx),
                    })
                    .await
                    .is_err()
                {
                    Reply::Error {
                        message: "the engine is stopping".into(),
                    }
                } else {
                    rx.await.unwrap_or(Reply::Error {
                        message: "the engine dropped the request".into(),
                    })
                }
            }
            Err(e) => Reply::Error {
                message: format!("not a command: {e}"),
            },
        };
        let Ok(mut out) = serde_json::to_string(&reply) else {
            break;
        };
        out.push('\n');
        if write.write_all(out.as_bytes()).await.is_err() {
            break;
        }
        line = lines.next_line().await.ok().flatten();
    }
}

/// A control client's side: send one command, read its reply.
pub async fn call(path: &Path, command: &Command) -> io::Result<Reply> {
    let stream = UnixStream::connect(path).await?;
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_string(command).map_err(io::Error::other)?;
    line.push('\n');
    write.write_all(line.as_bytes()).await?;
    let mut lines = BufReader::new(read).lines();
    let reply = lines.next_line().await?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the engine closed the connection",
        )
    })?;
    serde_json::from_str(&reply).map_err(io::Error::other)
}

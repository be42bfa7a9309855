//! `switchboard report`: an agent tells its shim what state it is in, over the
//! shim's own report socket; both ends of that one-line exchange live here.
//!
//! The client sends an [`AgentReport`] line and waits for a [`ReportAck`]
//! line. The shim acknowledges once the report is queued for the engine, so a
//! report acknowledged before the agent exits reaches the engine before its
//! `exit`, even if the engine is away at the time.

use super::protocol::{AgentReport, ReportAck, ShimMessage, Usage, env};
use super::uplink::Uplink;
use crate::cli::ReportArgs;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::{UnixListener, UnixStream};

/// The client's hang guard: the shim answers at once, unless it is gone.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// A report connection idle this long is closed by the shim.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("not inside a switchboard worker ({} is not set)", env::REPORT_SOCKET)]
    NotInWorker,
    #[error("cannot reach the worker's report socket {path}: {source}")]
    Connect { path: PathBuf, source: io::Error },
    #[error("lost the worker's report socket: {0}")]
    Io(#[from] io::Error),
    #[error("the worker gave no acknowledgement")]
    NoAck,
    #[error("the worker's acknowledgement is unreadable: {0}")]
    BadAck(String),
    #[error("the worker refused the report: {0}")]
    Refused(String),
}

pub fn run(args: &ReportArgs) -> ExitCode {
    let usage = Usage {
        input_tokens: args.input_tokens,
        output_tokens: args.output_tokens,
        cost_usd: args.cost_usd,
    };
    let report = AgentReport {
        state: args.state,
        message: args.message.clone(),
        usage: (!usage.is_empty()).then_some(usage),
    };
    match send_report(&report) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard report: {e}");
            ExitCode::from(2)
        }
    }
}

pub(crate) fn send_report(report: &AgentReport) -> Result<(), ReportError> {
    let path = std::env::var_os(env::REPORT_SOCKET)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .ok_or(ReportError::NotInWorker)?;
    let stream = StdUnixStream::connect(&path).map_err(|source| ReportError::Connect {
        path: path.clone(),
        source,
    })?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut line = serde_json::to_string(report).map_err(io::Error::other)?;
    line.push('\n');
    (&stream).write_all(line.as_bytes())?;
    let mut ack = String::new();
    BufReader::new(&stream).read_line(&mut ack)?;
    if ack.trim().is_empty() {
        return Err(ReportError::NoAck);
    }
    let ack: ReportAck =
        serde_json::from_str(ack.trim()).map_err(|e| ReportError::BadAck(e.to_string()))?;
    if ack.ok {
        Ok(())
    } else {
        Err(ReportError::Refused(ack.error.unwrap_or_default()))
    }
}

/// The shim's report socket file; removed when dropped.
#[derive(Debug)]
pub struct ReportSocket {
    path: PathBuf,
}

impl ReportSocket {
    /// Where a shim's report socket lives: beside the engine's socket (a
    /// directory the engine already keeps private), named by the shim's pid.
    pub fn path_for(engine_socket: &Path, shim_pid: u32) -> PathBuf {
        let dir = engine_socket.parent().unwrap_or(Path::new("."));
        dir.join(format!("r-{shim_pid}.sock"))
    }

    /// Bind with mode 0600 and start answering reports into `uplink`.
    pub fn bind(path: PathBuf, uplink: Uplink) -> io::Result<ReportSocket> {
        // A stale file from a dead shim with the same pid would block bind.
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // Created 0600 from the start (umask), not chmod-ed after a window
        // in which anyone could connect.
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let listener = UnixListener::bind(&path);
        nix::sys::stat::umask(old);
        let listener = listener?;
        let socket = ReportSocket { path };
        std::fs::set_permissions(&socket.path, std::fs::Permissions::from_mode(0o600))?;
        tokio::spawn(accept_reports(listener, uplink));
        Ok(socket)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ReportSocket {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::debug!("cannot remove {}: {e}", self.path.display());
        }
    }
}

async fn accept_reports(listener: UnixListener, uplink: Uplink) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(answer_reports(stream, uplink.clone()));
            }
            Err(e) => {
                // Out of descriptors and the like: wait rather than spin.
                tracing::warn!("report socket accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One client: each report line is queued for the engine, then acknowledged.
async fn answer_reports(stream: UnixStream, uplink: Uplink) {
    let (read, mut write) = stream.into_split();
    let mut lines = AsyncBufReader::new(read).lines();
    while let Ok(Ok(Some(line))) = tokio::time::timeout(IDLE_TIMEOUT, lines.next_line()).await {
        let ack = match serde_json::from_str::<AgentReport>(&line) {
            Ok(report) => {
                uplink.send(ShimMessage::Report {
                    state: report.state,
                    message: report.message,
                    usage: report.usage,
                });
                ReportAck::accepted()
            }
            Err(e) => ReportAck::rejected(format!("not a report: {e}")),
        };
        let Ok(mut reply) = serde_json::to_string(&ack) else {
            return;
        };
        reply.push('\n');
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_socket_sits_beside_the_engine_socket() {
        let path = ReportSocket::path_for(Path::new("/run/sb/engine.sock"), 42);
        assert_eq!(path, Path::new("/run/sb/r-42.sock"));
    }
}

//! The engine's own log: `.switchboard/logs/switchboard.log` (daily), at
//! `info` unless `SWITCHBOARD_LOG` says otherwise; never to the screen.

use std::path::Path;

/// Start logging for the repository at `root`; keep the guard alive as long
/// as the process logs (dropping it flushes).
pub fn init(root: &Path) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = root.join(".switchboard").join("logs");
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::daily(dir, "switchboard.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}

//! The TUI against a stand-in engine that replays the example plan's
//! mid-run fixture with a moving clock: for trying keys, attach and resizing
//! without real workers.
//!
//!     cargo run --features fixtures --example tui_demo [keymap.yaml]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard::engine::command::{Command, Reply};
use switchboard::engine::link::{EngineLink, Request};
use switchboard::engine::snapshot::{LogLevel, LogLine, RunPhase, Snapshot, TaskState};
use switchboard::tui::{self, TuiOptions, fixture};
use tokio::sync::{mpsc, watch};

#[tokio::main]
async fn main() -> color_eyre::Result<()> {
    color_eyre::install()?;
    let (requests, mut inbox) = mpsc::channel::<Request>(64);
    let (publish, snapshots) = watch::channel(Arc::new(fixture::mid_run()));
    tokio::spawn(async move {
        let mut state = fixture::mid_run();
        let begun = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                request = inbox.recv() => {
                    let Some(Request { command, reply }) = request else { return };
                    let answer = answer(&mut state, command);
                    if let Some(reply) = reply {
                        let _ = reply.send(answer);
                    }
                }
                _ = tick.tick() => {}
            }
            state.now_ms = fixture::NOW + begun.elapsed().as_millis() as u64;
            if state.now_ms / 5_000 != state.log_tail.last().map_or(0, |l| l.ts_ms / 5_000) {
                log(&mut state, LogLevel::Info, "T4 heartbeat HEALTHY");
            }
            publish.send_replace(Arc::new(state.clone()));
        }
    });
    let options = TuiOptions {
        keymap_path: std::env::args().nth(1).map(PathBuf::from),
        ..TuiOptions::default()
    };
    let choice = tui::run(
        EngineLink {
            requests,
            snapshots,
        },
        options,
    )
    .await?;
    println!("quit: {choice:?}");
    Ok(())
}

fn log(state: &mut Snapshot, level: LogLevel, text: &str) {
    state.log_tail.push(LogLine {
        ts_ms: state.now_ms,
        level,
        task: None,
        text: text.into(),
    });
    state.log_total += 1;
}

fn answer(state: &mut Snapshot, command: Command) -> Reply {
    let task = |state: &mut Snapshot, id: &str| state.tasks.iter_mut().position(|t| t.id == id);
    match command {
        Command::Halt => {
            state.phase = RunPhase::Halted;
            log(state, LogLevel::Warn, "halt: every worker stopped");
            Reply::Halt(fixture::halt_report())
        }
        Command::Resume => {
            state.phase = RunPhase::Running;
            Reply::Ok
        }
        Command::Spawn { task: id, force } => match task(state, &id) {
            Some(i) if !force && !state.tasks[i].dependencies.is_empty() => Reply::Error {
                message: format!(
                    "{id} has unmet dependencies: {}",
                    state.tasks[i].dependencies.join(", ")
                ),
            },
            Some(i) => {
                state.tasks[i].state = TaskState::Running;
                log(state, LogLevel::Info, &format!("{id} spawned"));
                Reply::Ok
            }
            None => Reply::Error {
                message: format!("no task {id}"),
            },
        },
        Command::Kill { task: id, .. } => match task(state, &id) {
            Some(i) => {
                state.tasks[i].state = TaskState::Cancelled;
                Reply::Ok
            }
            None => Reply::Error {
                message: format!("no task {id}"),
            },
        },
        Command::PaneTail { task: id, lines } => Reply::PaneTail {
            lines: (0..lines.min(40))
                .map(|n| format!("[{id}] line {n} at {}", state.now_ms / 1000 % 1000))
                .collect(),
            log: None,
        },
        Command::TaskDetail { task: id, .. } => {
            Reply::TaskDetail(Box::new(switchboard::engine::detail::TaskDetail {
                task: id,
                ..Default::default()
            }))
        }
        Command::Status => Reply::Status(Box::new(state.clone())),
        _ => Reply::Ok,
    }
}

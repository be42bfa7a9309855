//! `switchboard recheck | rebase-merge | mark-done TASK`: through this
//! repository's running engine when there is one; otherwise through an
//! engine of their own, started for the one command (nothing else is
//! selected to run) and stopped once the task has settled, so a headless
//! user can recover without opening the control room.

use crate::engine::command::{Command, Reply};
use crate::engine::snapshot::TaskState;
use crate::engine::{self, EngineOptions};
use std::process::ExitCode;
use std::time::Duration;

/// How long checks and a merge may take before the command gives up
/// waiting (a hang guard; the engine's work is journaled either way).
const SETTLE_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The task a recovery command is about.
fn task_of(command: &Command) -> &str {
    match command {
        Command::Recheck { task }
        | Command::RebaseMerge { task }
        | Command::MarkDone { task, .. } => task,
        _ => "",
    }
}

pub async fn run(
    command: Command,
    options: impl FnOnce() -> Result<EngineOptions, ExitCode>,
) -> ExitCode {
    if crate::engine_client::engine_running() {
        return crate::engine_client::recover(command).await;
    }
    let options = match options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    let mut engine = match engine::start(options).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            return ExitCode::from(2);
        }
    };
    let task = task_of(&command).to_string();
    let settles = !matches!(command, Command::MarkDone { .. });
    let code = match engine.link.call(command).await {
        Reply::Error { message } => {
            eprintln!("switchboard: {message}");
            ExitCode::from(2)
        }
        _ if !settles => ExitCode::SUCCESS,
        _ => settle(&engine.link, &task).await,
    };
    engine.link.call(Command::Shutdown { halt: false }).await;
    let outcome = (&mut engine.done).await;
    if let Ok(outcome) = outcome
        && let Some(t) = outcome.snapshot.tasks.iter().find(|t| t.id == task)
    {
        let why = t
            .message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        println!("{task}: {}{why}", t.state.as_str());
    }
    code
}

/// Wait until `task`'s checks and merge are over: 0 when it is done. The
/// engine is asked (a status request is answered after the command before
/// it), so a snapshot published before the command is never read as the
/// outcome.
async fn settle(link: &crate::engine::link::EngineLink, task: &str) -> ExitCode {
    let deadline = tokio::time::Instant::now() + SETTLE_LIMIT;
    loop {
        let state = match link.call(Command::Status).await {
            Reply::Status(snap) => snap.tasks.iter().find(|t| t.id == task).map(|t| t.state),
            _ => None,
        };
        match state {
            Some(TaskState::Done) => return ExitCode::SUCCESS,
            Some(s) if s.is_final() => return ExitCode::FAILURE,
            None => return ExitCode::FAILURE,
            Some(_) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            eprintln!("switchboard: {task} did not settle; its state is in the journal");
            return ExitCode::FAILURE;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

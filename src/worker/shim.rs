//! The shim: the pane's first process (being written).

use crate::cli::WorkerArgs;
use std::process::ExitCode;

pub fn run(_args: &WorkerArgs) -> ExitCode {
    eprintln!("switchboard worker: not built yet");
    ExitCode::from(2)
}

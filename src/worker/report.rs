//! `switchboard report`: an agent tells its shim what state it is in (being written).

use crate::cli::ReportArgs;
use std::process::ExitCode;

pub fn run(_args: &ReportArgs) -> ExitCode {
    eprintln!("switchboard report: not built yet");
    ExitCode::from(2)
}

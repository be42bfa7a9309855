//! The sim agent: a scriptable fake coding agent (being written).

use crate::cli::SimAgentArgs;
use std::process::ExitCode;

pub fn run(_args: &SimAgentArgs) -> ExitCode {
    eprintln!("switchboard sim-agent: not built yet");
    ExitCode::from(2)
}

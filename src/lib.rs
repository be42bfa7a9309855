//! switchboard: a terminal control room for running many coding agents at once.

pub mod clean;
pub mod cli;
pub mod demo;
pub mod doctor;
pub mod engine;
pub mod engine_client;
pub mod front;
#[cfg(test)]
mod fuzz;
pub mod git;
pub mod headless;
pub mod hosts;
pub mod instruction;
pub mod listing;
pub mod logging;
pub mod pane_log;
pub mod plan;
pub mod recover;
pub mod sim_agent;
#[cfg(any(test, feature = "fixtures"))]
#[doc(hidden)]
pub mod testdata;
pub mod tmux;
pub mod tui;
pub mod worker;

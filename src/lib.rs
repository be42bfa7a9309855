//! switchboard: a terminal control room for running many coding agents at once.

pub mod cli;
pub mod engine;
pub mod listing;
pub mod plan;
pub mod sim_agent;
pub mod tui;
pub mod worker;

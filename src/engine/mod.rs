//! The engine: owns all run state; front ends talk to it through commands and snapshots.

pub mod actor;
pub mod command;
pub mod early_warning;
pub mod exec_log;
mod halt;
pub mod history;
pub mod journal;
mod lifecycle;
pub mod link;
mod manual;
pub mod prompts;
pub mod remote;
pub mod schedule;
pub mod snapshot;
pub mod socket;
pub mod supervise;
pub mod task;
pub mod words;
pub mod workshop;

pub use actor::{Engine, EngineOptions, Outcome, start};

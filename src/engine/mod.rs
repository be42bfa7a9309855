//! The engine: owns all run state; front ends talk to it through commands and snapshots.
//!
//! [`core`] is the state machine, [`actor`] the task that drives it,
//! [`os`] the boundary with tmux, git, processes and the clock.

pub mod actor;
pub mod attempt_log;
pub mod check_run;
pub mod claim_book;
pub mod claim_files;
pub mod claims;
pub mod command;
mod core;
pub mod detail;
pub mod early_warning;
pub mod effect;
pub mod error;
pub mod event;
pub mod exec_log;
pub mod fold;
mod halt;
pub mod history;
pub mod host_link;
pub(crate) mod host_pick;
pub mod hosts_os;
pub mod journal;
pub mod limits;
pub mod link;
mod links;
mod merge_queue;
pub mod os;
pub mod pool;
pub mod preaccept;
pub mod prompts;
pub mod remote;
pub mod schedule;
pub mod screen_watch;
mod seat;
pub mod seats;
pub mod snapshot;
pub mod socket;
pub mod supervise;
pub mod tasks;
pub mod words;
pub mod workshop;

#[cfg(test)]
mod fake_claims;
#[cfg(test)]
mod fake_os;
#[cfg(test)]
mod fixture;
#[cfg(test)]
mod tests;

pub use actor::{Engine, EngineOptions, Outcome, start};

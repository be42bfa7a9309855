//! The engine: owns all run state; front ends talk to it through commands and snapshots.

pub mod command;
pub mod link;
pub mod schedule;
pub mod supervise;
pub mod view;

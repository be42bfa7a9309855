//! Integration tests: the real `switchboard` binary on fixture plans, on the
//! example plan, and (the sim agent) in throwaway git repositories.

mod agent_hooks;
mod cli;
mod common;
mod control_room;
mod engine;
mod example_plan;
mod harness;
mod large_values;
mod limits;
mod plan_fixtures;
mod process_tree;
mod readme;
mod real_claude;
mod reliability;
mod scripted_model;
mod sim_agent;
mod supervision;
mod terminal;

//! Integration tests: the real `switchboard` binary on fixture plans, on the
//! example plan, and (the sim agent) in throwaway git repositories.

mod agent_cli;
mod agent_hooks;
mod attach;
mod attempt_logs;
mod claims;
mod cli;
mod common;
mod control_room;
mod engine;
mod example_plan;
mod harness;
mod host_control_room;
mod host_workers;
mod hosts;
mod large_values;
mod limits;
mod merge_check;
mod netns;
mod plan_fixtures;
mod pool;
mod process_tree;
mod readme;
mod real_claude;
mod real_codex;
mod reliability;
mod scripted_model;
mod scripted_responses;
mod sim_agent;
mod supervision;
mod terminal;

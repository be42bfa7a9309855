//! Agent profiles: safe names, a command, fallbacks to other known profiles,
//! and (a warning only) a program that can be found.

use super::Report;
use crate::plan::checks::{did_you_mean, id_problem, program_found, program_of};
use crate::plan::schema::AgentProfile;
use std::collections::BTreeMap;

pub(super) fn check(agents: &BTreeMap<String, AgentProfile>, report: &mut Report) {
    for (name, profile) in agents {
        let pos = report.find(name, "");
        if let Some(why) = id_problem(name) {
            report.error(format!("agent profile name '{name}' {why}"), pos);
        }
        if profile.command.trim().is_empty() {
            report.error(format!("agent profile '{name}' has an empty command"), pos);
        }
        for fb in &profile.fallbacks {
            if fb == name {
                report.error(format!("agent profile '{name}' falls back to itself"), pos);
            } else if !agents.contains_key(fb) {
                report.error(
                    format!(
                        "agent profile '{name}' falls back to unknown profile '{fb}'{}",
                        did_you_mean(fb, agents.keys())
                    ),
                    pos,
                );
            }
        }
        if let Some(program) = program_of(&profile.command)
            && !program_found(program)
        {
            report.warning(
                format!("agent profile '{name}': program '{program}' is not on PATH"),
                pos,
            );
        }
    }
}

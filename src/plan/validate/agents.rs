//! Agent profiles: safe names, a command, fallbacks to other known profiles,
//! and (a warning only) a program that can be found.

use super::Report;
use crate::plan::checks::{did_you_mean, id_problem, program_found, program_of, timeout_problem};
use crate::plan::schema::AgentProfile;
use std::collections::BTreeMap;

/// Profiles with a `preset` get its command, env and screen rules.
pub(super) fn apply_presets(agents: &mut BTreeMap<String, AgentProfile>, report: &mut Report) {
    if agents.values().all(|p| p.preset.is_none()) {
        return;
    }
    let presets = crate::plan::presets::all();
    for (name, profile) in agents.iter_mut() {
        let pos = report.find(name, "");
        if let Some(mode) = profile.mode.as_deref()
            && !matches!(mode, "interactive" | "headless")
        {
            let at = report.key_at(pos, "mode");
            report.error(
                format!(
                    "agent profile '{name}': mode must be interactive or headless, not '{mode}'"
                ),
                at,
            );
        }
        if let Err(why) = crate::plan::presets::apply(profile, &presets) {
            let at = report.key_at(pos, "preset");
            report.error(format!("agent profile '{name}': {why}"), at);
        }
    }
}

pub(super) fn check(agents: &BTreeMap<String, AgentProfile>, report: &mut Report) {
    for (name, profile) in agents {
        let pos = report.find(name, "");
        if let Some(why) = id_problem(name) {
            report.error(format!("agent profile name '{name}' {why}"), pos);
        }
        if profile.command.trim().is_empty() {
            report.error(format!("agent profile '{name}' has an empty command"), pos);
        }
        if let Some(why) = profile.timeout_minutes.and_then(timeout_problem) {
            let at = report.key_at(pos, "timeoutMinutes");
            report.error(format!("agent profile '{name}': timeoutMinutes {why}"), at);
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_shell_snippet_is_not_a_missing_program() {
        let yaml = "agents:\n  loop:\n    command: \"for i in 1 2; do sleep 1; done\"\n\
                    groups:\n  - id: G\n\
                    tasks:\n  - {taskId: T1, title: One, group: G, agent: {type: loop}}\n";
        let plan = crate::plan::load::parse("t.yaml", yaml.as_bytes()).expect("parses");
        let (_, warnings) = super::super::validate("t.yaml", yaml, plan).expect("valid");
        assert_eq!(warnings, vec![]);
    }
}

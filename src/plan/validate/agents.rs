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
        // The prompt is typed when the screen first reads idle: a profile
        // that cannot read idle would never get it.
        if profile.type_prompt.is_some()
            && profile.screen.idle.is_empty()
            && profile.screen.title_idle.is_none()
        {
            let at = report.key_at(pos, "typePrompt");
            report.error(
                format!(
                    "agent profile '{name}': typePrompt is typed once its screen reads idle; \
                     give it `screen: {{idle: [...]}}`"
                ),
                at,
            );
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

    #[test]
    fn a_typed_prompt_needs_an_idle_screen() {
        let yaml = "agents:\n  chat:\n    command: \"true\"\n    typePrompt: go\n\
                    groups:\n  - id: G\n\
                    tasks:\n  - {taskId: T1, title: One, group: G, agent: {type: chat}}\n";
        let plan = crate::plan::load::parse("t.yaml", yaml.as_bytes()).expect("parses");
        let errors = super::super::validate("t.yaml", yaml, plan).unwrap_err();
        assert!(
            errors[0]
                .message
                .contains("typePrompt is typed once its screen reads idle"),
            "{errors:?}"
        );
        assert_eq!(errors[0].line, Some(4));
        let yaml = yaml.replace(
            "typePrompt: go",
            "typePrompt: go\n    screen: {idle: ['> ']}",
        );
        let plan = crate::plan::load::parse("t.yaml", yaml.as_bytes()).expect("parses");
        assert!(super::super::validate("t.yaml", &yaml, plan).is_ok());
    }
}

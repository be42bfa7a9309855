//! Agent profiles: safe names, a command, fallbacks to other known profiles,
//! settings to pre-accept that their preset can write, and (a warning only)
//! a program that can be found.

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
        if let Err(whys) = crate::plan::presets::preaccept_edits(profile) {
            let at = report.key_at(pos, "preaccept");
            for why in whys {
                report.error(format!("agent profile '{name}': {why}"), at);
            }
        }
        if let Some(why) = profile.timeout_minutes.and_then(timeout_problem) {
            let at = report.key_at(pos, "timeoutMinutes");
            report.error(format!("agent profile '{name}': timeoutMinutes {why}"), at);
        }
        if profile.max_parallel == Some(0) {
            let at = report.key_at(pos, "maxParallel");
            report.error(
                format!("agent profile '{name}': maxParallel must be at least 1"),
                at,
            );
        }
        if let Some(b) = &profile.budget {
            let at = report.key_at(pos, "budget");
            for why in crate::plan::checks::budget_problems(b) {
                report.error(format!("agent profile '{name}': budget.{why}"), at);
            }
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
    fn errors_of(agent: &str) -> Vec<String> {
        let yaml = format!(
            "agents:\n  a:\n{agent}\
             groups:\n  - id: G\n\
             tasks:\n  - {{taskId: T1, title: One, group: G, agent: {{type: a}}}}\n"
        );
        let plan = crate::plan::load::parse("t.yaml", yaml.as_bytes()).expect("parses");
        match super::super::validate("t.yaml", &yaml, plan) {
            Ok(_) => Vec::new(),
            Err(diags) => diags
                .iter()
                .map(|d| d.to_string())
                .filter(|d| !d.contains(": warning: "))
                .collect(),
        }
    }

    #[test]
    fn preaccept_names_what_the_preset_can_write() {
        assert_eq!(
            errors_of("    preset: claude\n    preaccept: [trust]\n"),
            Vec::<String>::new()
        );
        let typo = errors_of("    preset: claude\n    preaccept: [trsut, api_key]\n");
        assert!(
            typo.len() == 2
                && typo[0].contains("t.yaml:4:5: agent profile 'a': unknown preaccept 'trsut' (did you mean 'trust'?); claude can pre-accept: trust")
                && typo[1].contains("preaccept 'api_key': switchboard does not write"),
            "{typo:?}"
        );
        let described = errors_of("    preset: claude\n    preaccept: [api_key]\n");
        assert!(
            described.len() == 1
                && described[0].contains("switchboard does not write this claude setting")
                && described[0].contains("claude can pre-accept: trust"),
            "{described:?}"
        );
        let none = errors_of("    preset: aider\n    preaccept: [trust]\n");
        assert!(
            none.len() == 1 && none[0].contains("switchboard can pre-accept nothing for aider"),
            "{none:?}"
        );
        let bare = errors_of("    command: claude\n    preaccept: [trust]\n");
        assert!(
            bare.len() == 1 && bare[0].contains("preaccept needs a preset"),
            "{bare:?}"
        );
    }

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

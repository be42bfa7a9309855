//! Sizes: a plan that validates can start. The plan's values reach the
//! agent through the shim's launch file, then through `exec`, which takes at
//! most 128 KiB per argument or environment variable, and about 2 MiB of
//! them in all (a quarter of the usual 8 MiB stack), so each value that
//! reaches a program whole is held to [`MAX_VALUE_BYTES`], and each agent
//! profile's command and `env` together to [`MAX_PROFILE_BYTES`].

use super::{Report, Task};
use crate::plan::schema::{Plan, Validation};
use crate::worker::protocol::env;

/// One value that reaches a program whole: the agent's command line (`sh
/// -c`), its title and output paths (`SWITCHBOARD_TITLE`,
/// `SWITCHBOARD_OUTPUTS`), an `env` entry, a validation's `run`. Below
/// `exec`'s 128 KiB, with room for the names and words around a value (the
/// merge commit's message is `Merge T1: ` and the title, passed to git as
/// one argument).
pub const MAX_VALUE_BYTES: usize = 100 * 1024;
/// A profile's command and `env` together: the agent also gets its title,
/// outputs and the user's own environment, within `exec`'s 2 MiB.
pub const MAX_PROFILE_BYTES: usize = 1024 * 1024;

pub(super) fn check(plan: &Plan, report: &mut Report) {
    for t in &plan.tasks {
        task(t, report);
    }
    for (name, profile) in &plan.agents {
        let pos = report.find(name, "");
        let command = profile.command.len();
        if command > MAX_VALUE_BYTES {
            report.error(
                format!(
                    "agent profile '{name}': the command is {command} bytes; {}",
                    at_most("can be run with `sh -c`")
                ),
                report.key_at(pos, "command"),
            );
        }
        let mut total = command;
        for (key, value) in &profile.env {
            // As `exec` sees it: KEY=value.
            let bytes = key.len() + 1 + value.len();
            total += bytes;
            if bytes > MAX_VALUE_BYTES {
                report.error(
                    format!(
                        "agent profile '{name}': env {key} is {bytes} bytes; {}",
                        at_most("fit in one environment variable")
                    ),
                    report.key_at(pos, "env"),
                );
            }
        }
        if total > MAX_PROFILE_BYTES {
            report.error(
                format!(
                    "agent profile '{name}': the command and env come to {total} bytes; \
                     at most {MAX_PROFILE_BYTES} (1 MiB) can start"
                ),
                pos,
            );
        }
    }
}

fn task(t: &Task, report: &mut Report) {
    let pos = report.task_at(&t.task_id, 0);
    let id = &t.task_id;
    let title = t.title.len();
    if title > MAX_VALUE_BYTES {
        report.error(
            format!(
                "task {id}: the title is {title} bytes; {}",
                at_most(&format!("reach the agent (in {})", env::TITLE))
            ),
            report.key_at(pos, "title"),
        );
    }
    if let Some(command) = t.command.as_ref().map(String::len)
        && command > MAX_VALUE_BYTES
    {
        report.error(
            format!(
                "task {id}: its command is {command} bytes; {}",
                at_most("can be run with `sh -c`")
            ),
            report.key_at(pos, "command"),
        );
    }
    // One path per line.
    let outputs = t.outputs.iter().map(|o| o.path.len() + 1).sum::<usize>();
    if outputs > MAX_VALUE_BYTES {
        report.error(
            format!(
                "task {id}: the output paths come to {outputs} bytes; {}",
                at_most(&format!("reach the agent (in {})", env::OUTPUTS))
            ),
            report.key_at(pos, "outputs"),
        );
    }
    for v in &t.validation {
        if let Validation::Command { run, .. } = v
            && run.len() > MAX_VALUE_BYTES
        {
            report.error(
                format!(
                    "task {id}: a `command` validation's `run` is {} bytes; {}",
                    run.len(),
                    at_most("can be run with `sh -c`")
                ),
                report.key_at(pos, "validation"),
            );
        }
    }
}

fn at_most(what: &str) -> String {
    format!("at most {MAX_VALUE_BYTES} (100 KiB) {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The errors of a plan with one task and one profile, `extra` YAML
    /// lines added to each.
    fn errors(task_title: &str, profile_extra: &str, task_extra: &str) -> Vec<String> {
        let yaml = format!(
            "agents:\n  dev:\n    command: \"true\"\n{profile_extra}\
             groups:\n  - id: G\n\
             tasks:\n  - taskId: T1\n    title: \"{task_title}\"\n    group: G\n    \
             agent: {{ type: dev }}\n{task_extra}"
        );
        let plan = crate::plan::load::parse("t.yaml", yaml.as_bytes()).expect("parses");
        match super::super::validate("t.yaml", &yaml, plan) {
            Ok(_) => Vec::new(),
            Err(diags) => diags.iter().map(|d| d.message.clone()).collect(),
        }
    }

    #[test]
    fn values_up_to_the_limit_pass() {
        let big = "x".repeat(MAX_VALUE_BYTES);
        let env = format!(
            "    env: {{ B: \"{}\" }}\n",
            "v".repeat(MAX_VALUE_BYTES - 2)
        );
        assert_eq!(errors(&big, &env, ""), Vec::<String>::new());
    }

    #[test]
    fn a_title_over_the_limit_is_named() {
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        assert_eq!(
            errors(&big, "", ""),
            [
                "task T1: the title is 102401 bytes; at most 102400 (100 KiB) \
              reach the agent (in SWITCHBOARD_TITLE)"
            ]
        );
    }

    #[test]
    fn a_command_or_env_value_over_the_limit_is_named() {
        let big = "x".repeat(MAX_VALUE_BYTES);
        let profile = format!("    env: {{ BIG: \"{big}\" }}\n");
        let errors = errors("t", &profile, "");
        assert_eq!(
            errors,
            [
                "agent profile 'dev': env BIG is 102404 bytes; at most 102400 (100 KiB) \
              fit in one environment variable"
            ]
        );
    }

    #[test]
    fn a_profile_over_the_total_is_named() {
        let value = "v".repeat(MAX_VALUE_BYTES - 10);
        let env: String = (0..11)
            .map(|i| format!("      E{i}: \"{value}\"\n"))
            .collect();
        let errors = errors("t", &format!("    env:\n{env}"), "");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("agent profile 'dev': the command and env come to"),
            "{errors:?}"
        );
    }

    #[test]
    fn outputs_and_validation_commands_over_the_limit_are_named() {
        let dir = "d".repeat(250);
        let outputs: String = (0..410)
            .map(|i| format!("      - {{ path: \"{dir}/{i:03}\" }}\n"))
            .collect();
        let run = format!(
            "    validation: [{{ type: command, run: \"{}\" }}]\n",
            "x".repeat(MAX_VALUE_BYTES + 1)
        );
        let errors = errors("t", "", &format!("    outputs:\n{outputs}{run}"));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("task T1: the output paths come to 104550 bytes"));
        assert!(errors[1].starts_with("task T1: a `command` validation's `run` is 102401 bytes"));
    }
}

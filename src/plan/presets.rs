//! Agent presets: `preset: claude` on an agent profile fills in how that
//! CLI is run unattended, in the interactive or headless form, with its
//! environment, how its prompt is given and submitted, and its screen rules
//! (sign-in, waiting, busy, idle, error, titles, and the dialogs answered
//! for the person). The data is `config/presets.yaml` (built into the
//! binary), observed on real CLIs: a new agent is a new entry there, not a
//! code branch. A profile's own `command`, `env`, `screen`, `typePrompt` and
//! `submit` win over the preset's.

use super::schema::AgentProfile;
use super::screen::{Dialog, Pattern, ScreenRules, Submit};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const PRESETS_YAML: &str = include_str!("../../config/presets.yaml");

/// The instruction every preset's agent gets as its first prompt.
pub const PROMPT: &str = "Read TASK_INSTRUCTION.md in this directory and do the task it describes. Commit your work with git when you are done.";

/// One agent's entry, as far as running and reading it goes.
#[derive(Debug, Clone, Deserialize)]
pub struct Preset {
    pub program: String,
    pub version_tested: String,
    #[serde(default)]
    pub version: Vec<String>,
    pub interactive: Vec<String>,
    #[serde(default)]
    pub prompt_via: PromptVia,
    #[serde(default)]
    pub submit: Submit,
    pub headless: Vec<String>,
    #[serde(default)]
    pub model_flag: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub help: Vec<Vec<String>>,
    /// Per help argv (joined with spaces), the flags it must list.
    #[serde(default)]
    pub flags_required: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub once_by_hand: String,
    #[serde(default)]
    pub dialogs: Vec<PresetDialog>,
    #[serde(default)]
    pub screen: ScreenRules,
    /// Its status hooks, if switchboard can install them (read by
    /// `worker::hooks`).
    #[serde(default)]
    pub hooks: Option<HookSpec>,
    /// Settings that skip a dialog: written for a profile that opts in, or
    /// only described.
    #[serde(default)]
    pub preaccept: BTreeMap<String, Preaccept>,
}

/// One `preaccept` entry of a preset.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Preaccept {
    /// switchboard writes it before each attempt of a profile that opts in.
    Write(ConfigEdit),
    /// A setting in words only: never written by switchboard.
    Described(String),
}

/// One value set in an agent's own config file, outside the worktree.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigEdit {
    /// What it skips, in words, for the log.
    pub skips: String,
    /// Candidate paths with `$VARIABLES`: the first whose variables are all
    /// set (and not empty) is the file.
    pub file: Vec<String>,
    pub format: ConfigFormat,
    /// The keys down to the value; `{worktree}` is the attempt's worktree.
    pub key: Vec<String>,
    pub value: serde_json::Value,
    /// A lock the agent takes around its own writes of the file (`{file}`
    /// is the file's path), held while switchboard writes it.
    #[serde(default)]
    pub lock: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigFormat {
    Json,
}

/// A preset's `hooks`: where the agent learns to call `switchboard hook`,
/// how its payloads read, and its events by meaning.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HookSpec {
    /// How the agent is told to call the hook, and how a payload reads.
    pub format: HookFormat,
    /// The settings file switchboard writes, relative to the worktree and
    /// excluded from git; none when the preset's argv says it all.
    #[serde(default)]
    pub file: Option<String>,
    /// Events that mean the agent is at work.
    #[serde(default)]
    pub busy: Vec<String>,
    /// Events that mean it waits for a person.
    #[serde(default)]
    pub waiting: Vec<String>,
    /// Events that end its turn.
    #[serde(default)]
    pub turn_finished: Vec<String>,
    /// Events that end its turn with an error (the checks still run).
    #[serde(default)]
    pub failed: Vec<String>,
    /// `notification_type`s of a waiting event that are no question: the
    /// agent reminding that it sits idle.
    #[serde(default)]
    pub idle_notifications: Vec<String>,
    /// Payloads that say nothing of the task's turn (an agent's own side
    /// turns), dropped whatever their event.
    #[serde(default)]
    pub ignore: Vec<PayloadMatch>,
    /// Where a finished turn's tokens are read, if anywhere.
    #[serde(default)]
    pub usage: Option<UsageSource>,
}

/// Where the hook reads the tokens of the turn that just ended: one of
/// these (a mapping, not a YAML-tagged enum).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSource {
    /// The payload field naming a Claude Code transcript (JSONL), whose
    /// assistant records carry each model call's `message.usage`.
    #[serde(default)]
    pub transcript: Option<String>,
    /// A codex session file ("rollout"), whose `token_count` events carry
    /// the thread's running total.
    #[serde(default)]
    pub rollout: Option<RolloutSpec>,
}

/// How a codex rollout is found and which of its lines are the turn's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutSpec {
    /// Candidate session folders with `$VARIABLES`: the first whose
    /// variables are all set is searched, `YYYY/MM/DD/` below it.
    pub dir: Vec<String>,
    /// The payload field with the thread's id, which ends the file's name
    /// (`rollout-<time>-<thread>.jsonl`).
    pub thread: String,
    /// The payload field with the turn's id, as its `task_started` and
    /// `task_complete` events name it.
    pub turn: String,
}

/// A payload whose `field` (a string, or any string of a list) starts with
/// `prefix`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PayloadMatch {
    pub field: String,
    pub prefix: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookFormat {
    /// Claude Code's settings file, `{"hooks": {EVENT: [{"matcher": "",
    /// "hooks": [command]}]}}`; each payload on the hook's stdin, its event
    /// in `hook_event_name`.
    #[default]
    ClaudeSettings,
    /// codex's `notify` program, set by `-c notify=[...]` in the preset's
    /// argv; the payload is the program's last argument, its event in
    /// `type`, the agent's last words in `last-assistant-message`.
    CodexNotify,
}

/// How the first prompt reaches the agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptVia {
    /// `{prompt}` in the `interactive` argv.
    #[default]
    Argv,
    /// Typed once the screen first reads idle.
    Type,
}

/// A first-run dialog: how it is avoided, and the keys that answer it when
/// it may be answered for the person (`null`: a person's decision).
#[derive(Debug, Clone, Deserialize)]
pub struct PresetDialog {
    #[serde(rename = "match")]
    pub pattern: Pattern,
    #[serde(default)]
    pub avoid: Option<String>,
    #[serde(default)]
    pub answer: Option<Vec<String>>,
}

/// Every preset by name; the built-in data file always parses (a test
/// checks it).
pub fn all() -> BTreeMap<String, Preset> {
    serde_norway::from_str(PRESETS_YAML).unwrap_or_default()
}

/// The built-in presets, parsed once.
fn builtin() -> &'static BTreeMap<String, Preset> {
    static PRESETS: std::sync::OnceLock<BTreeMap<String, Preset>> = std::sync::OnceLock::new();
    PRESETS.get_or_init(all)
}

/// The config edits `profile` opted in to (`preaccept: [trust]`), by name,
/// or why each that cannot be made cannot: no preset, a name the preset
/// does not know, or a setting it only describes.
pub fn preaccept_edits(profile: &AgentProfile) -> Result<Vec<(String, ConfigEdit)>, Vec<String>> {
    if profile.preaccept.is_empty() {
        return Ok(Vec::new());
    }
    let Some(name) = profile.preset.as_deref() else {
        return Err(vec![
            "preaccept needs a preset: it names settings of the preset's CLI that switchboard may write"
                .into(),
        ]);
    };
    let Some(preset) = builtin().get(name) else {
        return Ok(Vec::new()); // the unknown preset is reported by itself
    };
    let writable = || -> Vec<&str> {
        preset
            .preaccept
            .iter()
            .filter(|(_, p)| matches!(p, Preaccept::Write(_)))
            .map(|(k, _)| k.as_str())
            .collect()
    };
    let mut edits = Vec::new();
    let mut problems = Vec::new();
    for wanted in &profile.preaccept {
        match preset.preaccept.get(wanted) {
            Some(Preaccept::Write(edit)) => edits.push((wanted.clone(), edit.clone())),
            Some(Preaccept::Described(what)) => problems.push(format!(
                "preaccept '{wanted}': switchboard does not write this {name} setting ({what}); {}",
                can_preaccept(name, &writable())
            )),
            None => {
                let hint = crate::plan::checks::did_you_mean(wanted, writable().iter());
                problems.push(format!(
                    "unknown preaccept '{wanted}'{hint}; {}",
                    can_preaccept(name, &writable())
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(edits)
    } else {
        Err(problems)
    }
}

fn can_preaccept(preset: &str, names: &[&str]) -> String {
    if names.is_empty() {
        format!("switchboard can pre-accept nothing for {preset}")
    } else {
        format!("{preset} can pre-accept: {}", names.join(", "))
    }
}

/// Fill `profile` from its preset. An unknown preset is an error naming
/// the known ones.
pub fn apply(profile: &mut AgentProfile, presets: &BTreeMap<String, Preset>) -> Result<(), String> {
    let Some(name) = profile.preset.clone() else {
        return Ok(());
    };
    let Some(preset) = presets.get(&name) else {
        let known: Vec<&str> = presets.keys().map(String::as_str).collect();
        return Err(format!(
            "unknown preset '{name}' (known: {})",
            known.join(", ")
        ));
    };
    if profile.command.trim().is_empty() {
        let template = if profile.mode.as_deref() == Some("headless") {
            &preset.headless
        } else {
            &preset.interactive
        };
        let mut argv: Vec<String> = template
            .iter()
            .map(|a| a.replace("{prompt}", PROMPT))
            .collect();
        if let Some(model) = &profile.model {
            argv.extend(
                preset
                    .model_flag
                    .iter()
                    .map(|a| a.replace("{model}", model)),
            );
        }
        profile.command = shlex::try_join(argv.iter().map(String::as_str))
            .map_err(|_| format!("preset '{name}': the model name holds a NUL byte"))?;
    }
    if profile.hooks.is_none() {
        profile.hooks = preset.hooks.clone();
    }
    for (k, v) in &preset.env {
        profile.env.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let interactive = profile.mode.as_deref() != Some("headless");
    if profile.screen.is_empty() {
        profile.screen = preset.screen.clone();
        // Known dialogs with an answer are answered once, for the person.
        profile.screen.dialogs = preset
            .dialogs
            .iter()
            .filter_map(|d| {
                let keys = d.answer.clone().filter(|k| !k.is_empty())?;
                Some(Dialog {
                    pattern: d.pattern.clone(),
                    keys,
                })
            })
            .collect();
    }
    if interactive && preset.prompt_via == PromptVia::Type && profile.type_prompt.is_none() {
        profile.type_prompt = Some(PROMPT.to_string());
    }
    profile.submit.get_or_insert(preset.submit);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_presets_parse_and_name_their_program() {
        let presets: BTreeMap<String, Preset> =
            serde_norway::from_str(PRESETS_YAML).expect("config/presets.yaml parses");
        for name in ["claude", "codex", "gemini", "opencode", "aider"] {
            let p = presets.get(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(p.interactive[0], p.program, "{name}");
            assert!(!p.screen.busy.is_empty(), "{name} has busy markers");
        }
    }

    fn profile(preset: &str) -> AgentProfile {
        let yaml = format!("preset: {preset}\n");
        serde_norway::from_str(&yaml).expect("a profile")
    }

    #[test]
    fn a_preset_fills_command_env_and_screen_and_yields_to_the_profile() {
        let presets = all();
        let mut p = profile("claude");
        apply(&mut p, &presets).unwrap();
        assert!(
            p.command
                .starts_with("claude --dangerously-skip-permissions 'Read TASK_INSTRUCTION.md"),
            "{}",
            p.command
        );
        assert_eq!(p.env.get("IS_SANDBOX").map(String::as_str), Some("1"));
        assert!(
            p.screen
                .busy
                .iter()
                .any(|b| b.source() == "esc to interrupt")
        );
        assert!(
            p.screen
                .signin
                .iter()
                .any(|r| r.source().contains("Not logged in"))
        );
        // Only the dialogs with an answer are answered; none is a prompt rule.
        let answers: Vec<&[String]> = p.screen.dialogs.iter().map(|d| &d.keys[..]).collect();
        assert_eq!(
            answers,
            [&["Enter".to_string()][..], &["2".to_string()][..]]
        );
        assert!(p.prompt_rules.is_empty());
        assert_eq!(
            (p.type_prompt.as_deref(), p.submit),
            (None, Some(Submit::WithEnter))
        );
        let mut p = profile("codex");
        p.mode = Some("headless".into());
        p.model = Some("gpt-5".into());
        p.env.insert("RUST_LOG".into(), "warn".into());
        apply(&mut p, &presets).unwrap();
        assert!(p.command.starts_with("codex exec "), "{}", p.command);
        assert!(p.command.ends_with(" -m gpt-5"), "{}", p.command);
        let mut own = profile("gemini");
        own.command = "gemini --my-flags".into();
        apply(&mut own, &presets).unwrap();
        assert_eq!(own.command, "gemini --my-flags");
        assert_eq!(own.submit, Some(Submit::SeparateEnter));
        let mut own = profile("gemini");
        own.submit = Some(Submit::WithEnter);
        own.screen = serde_norway::from_str("busy: [mine]").unwrap();
        apply(&mut own, &presets).unwrap();
        assert_eq!(own.submit, Some(Submit::WithEnter));
        assert_eq!(own.screen.busy.len(), 1);
        assert!(own.screen.dialogs.is_empty() && own.screen.idle.is_empty());
        let mut bad = profile("clod");
        let err = apply(&mut bad, &presets).unwrap_err();
        assert!(
            err.contains("unknown preset 'clod'") && err.contains("claude"),
            "{err}"
        );
    }

    /// aider cannot be started with a prompt: it is typed at its first idle
    /// prompt, in the interactive form only.
    #[test]
    fn a_prompt_typed_at_the_first_idle_prompt() {
        let presets = all();
        let mut p = profile("aider");
        apply(&mut p, &presets).unwrap();
        assert_eq!(p.type_prompt.as_deref(), Some(PROMPT));
        assert!(
            !p.command.contains("Read TASK_INSTRUCTION.md"),
            "{}",
            p.command
        );
        let mut p = profile("aider");
        p.mode = Some("headless".into());
        apply(&mut p, &presets).unwrap();
        assert_eq!(p.type_prompt, None);
        assert!(
            p.command.contains("--message 'Read TASK_INSTRUCTION.md"),
            "{}",
            p.command
        );
    }

    #[test]
    fn a_model_name_stays_one_word() {
        let mut p = profile("claude");
        p.model = Some("it's $(here) -x".into());
        apply(&mut p, &all()).unwrap();
        let words = shlex::split(&p.command).expect("shell words");
        assert_eq!(words.last().map(String::as_str), Some("it's $(here) -x"));
        assert_eq!(words[2], PROMPT);
    }
}

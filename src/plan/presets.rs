//! Agent presets: `preset: claude` on an agent profile fills in how that
//! CLI is run unattended, in the interactive or headless form, with its
//! environment and its screen rules. The data is `config/presets.yaml`
//! (built into the binary), observed on real CLIs: a new agent is a new
//! entry there, not a code branch. A profile's own `command`, `env` and
//! `screen` win over the preset's.

use super::schema::{AgentProfile, PromptRule, ScreenRules};
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
    pub screen: PresetScreen,
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

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PresetScreen {
    #[serde(default)]
    pub signin: Vec<Pattern>,
    #[serde(default)]
    pub waiting: Vec<Pattern>,
    #[serde(default)]
    pub busy: Vec<Pattern>,
    #[serde(default)]
    pub idle: Vec<Pattern>,
}

/// A plain substring, or a mapping with `match` (and `say`), or a regex this
/// engine does not read yet.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Pattern {
    Plain(String),
    Rule {
        #[serde(rename = "match")]
        text: Option<String>,
        #[serde(default)]
        say: Option<String>,
    },
}

impl Pattern {
    /// The plain text to look for, if it is one.
    fn text(&self) -> Option<&str> {
        match self {
            Pattern::Plain(s) => Some(s),
            Pattern::Rule { text, .. } => text.as_deref(),
        }
    }
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

/// Shell words for `sh -c`: each argv element single-quoted where needed.
fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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
        profile.command = shell_line(&argv);
    }
    for (k, v) in &preset.env {
        profile.env.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if profile.screen.is_empty() {
        let texts = |ps: &[Pattern]| {
            ps.iter()
                .filter_map(|p| p.text().map(str::to_string))
                .collect()
        };
        profile.screen = ScreenRules {
            busy: texts(&preset.screen.busy),
            idle: texts(&preset.screen.idle),
        };
    }
    // Sign-in screens and the agent's own dialogs make the worker WAITING
    // (rules without an answer), after the profile's own rules.
    for p in preset.screen.signin.iter().chain(&preset.screen.waiting) {
        if let Some(text) = p.text()
            && !profile.prompt_rules.iter().any(|r| r.pattern == text)
        {
            profile.prompt_rules.push(PromptRule {
                pattern: text.to_string(),
                send: None,
            });
        }
    }
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
        assert!(p.screen.busy.contains(&"esc to interrupt".to_string()));
        assert!(
            p.prompt_rules
                .iter()
                .any(|r| r.pattern.contains("Not logged in"))
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
        let mut bad = profile("clod");
        let err = apply(&mut bad, &presets).unwrap_err();
        assert!(
            err.contains("unknown preset 'clod'") && err.contains("claude"),
            "{err}"
        );
    }

    #[test]
    fn shell_words_are_quoted() {
        let argv = ["a".to_string(), "it's here".to_string(), "-x=1".to_string()];
        assert_eq!(shell_line(&argv), r"a 'it'\''s here' -x=1");
    }
}

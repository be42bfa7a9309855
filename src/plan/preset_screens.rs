//! Every preset of `config/presets.yaml` against the real CLIs' captures in
//! `tests/fixtures/agents/<agent>-<version>/`: each screen reads as its
//! name says (sign-in, waiting, busy, idle, or only an error), with the
//! words, error and dialog answer the engine acts on; every pattern and
//! title rule is seen on some capture (unless the yaml says it was not
//! captured); every flag the presets use is in the CLI's `--help`.

use super::AgentProfile;
use super::presets::{self, Preset};
use super::screen::{self, AgentState, Reading};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn folder(agent: &str, preset: &Preset) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agents")
        .join(format!("{agent}-{}", preset.version_tested))
}

/// A capture: its pane title (from the header line) and its screen.
struct Capture {
    name: String,
    title: String,
    screen: Vec<String>,
}

/// The numbered screens of an agent's folder (`NN-what.txt`), in order.
fn captures(agent: &str, preset: &Preset) -> Vec<Capture> {
    let dir = folder(agent, preset);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("a dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".txt") && n.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).expect("a capture");
            let mut lines = text.lines();
            let head = lines.next().unwrap_or_default();
            let (_, title) = head
                .rsplit_once("; title: ")
                .unwrap_or_else(|| panic!("{name}: no title in {head:?}"));
            // As `capture_screen` delivers it: trailing spaces and blank lines cut.
            let mut screen: Vec<String> = lines.map(|l| l.trim_end().to_string()).collect();
            while screen.last().is_some_and(String::is_empty) {
                screen.pop();
            }
            Capture {
                name,
                title: title.to_string(),
                screen,
            }
        })
        .collect()
}

/// The profile `preset: <agent>` becomes.
fn profile(agent: &str) -> AgentProfile {
    let mut p: AgentProfile =
        serde_norway::from_str(&format!("preset: {agent}\n")).expect("a profile");
    presets::apply(&mut p, &presets::all()).expect("a known preset");
    p
}

/// A reading in words: `busy`, `idle`, `signin: <words>`, `waiting:
/// <words>`, `-` (nothing), then ` · error: <words>` and ` · answer: <keys>`.
fn described(p: &AgentProfile, r: &Reading) -> String {
    let mut out = match &r.state {
        None => "-".to_string(),
        Some(AgentState::Busy) => "busy".into(),
        Some(AgentState::Idle) => "idle".into(),
        Some(AgentState::Signin { words }) => format!("signin: {words}"),
        Some(AgentState::Waiting { words }) => format!("waiting: {words}"),
    };
    if let Some(e) = &r.error {
        out.push_str(&format!(" · error: {e}"));
    }
    if let Some((i, _)) = &r.dialog {
        out.push_str(&format!(
            " · answer: {}",
            p.screen.dialogs[*i].keys.join(" ")
        ));
    }
    out
}

const CLAUDE_NOT_LOGGED_IN: &str =
    "signin: claude: not logged in (attach and run /login, or set ANTHROPIC_API_KEY)";
const CODEX_SIGNIN: &str = "signin: codex: sign-in required (attach to choose)";
const GEMINI_SIGNIN: &str = "signin: gemini: choose how to sign in (attach to choose)";
const GEMINI_ERROR: &str = "error: [API Error: Content generator not initialized]";

/// How every capture must read, by agent and file.
fn expected() -> BTreeMap<&'static str, Vec<(&'static str, String)>> {
    let s = |v: &[(&'static str, &str)]| {
        v.iter()
            .map(|(f, r)| (*f, r.to_string()))
            .collect::<Vec<_>>()
    };
    let claude_api = "error: Unable to connect to API";
    BTreeMap::from([
        (
            "claude",
            s(&[
                (
                    "01-first-start-offline-exit.txt",
                    "- · error: Unable to connect to Anthropic services",
                ),
                (
                    "02-trust-dialog.txt",
                    "waiting: Is this a project you created or one you trust? · answer: Enter",
                ),
                (
                    "03-api-key-question.txt",
                    "signin: claude: approve the API key from the environment (attach to answer)",
                ),
                ("04-busy-retrying.txt", &format!("busy · {claude_api}")),
                (
                    "05-idle-after-api-error.txt",
                    &format!("idle · {claude_api}"),
                ),
                ("06-root-bypass-first-start-blank.txt", "-"),
                (
                    "07-root-bypass-refused.txt",
                    "- · error: cannot be used with root/sudo privileges",
                ),
                (
                    "08-bypass-warning.txt",
                    "waiting: WARNING: Claude Code running in Bypass Permissions mode · answer: 2",
                ),
                (
                    "09-busy-bypass-retrying.txt",
                    &format!("busy · {claude_api}"),
                ),
                (
                    "10-preaccepted-idle-error.txt",
                    &format!("idle · {claude_api}"),
                ),
                ("11-busy-request.txt", "busy"),
                (
                    "12-permission-write.txt",
                    "waiting: Do you want to create hello.txt?",
                ),
                ("13-permission-bash.txt", "waiting: Do you want to proceed?"),
                ("14-busy-bypass-tool.txt", "busy"),
                ("15-idle-after-turn-bypass.txt", "idle"),
                ("16-idle-prompt-fresh.txt", "idle"),
                ("17-typed-busy.txt", "busy"),
                ("18-not-logged-in.txt", CLAUDE_NOT_LOGGED_IN),
                ("19-busy-auto-updating.txt", &format!("busy · {claude_api}")),
                ("20-busy-focus-events-notice.txt", "busy"),
            ]),
        ),
        (
            "codex",
            s(&[
                ("01-signin-menu.txt", CODEX_SIGNIN),
                ("02-signin-another-way.txt", CODEX_SIGNIN),
                (
                    "03-api-key-entry.txt",
                    "signin: codex: API key entry (attach to save the key)",
                ),
                (
                    "04-trust-folder.txt",
                    "waiting: Trust this folder? · answer: Enter",
                ),
                ("05-idle-before-first-turn.txt", "idle"),
                (
                    "06-busy-reconnecting.txt",
                    "busy · error: Stream disconnected before completion",
                ),
                (
                    "07-busy-waiting-for-network.txt",
                    "busy · error: Reconnecting... waiting for network",
                ),
                ("08-idle-after-interrupt.txt", "idle"),
                ("09-preaccepted-idle-before-first-turn.txt", "idle"),
                ("10-preaccepted-busy-working.txt", "busy"),
                (
                    "11-preaccepted-busy-network.txt",
                    "busy · error: Reconnecting... waiting for network",
                ),
                ("12-signin-menu-codex-api-key.txt", CODEX_SIGNIN),
            ]),
        ),
        (
            "gemini",
            s(&[
                (
                    "01-trust-dialog.txt",
                    "waiting: Do you trust the files in this folder? · answer: Enter",
                ),
                ("02-auth-dialog.txt", GEMINI_SIGNIN),
                // The failed first prompt is still on screen behind the key entry.
                (
                    "03-api-key-entry.txt",
                    &format!(
                        "signin: gemini: API key entry (attach to submit the key) · {GEMINI_ERROR}"
                    ),
                ),
                ("04-idle-after-error.txt", &format!("idle · {GEMINI_ERROR}")),
                ("05-busy-thinking.txt", &format!("busy · {GEMINI_ERROR}")),
                ("06-trust-env-auth-dialog.txt", GEMINI_SIGNIN),
                ("07-preaccepted-idle-before-first-turn.txt", "idle"),
                ("08-preaccepted-busy.txt", "busy"),
                ("09-idle-prompt.txt", "idle"),
                // The text typed with its Enter sits unsubmitted: still idle.
                ("10-typed-not-submitted.txt", "idle"),
                ("11-typed-busy.txt", "busy"),
            ]),
        ),
        (
            "opencode",
            s(&[
                ("01-idle-home.txt", "idle"),
                ("02-busy.txt", "busy"),
                (
                    "03-busy-retrying.txt",
                    "busy · error: Cannot connect to API",
                ),
                (
                    "04-idle-after-error.txt",
                    "idle · error: Cannot connect to API",
                ),
                (
                    "05-auto-busy-retrying.txt",
                    "busy · error: Cannot connect to API",
                ),
            ]),
        ),
        (
            "aider",
            s(&[
                (
                    "01-gitignore-question.txt",
                    "waiting: Add .aider* to .gitignore (recommended)? (Y)es/(N)o [Yes]:",
                ),
                (
                    "02-signin-openrouter.txt",
                    "signin: aider: no model or API key (attach to log in to OpenRouter, or set a key)",
                ),
                // Answered questions stay on screen above the next one.
                (
                    "03-docs-question.txt",
                    "waiting: Open documentation URL for more info? (Y)es/(N)o/(D)on't ask again [Yes]:",
                ),
                ("04-exit-no-model.txt", "-"),
                (
                    "05-release-notes-question.txt",
                    "waiting: Would you like to see what's new in this version? (Y)es/(N)o [Yes]:",
                ),
                ("06-busy-waiting.txt", "busy"),
                (
                    "07-busy-retrying.txt",
                    "busy · error: The API provider's servers are down or overloaded.",
                ),
                (
                    "08-idle-after-retries.txt",
                    "idle · error: The API provider's servers are down or overloaded.",
                ),
                ("09-preset-idle-prompt.txt", "idle"),
                ("10-preset-typed-busy.txt", "busy"),
            ]),
        ),
    ])
}

#[test]
fn every_capture_reads_as_its_name_says() {
    let all = presets::all();
    let expected = expected();
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "every preset has its captures listed here"
    );
    let mut wrong = Vec::new();
    for (agent, preset) in &all {
        let p = profile(agent);
        let want: BTreeMap<&str, &str> = expected[agent.as_str()]
            .iter()
            .map(|(f, r)| (*f, r.as_str()))
            .collect();
        let shots = captures(agent, preset);
        let names: Vec<&str> = shots.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            want.keys().copied().collect::<Vec<_>>(),
            "{agent}: every capture is listed here, and only those"
        );
        for shot in &shots {
            let got = described(&p, &screen::read(&p.screen, &shot.screen, &shot.title));
            if got != want[shot.name.as_str()] {
                wrong.push(format!(
                    "{agent}/{}:\n  want {}\n  got  {got}",
                    shot.name,
                    want[shot.name.as_str()]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The rules that can only come from the title: the screens say enough
/// in every capture, so a title rule is checked on the titles alone.
#[test]
fn title_rules_read_the_captured_titles_and_never_a_host_name() {
    for (agent, preset) in presets::all() {
        let rules = &preset.screen;
        let shots = captures(&agent, &preset);
        for (kind, rx) in [
            ("title_busy", &rules.title_busy),
            ("title_idle", &rules.title_idle),
        ] {
            let Some(rx) = rx else { continue };
            assert!(
                shots.iter().any(|c| rx.is_match(&c.title)),
                "{agent}: {kind} {rx} matches no captured title"
            );
            // Untitled panes show the host name (`vm` where these were made).
            assert!(!rx.is_match("vm"), "{agent}: {kind} matches a host name");
        }
        // A title read alone, on a screen that says nothing.
        for shot in &shots {
            let alone = screen::read(rules, &[], &shot.title).state;
            let busy = rules
                .title_busy
                .as_ref()
                .is_some_and(|rx| rx.is_match(&shot.title));
            if busy {
                assert_eq!(alone, Some(AgentState::Busy), "{agent}/{}", shot.name);
            }
        }
    }
    // claude's spinner and its idle mark, by title only.
    let claude = profile("claude").screen;
    assert_eq!(
        screen::read(&claude, &[], "⠐ Claude Code").state,
        Some(AgentState::Busy)
    );
    assert_eq!(
        screen::read(&claude, &[], "✳ Claude Code").state,
        Some(AgentState::Idle)
    );
    assert_eq!(screen::read(&claude, &[], "vm").state, None);
}

/// Every pattern (screen rules and dialogs) is on some capture, unless its
/// line in presets.yaml says it was not captured.
#[test]
fn every_pattern_is_seen_on_a_capture() {
    let uncaptured: Vec<&str> = presets::PRESETS_YAML
        .lines()
        .filter(|l| l.contains("not captured"))
        .collect();
    let mut unseen = Vec::new();
    for (agent, preset) in presets::all() {
        let shots = captures(&agent, &preset);
        let s = &preset.screen;
        let patterns = [
            ("signin", &s.signin),
            ("waiting", &s.waiting),
            ("busy", &s.busy),
            ("idle", &s.idle),
            ("error", &s.error),
        ]
        .into_iter()
        .flat_map(|(kind, ps)| ps.iter().map(move |p| (kind, p)))
        .chain(preset.dialogs.iter().map(|d| ("dialog", &d.pattern)));
        for (kind, p) in patterns {
            if uncaptured.iter().any(|l| l.contains(p.source())) {
                continue;
            }
            if !shots.iter().any(|c| p.find(&c.screen).is_some()) {
                unseen.push(format!("{agent}: {kind} {:?}", p.source()));
            }
        }
    }
    assert!(unseen.is_empty(), "in no capture: {unseen:?}");
}

/// `--help` sections of `help.txt` (`$ <argv> (exit N)` headers).
fn help_sections(agent: &str, preset: &Preset) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(folder(agent, preset).join("help.txt")).expect("help.txt");
    let mut sections = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let header = line
            .strip_prefix("$ ")
            .and_then(|rest| rest.rsplit_once(" (exit "))
            .filter(|(_, code)| code.ends_with(')'));
        if let Some((argv, _)) = header {
            current = Some(argv.to_string());
            sections.insert(argv.to_string(), String::new());
        } else if let Some(c) = &current {
            let s = sections.get_mut(c).expect("a section");
            s.push_str(line);
            s.push('\n');
        }
    }
    sections
}

/// What `doctor` checks against the installed CLI, checked here against
/// the captured `--help` of the tested version; and every flag the presets
/// pass is one doctor checks.
#[test]
fn every_flag_the_presets_use_is_in_the_captured_help() {
    for (agent, preset) in presets::all() {
        let helps = help_sections(&agent, &preset);
        let mut required = Vec::new();
        for (argv, flags) in &preset.flags_required {
            let help = helps
                .get(argv)
                .unwrap_or_else(|| panic!("{agent}: no `{argv}` in help.txt"));
            for flag in flags {
                assert!(
                    crate::doctor::has_token(help, flag),
                    "{agent}: `{argv}` does not list {flag}"
                );
                required.push(flag.as_str());
            }
        }
        for (field, argv) in [
            ("interactive", &preset.interactive),
            ("headless", &preset.headless),
            ("model_flag", &preset.model_flag),
        ] {
            for token in argv.iter().filter(|t| t.starts_with('-')) {
                assert!(
                    required.contains(&token.as_str()),
                    "{agent}: {field} uses {token}, not in flags_required"
                );
            }
        }
    }
}

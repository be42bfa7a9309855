//! Real agents' screens (the captures in tests/fixtures/agents) through the
//! engine, by their presets' rules: sign-in screens WAIT with their words,
//! known dialogs are answered once, aider's prompt is typed at its first
//! idle prompt, gemini's Enter comes on its own.

use super::{Call, Fixture};
use crate::engine::event::Event;
use crate::engine::snapshot::{Light, TaskState};
use crate::engine::workshop::CheckResult;
use crate::plan::presets::PROMPT;
use std::path::Path;

const PLAN: &str = r#"
settings:
  stallAfterMs: 600000
agents:
  claude: { preset: claude }
  codex: { preset: codex }
  gemini: { preset: gemini }
  aider: { preset: aider }
groups:
  - id: G
tasks:
  - { taskId: C, title: Claude, group: G, agent: { type: claude } }
  - { taskId: X, title: Codex, group: G, agent: { type: codex } }
  - { taskId: M, title: Gemini, group: G, agent: { type: gemini } }
  - { taskId: A, title: Aider, group: G, agent: { type: aider } }
"#;

/// A captured screen, without its header line.
fn capture(folder: &str, file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agents")
        .join(folder)
        .join(file);
    let text = std::fs::read_to_string(&path).expect("a capture");
    text.split_once('\n')
        .map_or(String::new(), |(_, b)| b.into())
}

/// The pane shows `text` as new output from the next second on (tmux
/// counts activity in whole seconds), then `wait_ms` pass with the shim
/// beating.
fn show(fx: &mut Fixture, task: &str, text: &str, wait_ms: u64) {
    pass(fx, task, 1000 - fx.now() % 1000);
    let at = (fx.now() / 1000) as i64;
    fx.show_pane(task, at, text);
    pass(fx, task, wait_ms);
}

/// `ms` pass in steps of at most 500 ms, the shim beating after each.
fn pass(fx: &mut Fixture, task: &str, ms: u64) {
    let mut left = ms;
    while left > 0 {
        let step = left.min(500);
        fx.advance(step);
        fx.beat(task);
        left -= step;
    }
}

fn keys_sent(fx: &Fixture) -> Vec<Vec<String>> {
    fx.os
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::SendKeys { keys, .. } => Some(keys),
            _ => None,
        })
        .collect()
}

fn typed(fx: &Fixture) -> Vec<(String, bool)> {
    fx.os
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::SendText { text, enter, .. } => Some((text, enter)),
            _ => None,
        })
        .collect()
}

fn waits(fx: &Fixture, task: &str) -> usize {
    fx.states(task)
        .into_iter()
        .filter(|s| *s == TaskState::Waiting)
        .count()
}

/// "What truly needs a person (sign-in, an API key approval) turns the
/// worker WAITING with the screen's words … It never stays HEALTHY."
#[test]
fn a_sign_in_screen_makes_the_worker_wait_with_its_words() {
    let mut fx = Fixture::new(PLAN, &["X"]);
    fx.hello("X", 1);
    show(
        &mut fx,
        "X",
        &capture("codex-0.171.0", "01-signin-menu.txt"),
        500,
    );
    let words = "codex: sign-in required (attach to choose)";
    let x = fx.snapshot_task("X");
    assert_eq!((x.state, x.light), (TaskState::Waiting, Light::Waiting));
    assert_eq!(x.message.as_deref(), Some(words));
    assert_eq!(x.agent_state.as_deref(), Some(words));
    assert!(fx.events("X").iter().any(|e| matches!(
        e,
        Event::Prompt { pattern, .. } if pattern == "Choose how you want to use Codex."
    )));
    // `status` shows the words, and what the agent is doing.
    let status = crate::engine_client::status_json(&fx.snapshot());
    let row = &status["tasks"][1];
    assert_eq!(
        (row["id"].as_str(), row["message"].as_str()),
        (Some("X"), Some(words))
    );
    assert_eq!(row["agent_state"].as_str(), Some(words));
    let text = crate::engine_client::status_text(&fx.snapshot());
    assert!(text.contains(&format!("! {words}")), "{text}");
    // Its logo animates: the same screen again is the same wait.
    show(
        &mut fx,
        "X",
        &capture("codex-0.171.0", "01-signin-menu.txt"),
        500,
    );
    assert_eq!(waits(&fx, "X"), 1);
    // The next sign-in page says so.
    show(
        &mut fx,
        "X",
        &capture("codex-0.171.0", "03-api-key-entry.txt"),
        500,
    );
    let x = fx.snapshot_task("X");
    assert_eq!(x.state, TaskState::Waiting);
    assert_eq!(
        x.message.as_deref(),
        Some("codex: API key entry (attach to save the key)")
    );
    // Signed in: at work again, at its prompt until the first turn.
    let idle = capture("codex-0.171.0", "09-preaccepted-idle-before-first-turn.txt");
    show(&mut fx, "X", &idle, 500);
    let x = fx.snapshot_task("X");
    assert_eq!((x.state, x.light), (TaskState::Running, Light::Healthy));
    assert_eq!(x.agent_state.as_deref(), Some("idle at prompt"));
    // Idle before any busy screen is not a finished turn.
    pass(&mut fx, "X", 3000);
    assert!(!fx.events("X").contains(&&Event::TurnFinished));
    // Working, with the error it shows beside it.
    let busy = capture("codex-0.171.0", "11-preaccepted-busy-network.txt");
    show(&mut fx, "X", &busy, 500);
    assert_eq!(
        fx.snapshot_task("X").agent_state.as_deref(),
        Some("working · Reconnecting... waiting for network")
    );
    assert!(keys_sent(&fx).is_empty() && typed(&fx).is_empty());
}

/// Known dialogs are answered once, with their keys, and journaled; one
/// that does not go away is left to a person.
#[test]
fn a_known_dialog_is_answered_once_with_its_keys() {
    let mut fx = Fixture::new(PLAN, &["C"]);
    fx.hello("C", 1);
    let trust = capture("claude-2.1.197", "02-trust-dialog.txt");
    show(&mut fx, "C", &trust, 500);
    assert_eq!(keys_sent(&fx), [["Enter"]]);
    assert!(fx.events("C").iter().any(|e| matches!(
        e,
        Event::PromptAnswered { pattern, sent, .. }
            if pattern == "Is this a project you created or one you trust?" && sent == "Enter"
    )));
    assert_eq!(fx.state("C"), TaskState::Running, "answered, not waiting");
    // Redrawn while it closes: not answered twice.
    show(&mut fx, "C", &trust, 500);
    assert_eq!(keys_sent(&fx).len(), 1);
    assert_eq!(fx.state("C"), TaskState::Running);
    // Still there seconds later: the answer did not take; a person is asked.
    pass(&mut fx, "C", 3000);
    let c = fx.snapshot_task("C");
    assert_eq!(c.state, TaskState::Waiting);
    assert_eq!(
        c.message.as_deref(),
        Some("asks: Is this a project you created or one you trust?")
    );
    assert_eq!(
        c.agent_state.as_deref(),
        Some("waiting: \"Is this a project you created or one you trust?\"")
    );
    assert_eq!(keys_sent(&fx).len(), 1);
    // The next dialog (bypass mode's warning) is answered with its own key.
    show(
        &mut fx,
        "C",
        &capture("claude-2.1.197", "08-bypass-warning.txt"),
        500,
    );
    assert_eq!(keys_sent(&fx), [["Enter"], ["2"]]);
    assert_eq!(fx.state("C"), TaskState::Running);
    // Then the agent at work, read from its title while the screen says
    // nothing (a blank pane), and from its screen once it does.
    fx.show_title("C", "⠂ Claude Code");
    show(&mut fx, "C", "", 500);
    assert_eq!(
        fx.snapshot_task("C").agent_state.as_deref(),
        Some("working")
    );
    let busy = capture("claude-2.1.197", "04-busy-retrying.txt");
    show(&mut fx, "C", &busy, 500);
    assert_eq!(
        fx.snapshot_task("C").agent_state.as_deref(),
        Some("working · Unable to connect to API")
    );
    // A dialog that needs a person's decision is never answered.
    show(
        &mut fx,
        "C",
        &capture("claude-2.1.197", "03-api-key-question.txt"),
        500,
    );
    assert_eq!(keys_sent(&fx).len(), 2);
    assert_eq!(fx.state("C"), TaskState::Waiting);
}

/// aider cannot be started with a prompt: it is typed once, at the first
/// idle prompt; its turn then ends as any interactive agent's.
#[test]
fn aider_s_prompt_is_typed_once_at_its_first_idle_prompt() {
    let mut fx = Fixture::new(PLAN, &["A"]);
    fx.hello("A", 1);
    let idle = capture("aider-0.86.2", "09-preset-idle-prompt.txt");
    show(&mut fx, "A", &idle, 500);
    assert_eq!(typed(&fx), [(PROMPT.to_string(), true)]);
    assert!(fx.events("A").iter().any(|e| matches!(
        e,
        Event::PromptAnswered { sent, line, .. } if sent == PROMPT && line == ">"
    )));
    // Still idle a moment later: not typed again, and not a finished turn.
    show(&mut fx, "A", &format!("{idle}\n"), 3000);
    assert_eq!(typed(&fx).len(), 1);
    assert!(!fx.events("A").contains(&&Event::TurnFinished));
    show(
        &mut fx,
        "A",
        &capture("aider-0.86.2", "10-preset-typed-busy.txt"),
        500,
    );
    assert_eq!(
        fx.snapshot_task("A").agent_state.as_deref(),
        Some("working")
    );
    let after = capture("aider-0.86.2", "08-idle-after-retries.txt");
    show(&mut fx, "A", &after, 3000);
    assert!(fx.events("A").contains(&&Event::TurnFinished));
    assert_eq!(typed(&fx).len(), 1);
}

/// gemini leaves text and Enter sent in one request unsubmitted: a nudge
/// is typed alone, and its Enter follows as a request of its own.
#[test]
fn gemini_s_nudge_is_submitted_by_an_enter_of_its_own() {
    let mut fx = Fixture::new(PLAN, &["M"]);
    fx.hello("M", 1);
    fx.os.script_checks(
        "M",
        vec![CheckResult {
            check: "commit".into(),
            ok: false,
            detail: "no commit on the branch".into(),
        }],
    );
    show(
        &mut fx,
        "M",
        &capture("gemini-0.61.0", "08-preaccepted-busy.txt"),
        500,
    );
    let idle = capture("gemini-0.61.0", "09-idle-prompt.txt");
    show(&mut fx, "M", &idle, 0);
    for _ in 0..10 {
        if !typed(&fx).is_empty() {
            break;
        }
        pass(&mut fx, "M", 500);
    }
    let nudge = typed(&fx);
    assert_eq!(nudge.len(), 1, "{nudge:?}");
    assert!(nudge[0].0.contains("`commit` failed"), "{nudge:?}");
    assert!(!nudge[0].1, "no Enter with the text");
    assert!(keys_sent(&fx).is_empty(), "the Enter comes a moment later");
    pass(&mut fx, "M", 1000);
    assert_eq!(keys_sent(&fx), [["Enter"]]);
    let calls = fx.os.calls();
    let text_at = calls
        .iter()
        .position(|c| matches!(c, Call::SendText { .. }));
    let enter_at = calls
        .iter()
        .position(|c| matches!(c, Call::SendKeys { .. }));
    assert!(text_at < enter_at);
    pass(&mut fx, "M", 2000);
    assert_eq!(keys_sent(&fx).len(), 1, "one Enter");
}

/// Issue 12: a person's line from the composer is submitted as the agent
/// takes it: for gemini, the Enter on its own a moment after the text.
#[test]
fn a_typed_line_gets_gemini_s_separate_enter() {
    use crate::engine::command::{Command, Reply};
    let mut fx = Fixture::new(PLAN, &["M"]);
    fx.hello("M", 1);
    let say = Command::Type {
        task: "M".into(),
        text: "yes, go on".into(),
    };
    assert_eq!(fx.request(say), Reply::Ok);
    assert_eq!(typed(&fx), [("yes, go on".to_string(), false)]);
    assert!(keys_sent(&fx).is_empty());
    pass(&mut fx, "M", 1500);
    assert_eq!(keys_sent(&fx), [["Enter"]]);
}

/// A worker re-adopted by a new engine was told its task by the earlier
/// one: idle at its prompt, it is not told again.
#[test]
fn an_adopted_agent_is_not_given_its_prompt_again() {
    use crate::engine::event::Entry;
    use crate::engine::fixture::{Start, T0, spawned};
    let at = |ms: u64, event: Event| Entry::new(event, T0 - 10_000 + ms).task("A", 1);
    let state = |state| Event::State {
        state,
        profile: "aider".into(),
        reason: None,
    };
    let journal = vec![
        Entry::new(
            Event::RunStarted {
                selection: "A".into(),
            },
            T0 - 10_000,
        ),
        at(1, state(TaskState::Assigned)),
        at(2, spawned("A", 1, "aider")),
        at(3, state(TaskState::Running)),
    ];
    let mut fx = Fixture::start(
        PLAN,
        Start {
            journal,
            live: vec!["A"],
            select: vec!["A"],
            ..Default::default()
        },
    );
    fx.hello("A", 1);
    assert_eq!(fx.state("A"), TaskState::Running, "adopted");
    show(
        &mut fx,
        "A",
        &capture("aider-0.86.2", "09-preset-idle-prompt.txt"),
        1000,
    );
    assert_eq!(
        fx.snapshot_task("A").agent_state.as_deref(),
        Some("idle at prompt")
    );
    assert!(typed(&fx).is_empty());
}

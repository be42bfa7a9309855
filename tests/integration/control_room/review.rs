//! Reviewing a task's work and talking to its agent from the control room
//! (issue 12): `A` runs the whole plan, `d` shows a finished task's diff,
//! `i` types a line into a waiting agent's pane.

use super::{Terminal, state_in};
use crate::harness::Sandbox;

/// Two tasks: `done_one` finishes at once and merges; `asker` asks a
/// question on its first step and waits for a line on its terminal.
fn review_plan() -> String {
    r#"version: 1
settings:
  maxParallel: 4
  restart: { maxRestarts: 0, backoffMs: 100 }
  maxFallbacks: 0
  heartbeat: { intervalMs: 200 }
  halt: { graceMs: 500 }
agents:
  quick:
    command: "switchboard sim-agent --duration 0.3"
  asking:
    command: "switchboard sim-agent --duration 1 --prompt 'Which database?'"
groups:
  - id: G1
tasks:
  - taskId: "done_one"
    title: "Write the notes"
    group: G1
    agent: { type: quick }
    outputs: [{ path: "docs/notes.md" }]
  - taskId: "asker"
    title: "Pick a database"
    group: G1
    agent: { type: asking }
    outputs: [{ path: "asker.txt" }]
"#
    .to_string()
}

#[test]
fn a_runs_the_plan_d_shows_a_finished_task_s_diff_i_answers_a_waiting_agent() {
    let sb = Sandbox::new(&review_plan());
    let term = Terminal::open(&sb);
    term.wait("the control room, idle", |s| s.phase_is("IDLE"));
    // `A` runs the whole plan.
    term.press(&["A"]);
    term.wait("the plan running", |s| {
        s.contains("the whole plan selected: 2 tasks to run")
    });
    sb.wait_for("done_one merged", |s| state_in(s, "done_one") == "done");

    // 1. `d` on the merged task: its file with its count, then the patch.
    term.wait("done_one selected", |s| s.selected() == ["done_one"]);
    term.press(&["d"]);
    let screen = term.wait("done_one's diff", |s| {
        s.contains("Diff done_one agent/done_one/quick against switchboard/integration")
            && s.contains("+++ b/docs/notes.md")
    });
    assert!(
        screen.contains("(before its merge)") && screen.contains("1 file +"),
        "{}",
        screen.text()
    );
    let entry = screen
        .plain
        .iter()
        .find(|l| l.ends_with("docs/notes.md") || l.contains("  docs/notes.md "))
        .unwrap_or_else(|| panic!("no file entry:\n{}", screen.text()));
    assert!(entry.contains("-0"), "{entry}");
    assert!(
        screen
            .plain
            .iter()
            .any(|l| l.starts_with("│+") && l.contains("done_one")),
        "the added lines name the task:\n{}",
        screen.text()
    );
    // Scrolling moves the position shown at the bottom.
    term.press(&["G"]);
    term.wait("the cursor at the end", |s| {
        s.plain.iter().any(|l| {
            l.starts_with('└')
                && l.split_whitespace().any(|w| {
                    w.split_once('/')
                        .is_some_and(|(a, b)| a == b && a.parse::<u32>().is_ok_and(|n| n > 5))
                })
        })
    });
    // The merged task's worktree is gone: `e` says so instead of failing.
    term.press(&["e"]);
    term.wait("the editor refused", |s| {
        s.footer().contains("worktree is gone")
    });
    term.press(&["Escape"]);
    term.wait("the diff closed", |s| s.contains("┌ Workers "));

    // 2. `i` on the waiting agent: its question above the line; Enter types it.
    sb.wait_for("asker waiting", |s| state_in(s, "asker") == "waiting");
    // `n` selects it (the composer's prompt names it), `i` opens the composer.
    term.press(&["n"]);
    term.press(&["i"]);
    let screen = term.wait("the composer with the question", |s| {
        s.contains("asker asks") && s.footer().contains("asker ›")
    });
    assert!(screen.contains("Which database?"), "{}", screen.text());
    term.type_text("postgres ✓");
    term.wait("the line typed", |s| {
        s.footer().contains("asker › postgres ✓")
    });
    term.press(&["Enter"]);
    sb.wait_for("the typed line journaled", |s| {
        s.events("typed")
            .iter()
            .any(|e| e["task"] == "asker" && e["text"] == "postgres ✓")
    });
    term.wait("the agent got it", |s| {
        s.contains("[sim] asker got the answer: postgres ✓")
            || s.state_of("asker").as_deref() == Some("done")
    });
    sb.wait_for("asker merged", |s| state_in(s, "asker") == "done");
    assert!(
        sb.integration_files().contains(&"asker.txt".to_string()),
        "{:?}",
        sb.integration_files()
    );

    term.press(&["q"]);
    let screen = term.wait("switchboard exited", |s| s.contains("EXITED"));
    assert!(screen.contains("EXITED 0"), "{}", screen.text());
}

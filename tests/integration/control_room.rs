//! The control room end to end: the real binary in a real terminal (a window
//! of a second private tmux server), driven by keys and read back with
//! `capture-pane`: open, select, filter, halt, resume, quit.

mod review;

use crate::harness::{Sandbox, plan, stderr};
use crate::terminal::Terminal;

fn task(id: &str, title: &str, group: &str) -> String {
    format!(
        r#"  - taskId: "{id}"
    title: "{title}"
    group: {group}
    agent: {{ type: slow }}
    outputs: [{{ path: "{id}.txt" }}]
"#
    )
}

/// The sandbox's agents themselves (not their shims or shells).
fn agents(sb: &Sandbox) -> Vec<String> {
    sb.live_processes()
        .into_iter()
        .filter(|p| {
            let cmdline = p.split_once(": ").map_or("", |(_, c)| c);
            let mut argv = cmdline.split_whitespace();
            argv.next().is_some_and(|a| a.ends_with("switchboard"))
                && argv.next() == Some("sim-agent")
        })
        .collect()
}

/// Any process of the sandbox's workers: agent, its shell, or its shim.
fn worker_processes(sb: &Sandbox) -> Vec<String> {
    sb.live_processes()
        .into_iter()
        .filter(|p| p.contains("sim-agent"))
        .collect()
}

#[test]
fn open_select_filter_halt_resume_quit() {
    let tasks = [
        task("alpha", "Paint the fence", "G1"),
        task("bravo", "Mow the lawn", "G1"),
        task("charlie", "Walk the dog", "G1"),
        task("delta", "Wash the car", "G2"),
    ]
    .concat();
    let sb = Sandbox::new(&plan("", &tasks));
    let term = Terminal::open(&sb);
    let g1 = ["alpha", "bravo", "charlie"];
    let all = ["alpha", "bravo", "charlie", "delta"];

    // 1. Open: every panel, nothing started, the first row selected.
    let screen = term.wait("the control room, idle", |s| {
        ["┌ Workers ", "┌ Heartbeats ", "┌ Timeline ", "┌ Log "]
            .iter()
            .all(|panel| s.contains(panel))
            && s.phase_is("IDLE")
            && s.ids() == all
    });
    assert!(
        screen.workers().iter().all(|r| r.state == "pending"),
        "{}",
        screen.text()
    );
    assert_eq!(screen.selected(), ["alpha"], "{}", screen.text());

    // 2. `g` runs the selected task's group, with the groups it needs: on
    // delta (G2), G1 starts and delta waits for it.
    term.press(&["j", "j", "j"]);
    term.wait("delta selected", |s| s.selected() == ["delta"]);
    term.press(&["g"]);
    term.wait("the log says G1 comes first", |s| {
        s.contains("group G2 selected; first its prereq")
    });
    term.press(&["k", "k", "k"]);
    term.wait("alpha selected", |s| s.selected() == ["alpha"]);
    term.wait("G1 running", |s| {
        s.phase_is("RUNNING")
            && g1
                .iter()
                .all(|t| s.state_of(t).as_deref() == Some("running"))
    });
    sb.wait_for("three agents alive", |sb| agents(sb).len() == 3);
    let screen = term.screen();
    assert_eq!(
        screen.state_of("delta").as_deref(),
        Some("pending"),
        "{}",
        screen.text()
    );

    // 3. Select. capture-pane cannot see colours, but `-e` keeps the styles:
    // the selected row is the one drawn in reverse video (REVERSED on that
    // line of the table). A second, text-only effect: the Log panel, switched
    // to pane view with Tab, shows the selected worker's pane and follows
    // the selection; its title names the task.
    term.press(&["Tab"]);
    term.wait("the Log panel on alpha's pane", |s| {
        s.contains("┌ Log — alpha pane ")
    });
    term.press(&["j"]);
    term.wait("bravo selected", |s| {
        s.selected() == ["bravo"] && s.contains("┌ Log — bravo pane ")
    });
    term.wait("bravo's pane in the Log panel", |s| {
        // Inside the panel, right after its border: not the Workers row's
        // "Last output" column, which shows the same words.
        s.contains("│[sim] bravo ")
    });
    term.press(&["Tab"]);
    term.wait("the Log panel back on events", |s| {
        s.contains("┌ Log ─") && s.selected() == ["bravo"]
    });

    // 4. Filter on a title fragment; Enter keeps it, Esc clears it. While
    // the prompt is open the footer echoes it (`/lawn`); Enter closes it.
    term.press(&["/"]);
    term.type_text("lawn");
    term.wait("the filter typed", |s| {
        s.workers_title().contains("filter: lawn ") && s.footer().contains("/lawn")
    });
    term.press(&["Enter"]);
    let screen = term.wait("the filter kept", |s| !s.footer().contains("/lawn"));
    assert_eq!(screen.ids(), ["bravo"], "{}", screen.text());
    assert!(
        screen.workers_title().contains("Workers 1 ·")
            && screen.workers_title().contains("filter: lawn "),
        "{}",
        screen.text()
    );
    term.press(&["Escape"]);
    let screen = term.wait("the filter cleared", |s| s.ids() == all);
    assert!(
        !screen.workers_title().contains("filter:"),
        "{}",
        screen.text()
    );

    // 5. Halt: a question first, then the report; every agent stops.
    term.press(&["H"]);
    term.wait("the halt question", |s| {
        s.contains("Halt every worker? y/n")
    });
    term.press(&["y"]);
    let screen = term.wait("the halt report", |s| {
        s.contains("Halt report") && s.contains("acks received") && s.phase_is("HALTED")
    });
    assert!(
        screen.contains("3 workers, 3 acks received"),
        "{}",
        screen.text()
    );
    sb.wait_for("a halt in the journal", |sb| sb.events("halt").len() == 1);
    sb.wait_for("no agent left after the halt", |sb| {
        worker_processes(sb).is_empty()
    });
    let screen = term.wait("G1 halted", |s| {
        g1.iter()
            .all(|t| s.state_of(t).as_deref() == Some("halted"))
    });
    assert!(screen.contains("Halt report"), "{}", screen.text());

    // 6. Resume: Esc closes the report, `R` dispatches G1 again.
    term.press(&["Escape"]);
    term.wait("the report closed", |s| !s.contains("Halt report"));
    term.press(&["R"]);
    term.wait("G1 running again", |s| {
        s.phase_is("RUNNING")
            && g1
                .iter()
                .all(|t| s.state_of(t).as_deref() == Some("running"))
    });
    sb.wait_for("three agents alive again", |sb| agents(sb).len() == 3);
    sb.wait_for("a resume in the journal", |sb| {
        sb.events("resume").len() == 1
    });

    // 7. Quit, halting the workers on the way out.
    term.press(&["q"]);
    term.wait("the quit question", |s| {
        s.contains("Leave workers running (l) / Halt them (h)")
    });
    term.press(&["h"]);
    let screen = term.wait("switchboard exited", |s| s.contains("EXITED"));
    assert!(screen.contains("EXITED 0"), "{}", screen.text());
    assert!(
        screen.contains("3/3 workers acknowledged"),
        "{}",
        screen.text()
    );
    sb.wait_for("no worker process left after quitting", |sb| {
        sb.live_processes().is_empty()
    });
    assert_eq!(sb.events("halt").len(), 2);
}

#[test]
fn invalid_plan_is_refused_with_or_without_a_terminal() {
    let tasks = r#"  - taskId: "A"
    title: "First"
    group: G1
    agent: { type: slow }
    dependencies: ["B"]
  - taskId: "B"
    title: "Second"
    group: G1
    agent: { type: slow }
    dependencies: ["A"]
"#;
    let sb = Sandbox::new(&plan("", tasks));

    // In a terminal: the plan's errors, before the screen is taken.
    let term = Terminal::open(&sb);
    let screen = term.wait("switchboard exited", |s| s.contains("EXITED"));
    assert!(screen.contains("EXITED 2"), "{}", screen.text());
    assert!(
        screen
            .plain
            .iter()
            .any(|l| l.starts_with("dispatcher.yaml:") && l.contains("dependency cycle")),
        "{}",
        screen.text()
    );
    assert!(
        screen.contains("plan invalid: 1 error"),
        "{}",
        screen.text()
    );

    // Without one: stdout is a pipe here, so it refuses before anything else.
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the control room needs a terminal"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());

    assert!(sb.journal().is_empty(), "{:?}", sb.journal());
    assert!(sb.tmux_sessions().is_empty(), "{:?}", sb.tmux_sessions());
}

/// Send one command to the control room's engine over its socket, as a key
/// press would.
fn engine(sb: &Sandbox, command: switchboard::engine::command::Command) -> serde_json::Value {
    sb.engine(&command).expect("the engine answers")
}

fn state_in(sb: &Sandbox, task: &str) -> String {
    let status = engine(sb, switchboard::engine::command::Command::Status);
    status["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["id"] == task))
        .and_then(|t| t["state"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Killing a task skips its dependents; running it again gives them back
/// their chance, and `g` on their group does too.
#[test]
fn running_a_task_again_revives_the_tasks_skipped_for_it() {
    use switchboard::engine::command::Command as C;
    let tasks = [
        task("alpha", "Paint the fence", "G1"),
        task("delta", "Wash the car", "G2"),
    ]
    .concat();
    let sb = Sandbox::new(&plan("", &tasks));
    let term = Terminal::open(&sb);
    term.wait("the control room, idle", |s| s.phase_is("IDLE"));
    let ok = serde_json::json!({"reply": "ok"});
    assert_eq!(engine(&sb, C::RunGroup { group: "G2".into() }), ok);
    sb.wait_for("alpha running", |s| state_in(s, "alpha") == "running");
    assert_eq!(
        engine(
            &sb,
            C::Kill {
                task: "alpha".into(),
                keep_dependents: false,
            }
        ),
        ok
    );
    sb.wait_for("delta skipped", |s| state_in(s, "delta") == "skipped");
    assert_eq!(
        engine(
            &sb,
            C::Restart {
                task: "alpha".into()
            }
        ),
        ok
    );
    sb.wait_for("alpha running again", |s| state_in(s, "alpha") == "running");
    assert_eq!(
        state_in(&sb, "delta"),
        "pending",
        "delta waits for alpha again"
    );
    // Killed again, then the group is asked for: delta is tried, and skipped
    // again for the same reason, which the journal names.
    assert_eq!(
        engine(
            &sb,
            C::Kill {
                task: "alpha".into(),
                keep_dependents: false,
            }
        ),
        ok
    );
    sb.wait_for("delta skipped again", |s| state_in(s, "delta") == "skipped");
    assert_eq!(engine(&sb, C::RunGroup { group: "G2".into() }), ok);
    let reasons: Vec<String> = sb
        .events("state")
        .iter()
        .filter(|e| e["task"] == "delta")
        .filter_map(|e| e["reason"].as_str().map(str::to_string))
        .collect();
    assert!(
        reasons.iter().any(|r| r == "alpha runs again"),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r == "group G2 run again"),
        "{reasons:?}"
    );
    assert_eq!(state_in(&sb, "delta"), "skipped");
    // Nothing runs: q quits at once, and promises no workers to come back to.
    term.press(&["q"]);
    let screen = term.wait("switchboard exited", |s| s.contains("EXITED"));
    assert!(screen.contains("EXITED 0"), "{}", screen.text());
    assert!(!screen.contains("left running"), "{}", screen.text());
}

/// The window closes under the control room (terminal hung up, ssh gone):
/// it leaves, its workers left running, instead of spinning on a dead tty.
#[test]
fn a_control_room_whose_terminal_hangs_up_exits() {
    let sb = Sandbox::new(&plan("", &task("alpha", "Paint the fence", "G1")));
    let term = Terminal::open(&sb);
    term.wait("the control room, idle", |s| s.phase_is("IDLE"));
    assert!(!sb.live_processes().is_empty(), "switchboard runs");
    drop(term);
    sb.wait_for("switchboard gone with its terminal", |s| {
        s.live_processes().is_empty()
    });
}

/// A second window watches the first one's engine; when the first window
/// closes (its engine with it), the second takes the workers over.
#[test]
fn a_second_window_takes_over_when_the_first_closes() {
    use switchboard::engine::command::Command as C;
    let sb = Sandbox::new(&plan("", &task("alpha", "Paint the fence", "G1")));
    let first = Terminal::open(&sb);
    first.wait("the control room, idle", |s| s.phase_is("IDLE"));
    engine(&sb, C::RunGroup { group: "G1".into() });
    sb.wait_for("alpha running", |s| state_in(s, "alpha") == "running");
    let second = Terminal::open_as(&sb, "second");
    second.wait("the second window on the same run", |s| {
        s.state_of("alpha").as_deref() == Some("running")
    });
    drop(first);
    sb.wait_for("alpha re-adopted by the second window's engine", |s| {
        s.events("state")
            .iter()
            .any(|e| e["reason"] == "re-adopted a live worker")
    });
    let screen = second.wait("alpha running under the new engine", |s| {
        s.state_of("alpha").as_deref() == Some("running")
    });
    assert_eq!(state_in(&sb, "alpha"), "running", "{}", screen.text());
    assert_eq!(
        sb.events("spawned").len(),
        1,
        "taken over, not started again"
    );
    second.press(&["q"]);
    second.wait("the quit question", |s| s.contains("Halt them (h)"));
    second.press(&["h"]);
    second.wait("switchboard exited", |s| s.contains("EXITED 0"));
}

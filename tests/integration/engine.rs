//! The engine end to end: real tmux (private server), real git (temp repo),
//! the sim agent as the coding agent.

use crate::harness::{Sandbox, interrupt, plan, stderr, wait_with_guard};
use std::time::Duration;

fn task(id: &str, group: &str, agent: &str, output: &str, deps: &[&str]) -> String {
    format!(
        r#"  - taskId: "{id}"
    title: "Task {id}"
    group: {group}
    agent: {{ type: {agent} }}
    outputs: [{{ path: "{output}" }}]
    validation: [{{ type: file_exists }}, {{ type: commit }}]
    dependencies: [{}]
"#,
        deps.iter()
            .map(|d| format!("\"{d}\""))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[test]
fn two_groups_complete_and_integration_holds_every_output() {
    let tasks = [
        task("A", "G1", "quick", "src/a.txt", &[]),
        task("B", "G1", "quick", "src/b.txt", &[]),
        task("C", "G2", "quick", "src/c.txt", &["A"]),
    ]
    .concat();
    let sb = Sandbox::new(&plan("", &tasks));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "G1 failed:\n{}", stderr(&out));
    let out = sb.run(&["--batch-group", "G2"]);
    assert_eq!(out.status.code(), Some(0), "G2 failed:\n{}", stderr(&out));

    let files = sb.integration_files();
    for f in ["src/a.txt", "src/b.txt", "src/c.txt"] {
        assert!(
            files.contains(&f.to_string()),
            "{f} missing from integration: {files:?}"
        );
    }
    // The user's checkout is untouched.
    assert!(!sb.repo.join("src/a.txt").exists());
    assert_eq!(sb.events("merged").len(), 3);
    sb.assert_nothing_left_now("after the run");
    let log = std::fs::read_to_string(sb.repo.join(".switchboard/EXECUTION_LOG.md"))
        .expect("execution log");
    assert!(log.contains("| C | Task C | G2 | done |"), "{log}");
    let exclude = std::fs::read_to_string(sb.repo.join(".git/info/exclude")).unwrap();
    assert!(exclude.contains(".switchboard/"));
}

#[test]
fn failing_agent_fails_its_task_and_skips_dependents() {
    let tasks = [
        task("A", "G1", "failing", "a.txt", &[]),
        task("B", "G1", "quick", "b.txt", &["A"]),
    ]
    .concat();
    let sb = Sandbox::new(&plan("", &tasks));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(sb.state_of("A").as_deref(), Some("failed"));
    assert_eq!(sb.state_of("B").as_deref(), Some("skipped"));
    let failure = sb.events("failure");
    assert_eq!(failure.len(), 1);
    let reason = failure[0]["reason"].as_str().unwrap();
    assert!(reason.contains("simulated failure"), "{}", failure[0]);
    // A failed task keeps its worktree for inspection.
    assert!(
        sb.repo
            .join(".switchboard/workspaces/agent-A-failing")
            .is_dir()
    );
}

#[test]
fn two_tasks_writing_one_file_end_merged_and_conflict() {
    let tasks = [
        task("A", "G1", "quick", "shared.txt", &[]),
        task("B", "G1", "quick", "shared.txt", &[]),
    ]
    .concat();
    let sb = Sandbox::new(&plan("", &tasks));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let states = [sb.state_of("A").unwrap(), sb.state_of("B").unwrap()];
    assert!(
        states.contains(&"done".to_string()) && states.contains(&"conflict".to_string()),
        "{states:?}"
    );
    let conflict = sb.events("conflict");
    assert_eq!(conflict.len(), 1);
    assert_eq!(conflict[0]["files"], serde_json::json!(["shared.txt"]));
}

#[test]
fn sigint_stops_every_worker_and_keeps_worktrees() {
    let tasks = [
        task("A", "G1", "slow", "a.txt", &[]),
        task("B", "G1", "slow", "b.txt", &[]),
    ]
    .concat();
    let sb = Sandbox::new(&plan("", &tasks));
    let child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("both workers running", |s| {
        s.state_of("A").as_deref() == Some("running")
            && s.state_of("B").as_deref() == Some("running")
    });
    let out = interrupt(child);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    sb.assert_no_process_left("after the run");
    assert!(
        sb.tmux_sessions().is_empty(),
        "sessions left: {:?}",
        sb.tmux_sessions()
    );
    assert!(
        sb.repo
            .join(".switchboard/workspaces/agent-A-slow")
            .is_dir()
    );
    assert!(
        sb.repo
            .join(".switchboard/workspaces/agent-B-slow")
            .is_dir()
    );
    assert_eq!(sb.events("interrupted").len(), 1);
}

/// Two running agents commit different contents to the same file and keep
/// working: the engine warns before either merges.
#[test]
fn running_tasks_that_change_the_same_file_are_warned_about_before_merging() {
    let wip = r#"  wip:
    command: "echo \"$SWITCHBOARD_TASK\" > shared.txt && git add shared.txt && git -c user.name=t -c user.email=t@t.invalid commit -qm \"$SWITCHBOARD_TASK wip\" && sleep 60"
"#;
    let tasks = [
        task("A", "G1", "wip", "shared.txt", &[]),
        task("B", "G1", "wip", "shared.txt", &[]),
    ]
    .concat();
    let sb = Sandbox::new(&plan("", &tasks).replacen("agents:\n", &format!("agents:\n{wip}"), 1));
    let child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("a conflict warning", |s| {
        !s.events("conflict_warning").is_empty()
    });
    let out = interrupt(child);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let warnings = sb.events("conflict_warning");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let pair = [&warnings[0]["task"], &warnings[0]["with"]];
    assert!(
        pair.contains(&&serde_json::json!("A")) && pair.contains(&&serde_json::json!("B")),
        "{pair:?}"
    );
    assert_eq!(warnings[0]["files"], serde_json::json!(["shared.txt"]));
    assert!(sb.events("merged").is_empty(), "nothing merged yet");
    assert!(
        stderr(&out).contains("both change shared.txt"),
        "{}",
        stderr(&out)
    );
}

/// A profile asking one question, with `rules` (YAML list items) for it,
/// working `secs` in all.
fn asking_plan(secs: f64, rules: &str) -> String {
    let agent = format!(
        r#"  asks:
    command: "switchboard sim-agent --no-report --duration {secs} --prompt 'Proceed with the migration? [y/n]'"
    promptRules:
{rules}"#
    );
    plan("", &task("A", "G1", "asks", "a.txt", &[])).replacen(
        "agents:\n",
        &format!("agents:\n{agent}"),
        1,
    )
}

#[test]
fn a_prompt_rule_with_send_answers_the_question() {
    let sb = Sandbox::new(&asking_plan(
        0.5,
        "      - match: \"Proceed with the migration?\"\n        send: \"y\"\n",
    ));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let answered = sb.events("prompt_answered");
    assert_eq!(answered.len(), 1, "{answered:?}");
    assert_eq!(answered[0]["sent"], "y");
    assert!(answered[0]["line"].as_str().unwrap().contains("[y/n]"));
    assert_eq!(sb.state_of("A").as_deref(), Some("done"));
}

#[test]
fn a_prompt_rule_without_send_flags_the_worker_waiting_until_answered() {
    // Long enough after the answer for a pane poll (every 0.5 s) to see the
    // output grow under the question before the agent exits.
    let sb = Sandbox::new(&asking_plan(3.0, "      - match: \"[y/n]\"\n"));
    let child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("A waiting on its question", |s| {
        s.state_of("A").as_deref() == Some("waiting")
    });
    let prompt = sb.events("prompt");
    assert_eq!(prompt.len(), 1, "{prompt:?}");
    // A person answers in the pane.
    let session = sb.events("spawned")[0]["session"]
        .as_str()
        .unwrap()
        .to_string();
    let typed = std::process::Command::new("tmux")
        .args(["-L", &sb.tmux, "send-keys", "-t", &session, "n", "Enter"])
        .status()
        .unwrap();
    assert!(typed.success());
    let out = wait_with_guard(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let states: Vec<String> = sb
        .events("state")
        .iter()
        .filter_map(|e| e["reason"].as_str().map(str::to_string))
        .collect();
    assert!(
        states.iter().any(|r| r == "the question is answered"),
        "{states:?}"
    );
}

#[test]
fn batch_group_waits_for_dependencies_outside_the_group() {
    let tasks = [
        task("A", "G1", "quick", "a.txt", &[]),
        task("C", "G2", "quick", "c.txt", &["A"]),
    ]
    .concat();
    let sb = Sandbox::new(&plan("", &tasks));
    let out = sb.run(&["--batch-group", "G2"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("A") && err.contains("--batch-group G1"),
        "{err}"
    );
    let out = sb.run(&["--batch-group", "G2", "--with-deps"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sb.state_of("A").as_deref(), Some("done"));
    assert_eq!(sb.state_of("C").as_deref(), Some("done"));
}

/// Issue 12: `--all` runs the whole plan in one go, group by group.
#[test]
fn all_runs_the_whole_plan_group_by_group() {
    let tasks = [
        task("A", "G1", "quick", "a.txt", &[]),
        task("B", "G1", "quick", "b.txt", &[]),
        task("C", "G2", "quick", "c.txt", &[]),
    ]
    .concat();
    let sb = Sandbox::new(&plan("", &tasks));
    let out = sb.run(&["--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let merged: Vec<String> = sb
        .events("merged")
        .iter()
        .filter_map(|e| e["task"].as_str().map(str::to_string))
        .collect();
    assert_eq!(merged.len(), 3, "{merged:?}");
    // C has no dependency of its own: only group G2's `after: [G1]` holds it.
    assert_eq!(merged[2], "C", "{merged:?}");
    sb.assert_nothing_left_now("after the run");
    let out = sb.run(&["--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("already done"), "{}", stderr(&out));
    let out = sb.run(&["--all", "--task", "A"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn report_wait_appears_among_json_events() {
    let tasks = task("A", "G1", "asking", "a.txt", &[]);
    let sb = Sandbox::new(&plan("", &tasks));
    let out = sb.run(&["--task", "A", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(
        events.iter().any(|e| e["event"] == "report"
            && e["state"] == "WAIT"
            && e["message"] == "which database?"),
        "{stdout}"
    );
}

#[test]
fn missing_agent_program_fails_clearly_without_hanging() {
    let tasks = task("A", "G1", "missing", "a.txt", &[]);
    let sb = Sandbox::new(&plan("", &tasks));
    let out = sb.run(&["--task", "A"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("command not found"), "{err}");
}

/// Recovery without the control room (issue 12): after a headless run
/// failed a task, `mark-done` and `recheck` start an engine of their own
/// when none is running; a task marked done counts as done for the next
/// headless run.
#[test]
fn a_failed_task_is_recovered_from_the_command_line() {
    let tasks = [
        task("A", "G1", "failing", "a.txt", &[]),
        task("B", "G1", "failing", "b.txt", &[]),
        task("C", "G2", "quick", "c.txt", &["A", "B"]),
    ]
    .concat();
    let sb = Sandbox::new(&plan("", &tasks));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(sb.state_of("A").as_deref(), Some("failed"));
    // A's work, finished by hand in its worktree; then only its checks run.
    let worktree = sb.repo.join(".switchboard/workspaces/agent-A-failing");
    std::fs::write(worktree.join("a.txt"), "by hand\n").unwrap();
    crate::harness::git(&worktree, &["add", "a.txt"]);
    crate::harness::git(&worktree, &["commit", "-q", "-m", "A: a.txt by hand"]);
    let out = sb.run(&["recheck", "A"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("A: done"));
    assert!(sb.integration_files().contains(&"a.txt".to_string()));
    // B was done another way.
    let out = sb.run(&["mark-done", "B", "--reason", "covered by A"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("B: done: marked done by hand: covered by A")
    );
    let out = sb.run(&["--batch-group", "G2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sb.state_of("C").as_deref(), Some("done"));
    sb.assert_nothing_left_now("after recovering");
}

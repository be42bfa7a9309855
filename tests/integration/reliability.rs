//! Issue 11's repros, run as written: git is the truth for what is merged,
//! a checkout of the integration branch holds merges instead of failing
//! them, a halted headless run ends, and nothing of a run outlives it.

use crate::harness::{Sandbox, git, plan, stderr, wait_with_guard};
use std::time::Duration;

fn task(id: &str, agent: &str) -> String {
    format!(
        r#"  - taskId: "{id}"
    title: "Task {id}"
    group: G1
    agent: {{ type: {agent} }}
    outputs: [{{ path: "out/{id}.txt" }}]
    validation: [{{ type: file_exists }}, {{ type: commit }}]
"#
    )
}

fn merges_of(sb: &Sandbox, id: &str) -> usize {
    let prefix = format!("Merge {id}:");
    sb.integration_log()
        .iter()
        .filter(|s| s.starts_with(&prefix))
        .count()
}

/// Repro 2: the journal of a finished run is deleted; the next run finds
/// every task's merge in git and runs no agent again.
#[test]
fn a_lost_journal_reruns_nothing_that_git_shows_merged() {
    let tasks = [task("A", "quick"), task("B", "quick")].concat();
    let sb = Sandbox::new(&plan("", &tasks));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::remove_file(sb.repo.join(".switchboard/journal.jsonl")).unwrap();
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(sb.events("spawned").is_empty(), "an agent ran again");
    assert_eq!(sb.events("merged").len(), 2, "the journal catches up");
    assert_eq!((merges_of(&sb, "A"), merges_of(&sb, "B")), (1, 1));
    sb.assert_nothing_left_now("after the second run");
}

/// Kill the engine (SIGKILL) while a reference-transaction hook holds the
/// integration ref's update at `phase` ("prepared": validated, the ref not
/// moved yet; "committed": the ref moved, the journal not told), then run
/// again: the task ends merged exactly once, its agent run once.
fn crash_in_the_merge(phase: &str) {
    let sb = Sandbox::new(&plan("", &task("A", "quick")));
    let marker = sb.repo.join(".git/in-the-window");
    let hook = sb.repo.join(".git/hooks/reference-transaction");
    std::fs::write(
        &hook,
        // An update of the integration ref (not its creation: old not 0).
        format!(
            "#!/bin/sh\n[ \"$1\" = {phase} ] || exit 0\nawk '$3 == \"refs/heads/switchboard/integration\" && $1 !~ /^0+$/ {{ f = 1 }} END {{ exit !f }}' || exit 0\ntouch '{}'\nsleep 3\n",
            marker.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("the merge's update-ref", |_| marker.exists());
    child.kill().unwrap();
    let _ = child.wait();
    assert!(sb.events("merged").is_empty(), "the journal never heard");
    // The hook's sleep ends; without the hook from now on.
    std::thread::sleep(Duration::from_secs(3));
    std::fs::remove_file(&hook).unwrap();
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(merges_of(&sb, "A"), 1, "merged exactly once");
    let log = git(&sb.repo, &["log", "--format=%s", "switchboard/integration"]);
    assert_eq!(
        log.lines().filter(|l| l.contains("(A)")).count(),
        1,
        "{log}"
    );
    assert_eq!(sb.events("spawned").len(), 1, "its agent ran once");
    sb.assert_nothing_left_now("after the rerun");
}

#[test]
fn a_crash_between_validation_and_merge_merges_once() {
    crash_in_the_merge("prepared");
}

/// Repro 1.
#[test]
fn a_crash_between_update_ref_and_the_journal_merges_once() {
    crash_in_the_merge("committed");
}

/// Killed mid-attempt: the next engine takes the live worker over (or
/// starts it again if it is gone) and the task merges once.
#[test]
fn a_crash_mid_attempt_merges_once() {
    let sb = Sandbox::new(&plan("", &task("A", "slowish")));
    let mut child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("A running", |s| {
        s.state_of("A").as_deref() == Some("running")
    });
    child.kill().unwrap();
    let _ = child.wait();
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(merges_of(&sb, "A"), 1, "merged exactly once");
    assert_eq!(sb.events("spawned").len(), 1, "adopted, not run again");
    sb.assert_nothing_left_now("after the rerun");
}

/// A person switches to the integration branch mid-run: merges wait
/// (merge-held), and land once the checkout moves away.
#[test]
fn a_checkout_of_the_integration_branch_holds_merges() {
    let sb = Sandbox::new(&plan(
        "",
        &[task("A", "quick"), task("B", "quick")].concat(),
    ));
    // The integration branch exists from the start; the person is on it.
    git(&sb.repo, &["branch", "switchboard/integration", "main"]);
    git(&sb.repo, &["switch", "-q", "switchboard/integration"]);
    let child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("both merges held", |s| {
        s.state_of("A").as_deref() == Some("merge-held")
            && s.state_of("B").as_deref() == Some("merge-held")
    });
    git(&sb.repo, &["switch", "-q", "main"]);
    let out = wait_with_guard(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!((merges_of(&sb, "A"), merges_of(&sb, "B")), (1, 1));
    assert!(
        stderr(&out).contains("is checked out at"),
        "{}",
        stderr(&out)
    );
    sb.assert_nothing_left_now("after the run");
}

/// `switchboard halt` on a headless run ends it with 130, worktrees kept;
/// the next run picks the work up.
#[test]
fn a_halted_headless_run_exits_130_and_the_next_run_finishes_it() {
    let sb = Sandbox::new(&plan("", &task("A", "slow")));
    let child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("A running", |s| {
        s.state_of("A").as_deref() == Some("running")
    });
    let halt = sb.run(&["halt"]);
    assert_eq!(halt.status.code(), Some(0), "{}", stderr(&halt));
    let out = wait_with_guard(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    sb.assert_nothing_left_now("after the halted run");
    assert!(
        sb.repo
            .join(".switchboard/workspaces/agent-A-slow")
            .is_dir()
    );
}

/// Issue 10: a plain shell question, with no prompt rule for it, shows as
/// WAITING with its text; answering it in the pane lets the task finish.
#[test]
fn a_question_in_any_command_is_waiting_until_answered() {
    let agent = "  shy:\n    command: \"printf 'Proceed? [y/N] '; read answer; switchboard sim-agent --duration 0.3\"\n";
    let sb = Sandbox::new(
        &plan("", &task("A", "shy")).replace("agents:\n", &format!("agents:\n{agent}")),
    );
    let child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("A waiting on its question", |s| {
        s.state_of("A").as_deref() == Some("waiting")
    });
    let status = sb.run(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert_eq!(status["tasks"][0]["message"], "asks: Proceed? [y/N]");
    assert_eq!(status["tasks"][0]["light"], "WAITING");
    let text = sb.run(&["status"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("! asks: Proceed? [y/N]  (answer in tmux session"),
        "{text}"
    );
    let session = sb
        .tmux_sessions()
        .into_iter()
        .find(|s| s.ends_with("-A"))
        .expect("A's session");
    let sent = std::process::Command::new("tmux")
        .args(["-L", &sb.tmux, "send-keys", "-t", &session, "y", "Enter"])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = wait_with_guard(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(merges_of(&sb, "A"), 1);
}

/// `clean` keeps a worker that was left running to be re-adopted (here its
/// engine died), and says so; `--force` removes it.
#[test]
fn clean_keeps_live_workers_unless_forced() {
    let sb = Sandbox::new(&plan("", &task("A", "slow")));
    let mut child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("A running", |s| {
        s.state_of("A").as_deref() == Some("running")
    });
    child.kill().unwrap();
    let _ = child.wait();
    let out = sb.run(&["clean", "--worktrees"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("its worker is still at work"), "{said}");
    assert!(sb.tmux_sessions().iter().any(|s| s.ends_with("-A")));
    // Its worktree too: the task has no commit yet, so its branch is inside
    // the integration branch, but it is not merged.
    assert!(
        sb.repo
            .join(".switchboard/workspaces/agent-A-slow")
            .is_dir(),
        "{said}"
    );
    let out = sb.run(&["clean", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!sb.tmux_sessions().iter().any(|s| s.ends_with("-A")));
    sb.assert_no_process_left("after clean --force");
}

/// Issue 12: a task may carry its own command beside its profile.
#[test]
fn a_task_s_own_command_runs_instead_of_its_profile_s() {
    let tasks = format!(
        "{}    command: \"switchboard sim-agent --duration 0.2\"\n",
        task("A", "missing")
    );
    let sb = Sandbox::new(&plan("", &tasks));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(merges_of(&sb, "A"), 1);
}

/// Issue 10: an interactive agent that stays at its prompt when its work is
/// done: its finished turn is checked, and passing checks end the task and
/// close its session.
#[test]
fn an_interactive_agent_at_its_prompt_finishes_its_task() {
    // Works (busy), writes and commits its output, then sits at its prompt.
    let agent = "  chatty:\n    command: \"printf 'thinking (esc to interrupt)\\\\n'; sleep 1; mkdir -p out; echo hi > out/A.txt; git add out; git commit -qm 'feat(A): hi'; printf '\\\\n\\\\n\\\\n\\\\n\\\\n\\\\n\\\\n\\\\n> type your request\\\\n'; sleep 600\"\n    screen:\n      busy: [\"esc to interrupt\"]\n      idle: [\"> type your\"]\n";
    let sb = Sandbox::new(
        &plan("", &task("A", "chatty")).replace("agents:\n", &format!("agents:\n{agent}")),
    );
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(merges_of(&sb, "A"), 1);
    assert_eq!(sb.events("turn_finished").len(), 1);
    sb.assert_nothing_left_now("after the run");
}

/// `switchboard report usage` from inside a worker reaches the journal,
/// `status --json`, the run's summary and EXECUTION_LOG.md; a task that
/// reports nothing is "not reported".
#[test]
fn reported_usage_reaches_status_summary_and_the_execution_log() {
    let agent = "  thrifty:\n    command: \"switchboard report usage --cost-usd 0.12 --input-tokens 900 --output-tokens 80; switchboard sim-agent --duration 0.3\"\n";
    let tasks = [task("A", "thrifty"), task("B", "quick")].concat();
    let sb = Sandbox::new(&plan("", &tasks).replace("agents:\n", &format!("agents:\n{agent}")));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("usage: $0.12, 900 in / 80 out tokens (1 tasks reported, 1 not reported)"),
        "{}",
        stderr(&out)
    );
    let usage = sb.events("usage");
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0]["cost_usd"], 0.12);
    let log = std::fs::read_to_string(sb.repo.join(".switchboard/EXECUTION_LOG.md")).unwrap();
    assert!(log.contains("- A: $0.12, 900 in / 80 out tokens"), "{log}");
    assert!(log.contains("1 tasks reported; 1 did not"), "{log}");
}

/// A task that times out is stopped while its agent runs: its shim reports
/// the exit after the engine let it go, and still gets its `bye` while the
/// run closes, so it ends by itself rather than being killed.
#[test]
fn a_shim_let_go_of_ends_by_itself_when_the_run_closes() {
    let settings = "  timeoutMinutes: 0.03\n";
    let sb = Sandbox::new(&plan(settings, &task("A", "slow")));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("timed out after 2 s"),
        "{}",
        stderr(&out)
    );
    sb.assert_no_process_left("after the run");
    let logs = sb.repo.join(".switchboard/logs");
    let mut text = String::new();
    for e in std::fs::read_dir(&logs).unwrap().flatten() {
        text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
    }
    assert!(!text.contains("did not end by themselves"), "{text}");
}

/// The attempt's secret is not in the worker session's environment, which
/// every window opened in it would inherit.
#[test]
fn the_attempt_secret_is_not_in_the_session_environment() {
    let sb = Sandbox::new(&plan("", &task("A", "slow")));
    let mut child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("A running", |s| {
        s.state_of("A").as_deref() == Some("running")
    });
    let session = sb
        .tmux_sessions()
        .into_iter()
        .find(|s| s.ends_with("-A"))
        .expect("A's session");
    let env = std::process::Command::new("tmux")
        .args(["-L", &sb.tmux, "show-environment", "-t", &session])
        .output()
        .unwrap();
    let env = String::from_utf8_lossy(&env.stdout).into_owned();
    assert!(env.contains("SWITCHBOARD_TASK=A"), "{env}");
    assert!(!env.contains("SWITCHBOARD_SECRET"), "{env}");
    child.kill().unwrap();
    let _ = child.wait();
    let _ = sb.run(&["clean", "--force"]);
}

/// Issue 10: `doctor` names what is missing for a preset's agent, and what a
/// person must do once by hand; a preset's profile needs no `command`.
#[test]
fn doctor_checks_a_preset_s_program() {
    let plan = "agents:\n  ghost: { preset: aider }\ngroups: [ { id: G } ]\ntasks:\n  - { taskId: T1, title: One, group: G, agent: { type: ghost } }\n";
    let sb = Sandbox::new(plan);
    let out = sb
        .cmd(&["doctor"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("✗ aider is not on PATH"), "{said}");
    assert!(said.contains("once by hand:"), "{said}");
    let out = sb.run(&["--list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// An agent's git does no automatic maintenance: a detached `git gc --auto`
/// ended with the agent's process tree would leave ref locks behind that
/// fail later merges (seen in the soak benchmark).
#[test]
fn an_agent_s_git_starts_no_automatic_maintenance() {
    let tasks = format!(
        "{}    command: \"mkdir -p out; git config --get gc.auto > out/A.txt; git add out; git commit -qm 'feat(A): gc'\"\n",
        task("A", "quick")
    );
    let sb = Sandbox::new(&plan("", &tasks));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = git(&sb.repo, &["show", "switchboard/integration:out/A.txt"]);
    assert_eq!(seen.trim(), "0");
}

//! Supervision end to end: the halt cascade, heartbeat timeouts, stalls,
//! restart → fallback → failure, and the control socket's JSON.

use crate::harness::{Frozen, Sandbox, stderr, wait_with_guard};
use std::process::{Child, Stdio};
use std::time::Duration;

/// A plan of `n` tasks in one group, all on `profile`, with `settings` YAML
/// (indented two spaces) and extra agent profiles.
fn fleet(n: usize, profile: &str, settings: &str, agents: &str) -> String {
    let mut tasks = String::new();
    for i in 1..=n {
        tasks.push_str(&format!(
            "  - {{ taskId: W{i}, title: worker {i}, group: G1, agent: {{ type: {profile} }}, outputs: [{{ path: w{i}.txt }}] }}\n"
        ));
    }
    format!(
        r#"settings:
  maxParallel: {n}
  heartbeat:
    intervalMs: 200
  halt:
    graceMs: 300
{settings}
agents:
  slow:
    command: "switchboard sim-agent --duration 120"
  stubborn:
    command: "switchboard sim-agent --duration 120 --ignore-sigint"
  hanging:
    command: "switchboard sim-agent --hang"
{agents}
groups:
  - id: G1
tasks:
{tasks}"#
    )
}

/// A headless run that, once halted, waits for `resume` (these tests look
/// at the halted engine).
fn start(sb: &Sandbox) -> Child {
    sb.cmd(&["--batch-group", "G1", "--wait-on-halt"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// Start the run and wait until W1 runs and its shim has said hello.
fn start_connected(sb: &Sandbox) -> Child {
    let child = start(sb);
    sb.wait_for("worker running", |s| all_running(s, 1));
    sb.wait_for("shim connected", |s| {
        json_of(s, &["status", "--json"])["tasks"][0]["light"] == "HEALTHY"
    });
    child
}

/// Wait until W1..Wn run and every shim has said hello (its light is up).
fn wait_all_connected(sb: &Sandbox, n: usize) {
    sb.wait_for(&format!("{n} workers running"), |s| all_running(s, n));
    sb.wait_for(&format!("{n} shims connected"), |s| {
        let st = json_of(s, &["status", "--json"]);
        st["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["light"] == "HEALTHY")
    });
}

fn all_running(sb: &Sandbox, n: usize) -> bool {
    (1..=n).all(|i| sb.state_of(&format!("W{i}")).as_deref() == Some("running"))
}

fn json_of(sb: &Sandbox, args: &[&str]) -> serde_json::Value {
    let out = sb.run(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn stop(sb: &Sandbox, child: Child) {
    let _ = sb.run(&["halt"]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .ok();
    let _ = wait_with_guard(child, Duration::from_secs(60));
}

#[test]
fn halt_of_twenty_workers_is_acknowledged_by_all_and_leaves_no_agent() {
    let sb = Sandbox::new(&fleet(20, "slow", "", ""));
    let child = start(&sb);
    wait_all_connected(&sb, 20);
    let report = json_of(&sb, &["halt", "--json"]);
    for key in [
        "halt_id",
        "total_workers",
        "acks_received",
        "acks_failed",
        "stopped",
        "workers",
        "all_acked",
        "total_latency_ms",
    ] {
        assert!(
            report.get(key).is_some(),
            "halt report lacks {key}: {report}"
        );
    }
    assert_eq!(report["total_workers"], 20);
    assert_eq!(report["acks_received"], 20);
    assert_eq!(report["all_acked"], true);
    assert_eq!(report["stopped"], 20);
    let agents: Vec<String> = sb
        .live_processes()
        .into_iter()
        .filter(|p| p.contains("sim-agent"))
        .collect();
    assert!(agents.is_empty(), "agents left after halt: {agents:?}");
    let status = json_of(&sb, &["status", "--json"]);
    assert_eq!(status["phase"], "halted");
    stop(&sb, child);
}

#[test]
fn agent_ignoring_sigint_is_escalated_and_still_reported() {
    let sb = Sandbox::new(&fleet(1, "stubborn", "", ""));
    let child = start_connected(&sb);
    let report = json_of(&sb, &["halt", "--json"]);
    assert_eq!(report["acks_received"], 1);
    let signal = report["workers"][0]["signal"].as_str().unwrap().to_string();
    assert!(
        signal == "SIGTERM" || signal == "SIGKILL",
        "expected escalation past SIGINT, got {signal}"
    );
    assert!(sb.live_processes().iter().all(|p| !p.contains("sim-agent")));
    stop(&sb, child);
}

#[test]
fn crashes_restart_then_escalate_to_a_fallback_that_succeeds() {
    let settings = "  restart:\n    maxRestarts: 2\n    backoffMs: 100\n  maxFallbacks: 1\n";
    let agents = "  crashy:\n    command: \"switchboard sim-agent --duration 5 --crash-after 0.3\"\n    fallbacks: [steady]\n  steady:\n    command: \"switchboard sim-agent --duration 0.3\"\n";
    let sb = Sandbox::new(&fleet(1, "crashy", settings, agents));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sb.events("restart").len(), 2);
    let esc = sb.events("escalation");
    assert_eq!(esc.len(), 1);
    assert_eq!(esc[0]["profile"], "crashy");
    assert_eq!(esc[0]["next_profile"], "steady");
    assert_eq!(sb.state_of("W1").as_deref(), Some("done"));
}

#[test]
fn crashing_fallback_ends_in_failure_with_every_event_kind() {
    // Attempt 1 is frozen by the test (timeout → DEAD → restart); attempt 2
    // crashes (→ escalation); the fallback crashes twice (restart, failure).
    let settings = "  restart:\n    maxRestarts: 1\n    backoffMs: 100\n  maxFallbacks: 1\n";
    let agents = "  crashy:\n    command: \"switchboard sim-agent --duration 30 --crash-after 3\"\n    fallbacks: [also-crashy]\n  also-crashy:\n    command: \"switchboard sim-agent --duration 30 --crash-after 0.3\"\n";
    let plan = fleet(1, "crashy", settings, agents)
        .replace("intervalMs: 200", "intervalMs: 100\n    deadAfterMs: 1500");
    let sb = Sandbox::new(&plan);
    let child = start_connected(&sb);
    let frozen = Frozen::new(shim_pid(&sb));
    sb.wait_for("DEAD", |s| {
        s.events("timeout").iter().any(|e| e["light"] == "DEAD")
    });
    drop(frozen);
    let out = wait_with_guard(child, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for kind in ["timeout", "restart", "escalation", "failure"] {
        let evs = sb.events(kind);
        assert!(!evs.is_empty(), "no {kind} event");
        for e in evs {
            for key in [
                "task",
                "attempt",
                "restart_count",
                "profile",
                "next_profile",
                "reason",
            ] {
                assert!(e.get(key).is_some(), "{kind} event lacks {key}: {e}");
            }
        }
    }
    let esc = &sb.events("escalation")[0];
    assert_eq!(
        (esc["profile"].as_str(), esc["next_profile"].as_str()),
        (Some("crashy"), Some("also-crashy"))
    );
    let failure = &sb.events("failure")[0];
    assert_eq!(failure["profile"], "also-crashy");
    assert_eq!(failure["attempt"], 4);
    assert_eq!(sb.state_of("W1").as_deref(), Some("failed"));
    sb.assert_no_process_left("after the failure");
}

/// The pid of the shim of task `W1`, from the process table.
fn shim_pid(sb: &Sandbox) -> i32 {
    let procs = sb.live_processes();
    let line = procs
        .iter()
        .find(|p| p.contains(" worker "))
        .unwrap_or_else(|| panic!("no shim in {procs:?}"));
    line.split(':').next().unwrap().parse().unwrap()
}

#[test]
fn killed_shim_is_dead_at_once() {
    let sb = Sandbox::new(&fleet(1, "slow", "", ""));
    let child = start_connected(&sb);
    let pid = shim_pid(&sb);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    sb.wait_for("DEAD light", |s| {
        s.events("light").iter().any(|e| e["light"] == "DEAD")
    });
    let dead = sb
        .events("light")
        .into_iter()
        .find(|e| e["light"] == "DEAD")
        .unwrap();
    assert!(dead["reason"].as_str().unwrap().contains("shim"), "{dead}");
    // No LATE/MISSING first: the closed connection told us at once.
    assert!(
        sb.events("timeout").is_empty(),
        "{:?}",
        sb.events("timeout")
    );
    stop(&sb, child);
}

#[test]
fn frozen_shim_goes_late_then_missing_and_recovers_when_thawed() {
    let settings = "  restart:\n    maxRestarts: 0\n";
    let plan = fleet(1, "slow", settings, "")
        .replace("intervalMs: 200", "intervalMs: 200\n    deadAfterMs: 20000");
    let sb = Sandbox::new(&plan);
    let child = start_connected(&sb);
    let frozen = Frozen::new(shim_pid(&sb));
    sb.wait_for("MISSING", |s| {
        s.events("timeout").iter().any(|e| e["light"] == "MISSING")
    });
    let lights: Vec<String> = sb
        .events("timeout")
        .iter()
        .map(|e| e["light"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(lights[..2], ["LATE".to_string(), "MISSING".to_string()]);
    drop(frozen);
    sb.wait_for("HEALTHY again", |s| {
        s.events("light").iter().any(|e| e["light"] == "HEALTHY")
    });
    assert_eq!(sb.state_of("W1").as_deref(), Some("running"));
    stop(&sb, child);
}

#[test]
fn frozen_shim_goes_dead_and_is_handled_as_a_crash() {
    let settings = "  restart:\n    maxRestarts: 0\n";
    let plan = fleet(1, "slow", settings, "")
        .replace("intervalMs: 200", "intervalMs: 100\n    deadAfterMs: 1500");
    let sb = Sandbox::new(&plan);
    let child = start_connected(&sb);
    let frozen = Frozen::new(shim_pid(&sb));
    let out = wait_with_guard(child, Duration::from_secs(60));
    drop(frozen);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lights: Vec<String> = sb
        .events("timeout")
        .iter()
        .map(|e| e["light"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(lights, ["LATE", "MISSING", "DEAD"]);
    assert_eq!(sb.state_of("W1").as_deref(), Some("failed"));
    sb.assert_no_process_left("a DEAD worker must not linger");
}

#[test]
fn silent_but_alive_agent_is_stalled_not_dead() {
    let settings = "  stallAfterMs: 2000\n";
    let sb = Sandbox::new(&fleet(1, "hanging", settings, ""));
    let child = start(&sb);
    sb.wait_for("STALLED", |s| {
        s.events("light").iter().any(|e| e["light"] == "STALLED")
    });
    let st = json_of(&sb, &["status", "--json"]);
    assert_eq!(st["tasks"][0]["light"], "STALLED");
    assert_eq!(st["tasks"][0]["state"], "running");
    assert!(sb.events("timeout").is_empty());
    stop(&sb, child);
}

#[test]
fn control_commands_without_an_engine_say_so() {
    let sb = Sandbox::new(&fleet(1, "slow", "", ""));
    for cmd in ["status", "halt", "resume"] {
        let out = sb.run(&[cmd]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        assert!(
            stderr(&out).contains("no switchboard engine is running"),
            "{cmd}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn resume_restarts_halted_tasks_in_their_worktrees() {
    let agents = "  medium:\n    command: \"switchboard sim-agent --duration 3\"\n";
    let sb = Sandbox::new(&fleet(2, "medium", "", agents));
    let child = start(&sb);
    sb.wait_for("workers running", |s| all_running(s, 2));
    let report = json_of(&sb, &["halt", "--json"]);
    assert_eq!(report["total_workers"], 2);
    assert_eq!(sb.state_of("W1").as_deref(), Some("halted"));
    let out = sb.run(&["resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = wait_with_guard(child, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sb.state_of("W1").as_deref(), Some("done"));
    let attempts: Vec<u64> = sb
        .events("spawned")
        .iter()
        .filter(|e| e["task"] == "W1")
        .map(|e| e["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2]);
}

#[test]
fn a_shim_that_does_not_acknowledge_is_stopped_through_tmux() {
    let sb = Sandbox::new(&fleet(1, "slow", "", ""));
    let child = start_connected(&sb);
    // Frozen, the shim cannot acknowledge: after 200 ms the engine sends
    // C-c and kills the session through tmux.
    let frozen = Frozen::new(shim_pid(&sb));
    let report = json_of(&sb, &["halt", "--json"]);
    drop(frozen);
    assert_eq!(report["total_workers"], 1);
    assert_eq!(report["acks_received"], 0);
    assert_eq!(report["acks_failed"], 1);
    assert_eq!(report["stopped"], 1);
    assert_eq!(report["all_acked"], false);
    assert_eq!(report["workers"][0]["signal"], "tmux");
    assert!(report["workers"][0]["stop_ms"].as_f64().unwrap() >= 200.0);
    sb.wait_for("agent gone", |s| {
        s.live_processes()
            .iter()
            .all(|p| !p.contains(" sim-agent --duration"))
    });
    stop(&sb, child);
}

#[test]
fn clean_removes_orphan_sessions_and_only_merged_worktrees() {
    let agents = "  quick:\n    command: \"switchboard sim-agent --duration 0.3\"\n  failing:\n    command: \"switchboard sim-agent --duration 0.2 --fail\"\n";
    let mut plan = fleet(
        2,
        "quick",
        "  restart:\n    maxRestarts: 0\n  maxFallbacks: 0\n  removeMergedWorktrees: false\n",
        agents,
    );
    plan = plan.replace(
        "W2, title: worker 2, group: G1, agent: { type: quick }",
        "W2, title: worker 2, group: G1, agent: { type: failing }",
    );
    let sb = Sandbox::new(&plan);
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // The failed task's pane is kept for inspection; nothing owns it now.
    assert!(!sb.tmux_sessions().is_empty());
    let out = sb.run(&["clean", "--worktrees"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(sb.tmux_sessions().is_empty(), "{said}");
    assert!(
        !sb.repo
            .join(".switchboard/workspaces/agent-W1-quick")
            .exists(),
        "{said}"
    );
    assert!(
        sb.repo
            .join(".switchboard/workspaces/agent-W2-failing")
            .is_dir(),
        "{said}"
    );
    assert!(said.contains("kept worktree"), "{said}");
    let out = sb.run(&["clean", "--worktrees", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !sb.repo
            .join(".switchboard/workspaces/agent-W2-failing")
            .exists()
    );
    // The unmerged branch survives even --force.
    crate::harness::git(&sb.repo, &["rev-parse", "--verify", "agent/W2/failing"]);
}

/// The control room dies (SIGKILL, no goodbye): its workers keep running in
/// tmux, and the next engine re-adopts them — same attempt, same start time,
/// light back on — instead of starting them again.
#[test]
fn a_new_engine_re_adopts_the_workers_of_one_that_died() {
    let sb = Sandbox::new(&fleet(2, "slow", "", ""));
    let first = start(&sb);
    wait_all_connected(&sb, 2);
    let before = json_of(&sb, &["status", "--json"]);
    let started =
        |st: &serde_json::Value, i: usize| st["tasks"][i]["attempts"][0]["started_ms"].clone();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = wait_with_guard(first, Duration::from_secs(30));
    let agents_before = sb.live_processes();
    assert!(
        !agents_before.is_empty(),
        "the workers outlive their engine"
    );

    let second = start(&sb);
    sb.wait_for("both workers re-adopted", |s| {
        s.events("state")
            .iter()
            .filter(|e| e["reason"] == "re-adopted a live worker")
            .count()
            == 2
    });
    let after = json_of(&sb, &["status", "--json"]);
    for i in 0..2 {
        let t = &after["tasks"][i];
        assert_eq!(t["state"], "running", "{t}");
        assert_eq!(t["attempt"], 1, "not started again: {t}");
        assert_eq!(started(&after, i), started(&before, i), "{t}");
    }
    assert_eq!(sb.events("spawned").len(), 2, "no new worker was spawned");
    stop(&sb, second);
}

/// Ctrl-Z on a control room stops its engine, not its workers. When it comes
/// back, the beats that waited in its socket are not judged by the pause:
/// nobody is declared DEAD or restarted.
#[test]
fn an_engine_paused_for_longer_than_dead_after_kills_no_worker() {
    let sb = Sandbox::new(
        &fleet(2, "slow", "", "")
            .replace("intervalMs: 200", "intervalMs: 100\n    deadAfterMs: 1500"),
    );
    let child = start(&sb);
    wait_all_connected(&sb, 2);
    let engine = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(engine, nix::sys::signal::Signal::SIGSTOP).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    nix::sys::signal::kill(engine, nix::sys::signal::Signal::SIGCONT).unwrap();
    sb.wait_for("the pause noticed", |s| {
        s.events("warning")
            .iter()
            .any(|e| e["message"].as_str().is_some_and(|m| m.contains("paused")))
    });
    // Give a wrong verdict time to show.
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        sb.events("restart").is_empty(),
        "{:?}",
        sb.events("restart")
    );
    let dead: Vec<_> = sb
        .events("timeout")
        .into_iter()
        .filter(|e| e["light"] == "DEAD")
        .collect();
    assert!(dead.is_empty(), "{dead:?}");
    let st = json_of(&sb, &["status", "--json"]);
    for t in st["tasks"].as_array().unwrap() {
        assert_eq!(
            (t["state"].as_str(), t["attempt"].as_u64()),
            (Some("running"), Some(1)),
            "{t}"
        );
    }
    stop(&sb, child);
}

//! Several engines on one repository: headless runs on one group share its
//! tasks through their claims (`.switchboard/claims/<TASK>`), a run on
//! another group goes on beside them, and an engine that dies has its tasks
//! taken over once their leases are over.

use super::harness::{Sandbox, git, stderr, wait_with_guard};
use std::collections::BTreeMap;
use std::process::{Child, Output};
use std::time::Duration;

/// `n` tasks of one group, each writing its own output; every tenth depends
/// on the task ten before it, so dependents wait for merges made by any
/// engine.
fn many_tasks(n: usize, settings: &str, agent: &str) -> String {
    let mut tasks = String::new();
    for i in 1..=n {
        tasks.push_str(&format!(
            "  - taskId: T{i}\n    title: task {i}\n    group: G1\n    agent: {{ type: {agent} }}\n    outputs:\n      - path: out/T{i}.txt\n    validation:\n      - type: file_exists\n"
        ));
        if i > 10 && i % 10 == 0 {
            tasks.push_str(&format!("    dependencies: [T{}]\n", i - 10));
        }
    }
    format!(
        r#"version: 1
settings:
{settings}
agents:
  second:
    command: "switchboard sim-agent --duration 1"
  slowish:
    command: "switchboard sim-agent --duration 3"
groups:
  - id: G1
  - id: G2
tasks:
{tasks}"#
    )
}

/// Per task, the engines that spawned an attempt of it, from the journal.
fn spawns(sb: &Sandbox) -> BTreeMap<String, Vec<u64>> {
    let mut by_task: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in sb.events("spawned") {
        let task = e["task"].as_str().unwrap_or_default().to_string();
        by_task
            .entry(task)
            .or_default()
            .push(e["engine"].as_u64().unwrap_or(0));
    }
    by_task
}

/// How many merge commits of each task the integration branch has.
fn merges(sb: &Sandbox) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for subject in sb.integration_log() {
        if let Some(rest) = subject.strip_prefix("Merge ")
            && let Some((task, _)) = rest.split_once(':')
        {
            *count.entry(task.to_string()).or_insert(0) += 1;
        }
    }
    count
}

/// Nothing of the engines is left: no claim, no seat, no socket, no tmux
/// session or server, no process.
fn assert_nothing_left(sb: &Sandbox, what: &str) {
    let dot = sb.repo.join(".switchboard");
    for dir in ["claims", "engines"] {
        let left: Vec<String> = std::fs::read_dir(dot.join(dir))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "{what}: .switchboard/{dir} holds {left:?}");
    }
    let sockets: Vec<String> = std::fs::read_dir(sb.runtime.join("switchboard"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(sockets.is_empty(), "{what}: sockets left: {sockets:?}");
    sb.assert_no_process_left(what);
    let sessions = sb.tmux_sessions();
    assert!(
        sessions.is_empty(),
        "{what}: tmux sessions left: {sessions:?}"
    );
}

fn finish(children: Vec<Child>) -> Vec<Output> {
    children
        .into_iter()
        .map(|c| wait_with_guard(c, Duration::from_secs(600)))
        .collect()
}

#[test]
fn four_engines_started_at_once_run_each_of_200_tasks_once_and_merge_each_once() {
    // Four engines of two workers each: eight sim agents at once on this
    // 2-core machine, about a second of work each.
    let sb = Sandbox::new(&many_tasks(200, "  maxParallel: 2", "second"));
    let engines: Vec<Child> = (0..4).map(|_| sb.spawn(&["--batch-group", "G1"])).collect();
    let outs = finish(engines);
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out.status.code(), Some(0), "engine {i}: {}", stderr(out));
    }
    let spawned = spawns(&sb);
    assert_eq!(spawned.len(), 200, "every task ran");
    let twice: Vec<_> = spawned.iter().filter(|(_, e)| e.len() != 1).collect();
    assert!(twice.is_empty(), "tasks run more than once: {twice:?}");
    let mut engines: Vec<u64> = spawned.values().flatten().copied().collect();
    engines.sort();
    engines.dedup();
    assert!(
        engines.len() >= 2,
        "the engines shared the work: {engines:?}"
    );
    let merged = merges(&sb);
    assert_eq!(merged.len(), 200, "every output merged");
    assert!(
        merged.values().all(|&n| n == 1),
        "merged once each: {merged:?}"
    );
    let files = sb.integration_files();
    assert!((1..=200).all(|i| files.contains(&format!("out/T{i}.txt"))));
    // Each engine's summary counts every task of the group done.
    for out in &outs {
        let text = stderr(out);
        let table = text.rsplit("\ntask    state").next().unwrap_or_default();
        let done = table
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("done"))
            .count();
        assert_eq!(done, 200, "{table}");
    }
    assert_nothing_left(&sb, "after four engines");
}

#[test]
fn an_engine_killed_mid_task_has_its_claims_taken_over_after_their_lease() {
    let settings = "  maxParallel: 2\n  claimLeaseMs: 2000\n  heartbeat:\n    intervalMs: 200";
    let sb = Sandbox::new(&many_tasks(4, settings, "slowish"));
    let first = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("the first engine to start two tasks", |sb| {
        sb.events("spawned").len() >= 2
    });
    // A second engine beside it (seated: engine 2), then the first dies
    // with its two tasks at work (three seconds of work each).
    let second = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("the second engine's seat", |sb| {
        sb.repo.join(".switchboard/engines/2").exists()
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL the first engine");
    let killed = wait_with_guard(first, Duration::from_secs(30));
    assert_eq!(killed.status.code(), None, "killed by a signal");
    let out = wait_with_guard(second, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // What the first engine had started and not merged when it died.
    let merged_there: Vec<String> = sb
        .events("merged")
        .into_iter()
        .filter(|e| e["engine"] == 1)
        .map(|e| e["task"].as_str().unwrap_or_default().to_string())
        .collect();
    let mut theirs: Vec<String> = sb
        .events("spawned")
        .into_iter()
        .filter(|e| e["engine"] == 1)
        .map(|e| e["task"].as_str().unwrap_or_default().to_string())
        .filter(|t| !merged_there.contains(t))
        .collect();
    theirs.sort();
    assert!(
        !theirs.is_empty(),
        "the first engine died with work in hand"
    );
    let mut taken: Vec<String> = sb
        .events("claim_taken_over")
        .into_iter()
        .filter(|e| e["from_engine"] == 1 && e["engine"] == 2)
        .map(|e| e["task"].as_str().unwrap_or_default().to_string())
        .collect();
    taken.sort();
    assert_eq!(taken, theirs, "{}", stderr(&out));
    for e in sb.events("claim_taken_over") {
        let reason = e["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("lease ended"), "{reason}");
    }
    for task in &theirs {
        let by: Vec<u64> = spawns(&sb)[task].clone();
        assert_eq!(by, [1, 2], "{task}: started there, then here");
    }
    let merged = merges(&sb);
    assert_eq!(merged.len(), 4);
    assert!(merged.values().all(|&n| n == 1), "{merged:?}");
    assert_nothing_left(&sb, "after the takeover");
}

#[test]
fn a_run_on_another_group_goes_on_beside_and_the_first_engine_shows_its_claims() {
    let mut yaml = many_tasks(2, "  maxParallel: 2", "slowish");
    yaml.push_str(
        "  - { taskId: U1, title: u, group: G2, agent: { type: slowish } }\n  - { taskId: U2, title: u, group: G2, agent: { type: slowish } }\n",
    );
    let sb = Sandbox::new(&yaml);
    let first = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("the first engine's socket", |sb| {
        sb.engine(&switchboard::engine::command::Command::Status)
            .is_some()
    });
    let second = sb.spawn(&["--batch-group", "G2"]);
    // `switchboard status` reaches the first engine, which shows the
    // second's tasks as claimed by it.
    sb.wait_for("the first engine to see engine 2's claims", |sb| {
        let out = sb.run(&["status"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.starts_with("U1") && l.contains("[claimed by engine 2 (pid "))
    });
    let outs = finish(vec![first, second]);
    for out in &outs {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    }
    let spawned = spawns(&sb);
    assert_eq!(spawned["T1"], [1]);
    assert_eq!(spawned["U1"], [2]);
    assert_eq!(spawned["U2"], [2]);
    let log = git(&sb.repo, &["log", "--format=%s", "switchboard/integration"]);
    assert_eq!(log.matches("Merge ").count(), 4, "{log}");
    assert_nothing_left(&sb, "after two groups");
}

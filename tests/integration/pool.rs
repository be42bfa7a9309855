//! Worker pools end to end on real tmux and git with sim agents: the example
//! plan through a pool of four, a killed worker replaced, an unmerged task's
//! work kept on its branch when its worker moves on, and a live interactive
//! agent typed its next tasks.

use crate::harness::{Sandbox, git, plan, stderr, wait_with_guard};
use std::collections::BTreeSet;
use std::time::Duration;

/// Every `pool_dispatched` event: (task, attempt, worker, how).
fn dispatched(sb: &Sandbox) -> Vec<(String, u64, u64, String)> {
    sb.events("pool_dispatched")
        .iter()
        .map(|e| {
            (
                e["task"].as_str().unwrap_or_default().to_string(),
                e["attempt"].as_u64().unwrap_or_default(),
                e["worker"].as_u64().unwrap_or_default(),
                e["how"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Worktrees git knows besides the repository's own.
fn worktrees(sb: &Sandbox) -> Vec<String> {
    git(&sb.repo, &["worktree", "list", "--porcelain"])
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn a_pool_of_four_runs_the_example_plan_with_everything_merged() {
    let example =
        std::fs::read_to_string(crate::common::repo_root().join("dispatcher.example.yaml"))
            .expect("the example plan");
    let plan = example
        .replace(
            "  maxFallbacks: 1\n",
            "  maxFallbacks: 1\n  pool: { size: 4, profile: generalist }\n",
        )
        .replace("sim-agent --duration 2\"", "sim-agent --duration 0.3\"");
    assert!(
        plan.contains("pool: { size: 4"),
        "the example plan changed shape"
    );
    let sb = Sandbox::new(&plan);
    let out = sb.run(&["--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    sb.assert_nothing_left_now("after the pool's run");

    let merges = sb
        .integration_log()
        .into_iter()
        .filter(|s| s.starts_with("Merge T"))
        .count();
    assert_eq!(merges, 22, "{:?}", sb.integration_log());
    for i in 1..=22 {
        assert_eq!(
            sb.state_of(&format!("T{i}")).as_deref(),
            Some("done"),
            "T{i}"
        );
    }
    // Every task went to one of the four workers, on the pool's profile.
    let d = dispatched(&sb);
    assert_eq!(d.len(), 22, "{d:?}");
    let workers: BTreeSet<u64> = d.iter().map(|x| x.2).collect();
    assert!(workers.iter().all(|w| (1..=4).contains(w)), "{workers:?}");
    assert!(
        sb.events("spawned")
            .iter()
            .all(|e| e["profile"] == "generalist"
                && e["worktree"].as_str().unwrap().contains("/pool-")),
        "{:?}",
        sb.events("spawned")
    );
    // Four sessions served 22 tasks: at most one per worker was ever made.
    let sessions: BTreeSet<String> = sb
        .events("spawned")
        .iter()
        .map(|e| e["session"].as_str().unwrap().to_string())
        .collect();
    assert!(sessions.len() <= 4, "{sessions:?}");
    // Every worker's last task merged: its worktree is gone, as a merged
    // task's is; no per-task worktree was ever made.
    assert_eq!(worktrees(&sb), Vec::<String>::new());
}

#[test]
fn a_killed_pool_worker_is_replaced_and_its_task_restarted() {
    let settings =
        "  pool: { size: 1, profile: slowish }\n  restart: { maxRestarts: 1, backoffMs: 100 }";
    let tasks = "  - { taskId: W1, title: one, group: G1, outputs: [{ path: w1.txt }] }\n\
                 \x20 - { taskId: W2, title: two, group: G1, outputs: [{ path: w2.txt }] }";
    let text =
        plan(settings, tasks).replace("  restart:\n    maxRestarts: 0\n    backoffMs: 100\n", "");
    let sb = Sandbox::new(&text);
    let child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("W1 running with its shim connected", |s| {
        s.engine(&switchboard::engine::command::Command::Status)
            .is_some_and(|st| {
                let w1 = &st["tasks"][0];
                w1["state"] == "running" && w1["light"] == "HEALTHY"
            })
    });
    // `status` shows the pool: its worker on W1, W2 waiting for it.
    let out = sb.run(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("pool (slowish): 1 of 1 workers busy; queue: W2")
            && text.contains("worker 1   W1 running"),
        "{text}"
    );
    let out = sb.run(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let pool = &json["pools"][0];
    assert_eq!(pool["workers"][0]["task"], "W1", "{json}");
    assert_eq!(pool["queue"], serde_json::json!(["W2"]), "{json}");
    let shim = sb
        .live_processes()
        .into_iter()
        .find(|p| p.contains(" worker "))
        .expect("the pool worker's shim");
    let pid: i32 = shim.split(':').next().unwrap().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the shim");
    let out = wait_with_guard(child, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    sb.assert_nothing_left_now("after the run");

    let replaced = sb.events("pool_worker_replaced");
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert_eq!(replaced[0]["worker"], 1);
    // W1 ran again (a restart, as for any dead worker) and merged; the
    // worker took W2 while W1 backed off.
    assert_eq!(sb.events("restart").len(), 1);
    let mut d: Vec<(String, u64)> = dispatched(&sb).into_iter().map(|x| (x.0, x.1)).collect();
    d.sort();
    assert_eq!(
        d,
        [("W1".to_string(), 1), ("W1".into(), 2), ("W2".into(), 1)],
        "{d:?}"
    );
    assert_eq!(sb.state_of("W1").as_deref(), Some("done"));
    assert_eq!(sb.state_of("W2").as_deref(), Some("done"));
    // The replacement is a fresh session: the next start has a new pane.
    let panes: Vec<String> = sb
        .events("spawned")
        .iter()
        .map(|e| e["pane"].as_str().unwrap().to_string())
        .collect();
    assert_ne!(panes[0], panes[1], "{panes:?}");
}

#[test]
fn moving_on_keeps_an_unmerged_tasks_work_on_its_branch() {
    let settings = "  pool: { size: 1, profile: quick }";
    // T1 commits part of its work, leaves more uncommitted, and fails.
    let tasks = "  - taskId: T1\n    title: one\n    group: G1\n    agent: { type: quick }\n    \
                 command: \"echo wip > t1.txt && git add t1.txt && git commit -qm 'T1 partial' && echo loose > loose.txt && exit 1\"\n    \
                 outputs: [{ path: t1.txt }]\n\
                 \x20 - { taskId: T2, title: two, group: G1, outputs: [{ path: t2.txt }] }";
    let sb = Sandbox::new(&plan(settings, tasks));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(1), "T1 fails: {}", stderr(&out));
    sb.assert_nothing_left_now("after the run");
    assert_eq!(sb.state_of("T1").as_deref(), Some("failed"));
    assert_eq!(sb.state_of("T2").as_deref(), Some("done"));
    // T2 took T1's worker, from the integration branch's head.
    let d = dispatched(&sb);
    assert_eq!(d[0].0, "T1");
    assert_eq!((d[1].0.as_str(), d[1].2), ("T2", 1), "{d:?}");
    // Nothing of T1's was lost: its commit, and a commit of what it left
    // uncommitted, are on its branch; none of it reached integration.
    let log = git(&sb.repo, &["log", "--format=%s", "agent/T1/quick"]);
    assert!(log.contains("T1 partial"), "{log}");
    assert!(
        log.lines().next().is_some_and(|l| l.starts_with(
            "switchboard: save the uncommitted work left in pool worker 1 before it takes T2"
        )),
        "{log}"
    );
    let files = git(
        &sb.repo,
        &["ls-tree", "-r", "--name-only", "agent/T1/quick"],
    );
    assert!(
        files.contains("t1.txt") && files.contains("loose.txt"),
        "{files}"
    );
    let merged = sb.integration_files();
    assert!(merged.contains(&"t2.txt".to_string()), "{merged:?}");
    assert!(
        !merged.iter().any(|f| f == "t1.txt" || f == "loose.txt"),
        "{merged:?}"
    );
    // The journal says where the leftovers went.
    let saved = &sb.events("pool_dispatched")[1]["saved"];
    assert!(
        saved.as_str().is_some_and(|s| s.contains("agent/T1/quick")),
        "{saved}"
    );
    // Its worker gone, T1 is rechecked on its branch as it stands, in a
    // worktree of its own: its checks pass, it merges with all of its work.
    let out = sb.run(&["recheck", "T1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sb.state_of("T1").as_deref(), Some("done"));
    let merged = sb.integration_files();
    assert!(
        ["t1.txt", "loose.txt", "t2.txt"]
            .iter()
            .all(|f| merged.contains(&f.to_string())),
        "{merged:?}"
    );
    assert_eq!(worktrees(&sb), Vec::<String>::new());
    sb.assert_nothing_left_now("after the recheck");
}

#[test]
fn a_live_interactive_agent_is_typed_its_next_tasks() {
    // An agent that stays at its prompt: each line typed to it is a turn,
    // in which the sim agent does the task TASK_INSTRUCTION.md describes.
    let live = "printf 'ready> '; while IFS= read -r line; do \
                env -u SWITCHBOARD_TASK -u SWITCHBOARD_TITLE -u SWITCHBOARD_OUTPUTS -u SWITCHBOARD_ATTEMPT \
                switchboard sim-agent --duration 0.3; printf 'ready> '; done";
    let text = format!(
        r#"settings:
  heartbeat: {{ intervalMs: 200 }}
  halt: {{ graceMs: 500 }}
  restart: {{ maxRestarts: 0 }}
  maxFallbacks: 0
  pool: {{ size: 1, profile: live }}
agents:
  live:
    command: "{live}"
    typePrompt: "go"
    screen:
      idle: ["ready>"]
groups:
  - id: G1
tasks:
  - {{ taskId: T1, title: one, group: G1, outputs: [{{ path: t1.txt }}] }}
  - {{ taskId: T2, title: two, group: G1, outputs: [{{ path: t2.txt }}] }}
  - {{ taskId: T3, title: three, group: G1, outputs: [{{ path: t3.txt }}] }}
"#
    );
    let sb = Sandbox::new(&text);
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    sb.assert_nothing_left_now("after the run");
    for t in ["T1", "T2", "T3"] {
        assert_eq!(sb.state_of(t).as_deref(), Some("done"), "{t}");
    }
    let merged = sb.integration_files();
    for f in ["t1.txt", "t2.txt", "t3.txt"] {
        assert!(merged.contains(&f.to_string()), "{f} in {merged:?}");
    }
    // Started once; the next two were typed into the same agent, each
    // under its own attempt (its reports reached its task).
    let how: Vec<(String, String)> = dispatched(&sb).into_iter().map(|x| (x.0, x.3)).collect();
    assert_eq!(
        how,
        [
            ("T1".to_string(), "started".to_string()),
            ("T2".into(), "typed".into()),
            ("T3".into(), "typed".into())
        ]
    );
    let reported: BTreeSet<String> = sb
        .events("report")
        .iter()
        .filter(|e| e["state"] == "DONE")
        .map(|e| e["task"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reported.len(), 3, "{reported:?}");
    // One shim, one pane: the agent never exited between tasks.
    assert_eq!(sb.events("exit").len(), 0, "{:?}", sb.events("exit"));
}

#[test]
fn two_engines_with_pools_share_a_group_and_run_each_task_once() {
    let settings = "  pool: { size: 2, profile: quick }";
    let tasks: String = (1..=12)
        .map(|i| {
            format!("  - {{ taskId: T{i}, title: task {i}, group: G1, outputs: [{{ path: t{i}.txt }}] }}\n")
        })
        .collect();
    let text = plan(settings, tasks.trim_end()).replace("maxParallel: 4", "maxParallel: 2");
    let sb = Sandbox::new(&text);
    let engines: Vec<_> = (0..2).map(|_| sb.spawn(&["--batch-group", "G1"])).collect();
    for (i, child) in engines.into_iter().enumerate() {
        let out = wait_with_guard(child, Duration::from_secs(180));
        assert_eq!(out.status.code(), Some(0), "engine {i}: {}", stderr(&out));
    }
    sb.assert_no_process_left("after both engines");
    assert_eq!(sb.tmux_sessions(), Vec::<String>::new());
    // Each task ran once, on one engine's pool worker, and merged once.
    let spawned = sb.events("spawned");
    let mut tasks_run: Vec<String> = spawned
        .iter()
        .map(|e| e["task"].as_str().unwrap().to_string())
        .collect();
    tasks_run.sort();
    tasks_run.dedup();
    assert_eq!((tasks_run.len(), spawned.len()), (12, 12), "{spawned:?}");
    let merges = sb
        .integration_log()
        .into_iter()
        .filter(|s| s.starts_with("Merge T"))
        .count();
    assert_eq!(merges, 12);
    // Each engine's workers are its own: no session served two engines.
    let mut owners: std::collections::BTreeMap<String, BTreeSet<u64>> = Default::default();
    for e in &spawned {
        let session = e["session"].as_str().unwrap().to_string();
        assert!(session.contains("--pool"), "{session}");
        owners
            .entry(session)
            .or_default()
            .insert(e["engine"].as_u64().unwrap_or(0));
    }
    assert!(owners.values().all(|e| e.len() == 1), "{owners:?}");
    // Both took part (engine 2's workers have sessions of their own).
    let engines: BTreeSet<u64> = owners.values().flatten().copied().collect();
    assert_eq!(engines.len(), 2, "{owners:?}");
    assert!(
        owners.keys().any(|s| s.contains("--pool--e2-")),
        "{owners:?}"
    );
}

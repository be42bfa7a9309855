//! Assignment strategies, rate limits and budgets on real tmux and git with
//! sim agents: the order and profiles tasks start on, a profile's back-off
//! after its agent printed a rate-limit line, and a budget that stops new
//! starts. Orders are read from the journal, not from the clock.

use crate::harness::{Sandbox, plan, stderr};

/// Task ids in the order they were assigned, with their profiles.
fn assigned(sb: &Sandbox) -> Vec<(String, String)> {
    sb.events("state")
        .into_iter()
        .filter(|e| e["state"] == "assigned")
        .map(|e| {
            let task = e["task"].as_str().unwrap_or_default().to_string();
            let profile = e["profile"].as_str().unwrap_or_default().to_string();
            (task, profile)
        })
        .collect()
}

fn order(sb: &Sandbox) -> Vec<String> {
    assigned(sb).into_iter().map(|(t, _)| t).collect()
}

/// One worker at a time, so the start order is the strategy's.
fn serial(assignment: &str, extra_agents: &str, tasks: &str) -> Sandbox {
    let settings = format!("  assignment: {assignment}\n");
    let yaml = plan(&settings, tasks)
        .replace("maxParallel: 4", "maxParallel: 1")
        .replace("agents:\n", &format!("agents:\n{extra_agents}"));
    let sb = Sandbox::new(&yaml);
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    sb.assert_nothing_left_now("after the run");
    sb
}

const RANKED: &str = r#"  - { taskId: A, title: a, group: G1, agent: { type: fast }, priority: LOW, effortHours: 1 }
  - { taskId: B, title: b, group: G1, agent: { type: fast }, priority: CRITICAL, effortHours: 1 }
  - { taskId: C, title: c, group: G1, agent: { type: fast }, effortHours: 2 }
  - { taskId: D, title: d, group: G1, agent: { type: fast }, effortHours: 2, dependencies: [A] }
"#;

const FAST: &str = "  fast:\n    command: \"switchboard sim-agent --duration 0.2\"\n";

#[test]
fn fifo_priority_and_critical_path_order_the_starts() {
    let sb = serial("fifo", FAST, RANKED);
    assert_eq!(order(&sb), ["A", "B", "C", "D"]);
    let sb = serial("priority", FAST, RANKED);
    assert_eq!(order(&sb), ["B", "C", "A", "D"]);
    // A carries D: a 3 h chain; C is 2 h, B 1 h.
    let sb = serial("critical-path", FAST, RANKED);
    assert_eq!(order(&sb), ["A", "C", "D", "B"]);
}

const CAPABLE: &str = "  rusty:\n    command: \"switchboard sim-agent --duration 0.2\"\n    capabilities: [rust]\n  \
                       dba:\n    command: \"switchboard sim-agent --duration 0.2\"\n    capabilities: [rust, db]\n";

const NEEDY: &str = r#"  - { taskId: R1, title: r, group: G1, needs: [rust] }
  - { taskId: D1, title: d, group: G1, needs: [db] }
  - { taskId: R2, title: r, group: G1, needs: [rust] }
  - { taskId: R3, title: r, group: G1, needs: [rust] }
"#;

#[test]
fn capability_and_round_robin_pick_profiles_by_needs() {
    let sb = serial("capability", CAPABLE, NEEDY);
    // `agents` order: dba, rusty; the first that fits and may start.
    assert_eq!(
        assigned(&sb),
        [("R1", "dba"), ("D1", "dba"), ("R2", "dba"), ("R3", "dba")]
            .map(|(t, p)| (t.to_string(), p.to_string()))
    );
    let branches = crate::harness::git(&sb.repo, &["branch", "--list", "agent/R1/*"]);
    assert_eq!(branches.trim(), "agent/R1/any");
    let sb = serial("round-robin", CAPABLE, NEEDY);
    assert_eq!(
        assigned(&sb),
        [("R1", "dba"), ("D1", "dba"), ("R2", "rusty"), ("R3", "dba")]
            .map(|(t, p)| (t.to_string(), p.to_string()))
    );
}

#[test]
fn per_profile_max_parallel_and_spawn_rate_hold_starts() {
    // `capped` runs one at a time although four slots are free; a spawn
    // rate of 2/s lets the two `fast` tasks start at once, the rest later.
    let agents =
        "  capped:\n    command: \"switchboard sim-agent --duration 0.6\"\n    maxParallel: 1\n";
    let tasks = r#"  - { taskId: C1, title: c, group: G1, agent: { type: capped } }
  - { taskId: C2, title: c, group: G1, agent: { type: capped } }
  - { taskId: C3, title: c, group: G1, agent: { type: capped } }
"#;
    let yaml = plan("", tasks).replace("agents:\n", &format!("agents:\n{agents}"));
    let sb = Sandbox::new(&yaml);
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Never two `capped` attempts at once: each starts after the last merged.
    let journal = sb.journal();
    let mut running = 0;
    for e in &journal {
        match (e["event"].as_str(), e["state"].as_str()) {
            (Some("state"), Some("assigned")) => {
                running += 1;
                assert!(running <= 1, "two capped attempts at once: {journal:#?}");
            }
            (Some("state"), Some("done" | "failed")) => running -= 1,
            _ => {}
        }
    }

    let tasks = r#"  - { taskId: S1, title: s, group: G1, agent: { type: quick } }
  - { taskId: S2, title: s, group: G1, agent: { type: quick } }
  - { taskId: S3, title: s, group: G1, agent: { type: quick } }
"#;
    let sb = Sandbox::new(&plan("  spawnRate: 2/s\n", tasks));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let at: Vec<u64> = sb
        .events("state")
        .into_iter()
        .filter(|e| e["state"] == "assigned")
        .map(|e| e["ts_ms"].as_u64().unwrap_or_default())
        .collect();
    assert_eq!(at.len(), 3);
    // The third waited for the bucket's next token (500 ms after it
    // emptied). Each start follows its claim's round trip (a file created
    // on tokio's blocking pool), so the starts' times carry a little of it.
    assert!(at[2] >= at[1] + 400, "{at:?}");
    sb.assert_nothing_left_now("after the run");
}

#[test]
fn a_rate_limit_line_backs_the_profile_off() {
    let settings = "  rateLimit:\n    backoffMs: 3000\n    maxBackoffMs: 6000\n";
    let agents = "  limited:\n    command: \"switchboard sim-agent --duration 0.5 --rate-limit-line\"\n    maxParallel: 1\n";
    let tasks = r#"  - { taskId: L1, title: l, group: G1, agent: { type: limited } }
  - { taskId: L2, title: l, group: G1, agent: { type: limited } }
"#;
    let yaml = plan(settings, tasks).replace("agents:\n", &format!("agents:\n{agents}"));
    let sb = Sandbox::new(&yaml);
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let limited = sb.events("rate_limited");
    assert!(!limited.is_empty(), "{}", stderr(&out));
    let first = &limited[0];
    assert_eq!(first["task"], "L1");
    assert_eq!(first["profile"], "limited");
    assert_eq!(first["backoff_ms"], 3000);
    assert!(
        first["line"]
            .as_str()
            .is_some_and(|l| l.contains("429 rate_limit_error")),
        "{first}"
    );
    assert!(
        stderr(&out).contains("profile limited starts nothing new for 3 s"),
        "{}",
        stderr(&out)
    );
    // L2 started only once the back-off was over.
    let l2 = sb
        .events("state")
        .into_iter()
        .find(|e| e["task"] == "L2" && e["state"] == "assigned")
        .expect("L2 started");
    let since = l2["ts_ms"].as_u64().unwrap() - first["ts_ms"].as_u64().unwrap();
    assert!(since >= 3000, "L2 started {since} ms after the rate limit");
    sb.assert_nothing_left_now("after the run");
}

#[test]
fn a_budget_warns_then_stops_new_starts_and_unknown_costs_are_said() {
    let settings = "  budget: { maxUsd: 0.25, warnAt: 0.5 }\n";
    let agents = "  paid:\n    command: \"switchboard sim-agent --duration 0.2 --cost-usd 0.1\"\n";
    let tasks = r#"  - { taskId: P1, title: p, group: G1, agent: { type: quick } }
  - { taskId: P2, title: p, group: G1, agent: { type: paid } }
  - { taskId: P3, title: p, group: G1, agent: { type: paid } }
  - { taskId: P4, title: p, group: G1, agent: { type: paid } }
  - { taskId: P5, title: p, group: G1, agent: { type: paid } }
"#;
    let yaml = plan(settings, tasks)
        .replace("maxParallel: 4", "maxParallel: 1")
        .replace("agents:\n", &format!("agents:\n{agents}"));
    let sb = Sandbox::new(&yaml);
    let out = sb.run(&["--batch-group", "G1"]);
    // P5 never starts: the run ends with it skipped (exit 1).
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let warned = sb.events("budget_warning");
    let exceeded = sb.events("budget_exceeded");
    assert_eq!((warned.len(), exceeded.len()), (1, 1), "{}", stderr(&out));
    // P1 (the `quick` sim) reported no cost: unknown, and said so.
    assert_eq!(warned[0]["unknown_tasks"], 1);
    assert_eq!(warned[0]["scope"], "run");
    assert!(
        stderr(&out).contains(
            "budget warning: the run's budget: $0.20 of $0.25 spent (80 %); 1 task's cost unknown"
        ),
        "{}",
        stderr(&out)
    );
    for t in ["P1", "P2", "P3", "P4"] {
        assert_eq!(sb.state_of(t).as_deref(), Some("done"), "{t}");
    }
    assert_eq!(sb.state_of("P5").as_deref(), Some("skipped"));
    sb.assert_nothing_left_now("after the run");
}

#[test]
fn validate_only_names_bad_limits() {
    let yaml = plan(
        "  spawnRate: \"10 per minute\"\n  assignment: fastest\n",
        "  - { taskId: A, title: a, group: G1, agent: { type: quick } }\n",
    );
    let sb = Sandbox::new(&yaml);
    let out = sb.run(&["--validate-only"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("settings.spawnRate '10 per minute' is not a rate: write N/s, N/min or N/h"),
        "{err}"
    );
    assert!(err.contains("assignment"), "{err}");
}

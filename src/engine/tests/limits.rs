//! Limits on starts through the whole engine: a profile's maxParallel, the
//! spawn rate's tokens (the engine wakes for the next one), a profile's
//! back-off after a rate-limit screen or report, and budgets.

use super::spawns;
use crate::engine::event::Event;
use crate::engine::fixture::Fixture;
use crate::engine::limits::BudgetLevel;
use crate::engine::snapshot::TaskState;
use crate::worker::protocol::{ReportState, ShimMessage, Usage};

/// Four tasks on `a`, one on `b`, in one group.
fn plan(settings: &str, a: &str) -> String {
    format!(
        r#"
settings:
  maxParallel: 8
  restart: {{ maxRestarts: 2, backoffMs: 100, maxBackoffMs: 100 }}
{settings}
agents:
  a: {{ command: "true"{a} }}
  b: {{ command: "true" }}
groups: [ {{ id: G }} ]
tasks:
  - {{ taskId: A1, title: a, group: G, agent: {{ type: a }} }}
  - {{ taskId: A2, title: a, group: G, agent: {{ type: a }} }}
  - {{ taskId: A3, title: a, group: G, agent: {{ type: a }} }}
  - {{ taskId: A4, title: a, group: G, agent: {{ type: a }} }}
  - {{ taskId: B1, title: b, group: G, agent: {{ type: b }} }}
"#
    )
}

const ALL: &[&str] = &["A1", "A2", "A3", "A4", "B1"];

fn started(fx: &Fixture) -> Vec<String> {
    ALL.iter()
        .filter(|t| !spawns(fx, t).is_empty())
        .map(|t| t.to_string())
        .collect()
}

#[test]
fn max_parallel_per_profile_holds_the_rest_until_one_ends() {
    let mut fx = Fixture::new(&plan("", ", maxParallel: 2"), ALL);
    assert_eq!(started(&fx), ["A1", "A2", "B1"]);
    fx.run_through("A1");
    assert_eq!(started(&fx), ["A1", "A2", "A3", "B1"]);
}

#[test]
fn spawn_rate_waits_for_the_next_token_and_wakes_for_it() {
    // 3/s: a burst of three, then one every 333.3 ms, restarts included.
    // (Off the 500 ms pane poll, so the start shows the engine woke for
    // the token.)
    let mut fx = Fixture::new(&plan("  spawnRate: 3/s", ""), ALL);
    assert_eq!(started(&fx), ["A1", "A2", "A3"]);
    fx.advance(333);
    assert_eq!(started(&fx).len(), 3);
    fx.advance(1);
    assert_eq!(started(&fx), ["A1", "A2", "A3", "A4"]);
    // A restart takes a token too: A1 fails (backoff 100 ms) and waits,
    // as B1 does, for the token due at +667; A1 comes first in plan order.
    fx.hello("A1", 1);
    fx.exit("A1", 1);
    fx.advance(332);
    assert_eq!(spawns(&fx, "A1").len(), 1);
    fx.advance(1);
    assert_eq!(spawns(&fx, "A1").len(), 2);
    assert_eq!(spawns(&fx, "B1").len(), 0);
    // B1 takes the next one.
    fx.advance(333);
    assert_eq!(spawns(&fx, "B1").len(), 1);
}

#[test]
fn a_rate_limit_screen_backs_the_profile_off_for_new_starts() {
    let settings = "  rateLimit: { backoffMs: 30000, maxBackoffMs: 120000 }";
    let mut fx = Fixture::new(&plan(settings, ", maxParallel: 1"), ALL);
    assert_eq!(started(&fx), ["A1", "B1"]);
    fx.hello("A1", 1);
    let at = (fx.now() / 1000) as i64 + 1;
    fx.show_pane("A1", at, "working\nAPI Error: 429 rate_limit_error\n");
    fx.advance(1500);
    let limited: Vec<_> = fx
        .events("A1")
        .into_iter()
        .filter_map(|e| match e {
            Event::RateLimited {
                profile,
                backoff_ms,
                ..
            } => Some((profile.clone(), *backoff_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(limited, [("a".to_string(), 30_000)]);
    // The running worker goes on; the light says why nothing new starts.
    assert_eq!(fx.state("A1"), TaskState::Running);
    let a2 = fx.snapshot_task("A2");
    assert_eq!(
        a2.agent_state.as_deref(),
        Some("rate limited: backing off 30 s")
    );
    assert!(
        fx.snapshot_task("A1")
            .agent_state
            .is_some_and(|s| s.contains("rate limited: backing off 30 s"))
    );
    // A1 finishes: its slot frees, but `a` is backing off.
    fx.exit("A1", 0);
    fx.advance(10_000);
    assert_eq!(started(&fx), ["A1", "B1"]);
    // The back-off ends by itself (a wakeup, no tick): A2 starts.
    fx.advance(20_000);
    assert_eq!(started(&fx), ["A1", "A2", "B1"]);
    assert_eq!(fx.snapshot_task("A2").agent_state, None);
}

#[test]
fn a_rate_limit_in_a_report_backs_off_too_doubling() {
    let settings = "  rateLimit: { backoffMs: 1000, maxBackoffMs: 3000 }";
    let mut fx = Fixture::new(&plan(settings, ", maxParallel: 1"), ALL);
    fx.hello("A1", 1);
    fx.report(
        "A1",
        ReportState::Error,
        Some("API Error: 529 overloaded_error"),
    );
    // The error report fails the attempt; A1 is restarted after the back-off.
    fx.advance(900);
    assert_eq!(spawns(&fx, "A1").len(), 1);
    fx.advance(100);
    assert_eq!(spawns(&fx, "A1").len(), 2);
    fx.hello("A1", 2);
    fx.report(
        "A1",
        ReportState::Error,
        Some("Error: HTTP 429 Too Many Requests"),
    );
    let waits: Vec<u64> = fx
        .events("A1")
        .into_iter()
        .filter_map(|e| match e {
            Event::RateLimited { backoff_ms, .. } => Some(*backoff_ms),
            _ => None,
        })
        .collect();
    assert_eq!(waits, [1000, 2000]);
}

fn spend(fx: &mut Fixture, task: &str, usd: f64) {
    fx.shim_says(
        task,
        ShimMessage::Report {
            state: ReportState::Usage,
            message: None,
            usage: Some(Usage {
                cost_usd: Some(usd),
                ..Usage::default()
            }),
        },
    );
}

fn budget_events(fx: &Fixture) -> Vec<(&'static str, String, usize)> {
    fx.run_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::BudgetWarning(n) => Some(("warning", n.scope.clone(), n.unknown_tasks)),
            Event::BudgetExceeded(n) => Some(("exceeded", n.scope.clone(), n.unknown_tasks)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_run_budget_warns_once_then_stops_new_starts() {
    let settings = "  budget: { maxUsd: 1.0, warnAt: 0.5 }";
    let mut fx = Fixture::new(
        &plan(settings, ", maxParallel: 2").replace("maxParallel: 8", "maxParallel: 3"),
        ALL,
    );
    assert_eq!(started(&fx), ["A1", "A2", "B1"]);
    fx.hello("A1", 1);
    fx.hello("A2", 1);
    fx.hello("B1", 1);
    spend(&mut fx, "A1", 0.3);
    assert_eq!(budget_events(&fx), []);
    spend(&mut fx, "A1", 0.3);
    // B1 and A2 ran without reporting a cost: unknown, not free.
    assert_eq!(budget_events(&fx), [("warning", "run".into(), 2)]);
    spend(&mut fx, "A2", 0.1);
    assert_eq!(budget_events(&fx).len(), 1, "warned once");
    spend(&mut fx, "B1", 0.5);
    assert_eq!(
        budget_events(&fx),
        [("warning", "run".into(), 2), ("exceeded", "run".into(), 0)]
    );
    let limits = fx.snapshot().limits;
    assert_eq!(limits.budgets[0].level, BudgetLevel::Exceeded);
    assert!((limits.budgets[0].spent_usd - 1.2).abs() < 1e-9);
    // Running workers finish; nothing new starts.
    fx.exit("A1", 0);
    fx.exit("B1", 0);
    fx.advance(5_000);
    assert_eq!(started(&fx), ["A1", "A2", "B1"]);
    assert_eq!(fx.state("A1"), TaskState::Done);
    // What waited to start never will in this run: skipped, saying why.
    let a3 = fx.snapshot_task("A3");
    assert_eq!(a3.state, TaskState::Skipped);
    assert!(
        a3.message
            .is_some_and(|m| m.starts_with("not started: the run's budget: $1.20 of $1.00")),
    );
    assert_eq!(
        fx.snapshot_task("A2").agent_state.as_deref(),
        Some("budget spent: no new starts"),
        "the running worker says it too"
    );
    spend(&mut fx, "A2", 0.1);
    assert_eq!(budget_events(&fx).len(), 2, "exceeded once");
}

#[test]
fn a_profile_budget_stops_only_that_profile() {
    let mut fx = Fixture::new(&plan("", ", maxParallel: 1, budget: { maxUsd: 0.5 }"), ALL);
    assert_eq!(started(&fx), ["A1", "B1"]);
    fx.hello("A1", 1);
    fx.hello("B1", 1);
    spend(&mut fx, "B1", 5.0);
    assert_eq!(budget_events(&fx), []);
    spend(&mut fx, "A1", 0.5);
    assert_eq!(
        budget_events(&fx),
        [("warning", "a".into(), 0), ("exceeded", "a".into(), 0)]
    );
    fx.exit("A1", 0);
    fx.advance(1_000);
    assert_eq!(started(&fx), ["A1", "B1"]);
    let a2 = fx.snapshot_task("A2");
    assert_eq!(a2.state, TaskState::Skipped);
    assert!(
        a2.message
            .is_some_and(|m| m.contains("profile a's budget: $0.50 of $0.50")),
    );
    assert_eq!(fx.state("B1"), TaskState::Running);
}

const CAPABLE: &str = r#"
settings: { assignment: capability, maxParallel: 8 }
agents:
  rusty: { command: "true", capabilities: [rust], fallbacks: [full] }
  full: { command: "true", capabilities: [rust, db], maxParallel: 1 }
groups: [ { id: G } ]
tasks:
  - { taskId: D1, title: d, group: G, needs: [db] }
  - { taskId: R1, title: r, group: G, needs: [rust] }
  - { taskId: R2, title: r, group: G, needs: [rust] }
"#;

#[test]
fn capability_gives_untyped_tasks_a_fitting_profile() {
    let mut fx = Fixture::new(CAPABLE, &["D1", "R1", "R2"]);
    // `full` holds one at a time: D1 takes it, R1 and R2 go to `rusty`.
    assert_eq!(spawns(&fx, "D1"), [(1, "full".into())]);
    assert_eq!(spawns(&fx, "R1"), [(1, "rusty".into())]);
    assert_eq!(spawns(&fx, "R2"), [(1, "rusty".into())]);
    assert_eq!(fx.snapshot_task("R1").profile, "rusty");
    assert_eq!(
        fx.snapshot_task("R1").branch.as_deref(),
        Some("agent/R1/any")
    );
    // A restart stays on its profile; escalation follows its fallbacks.
    fx.hello("R1", 1);
    fx.exit("R1", 127);
    fx.run_through("D1");
    fx.advance(2_000);
    assert_eq!(spawns(&fx, "R1"), [(1, "rusty".into()), (2, "full".into())]);
}

#[test]
fn round_robin_alternates_fitting_profiles() {
    let yaml = CAPABLE
        .replace("assignment: capability", "assignment: round-robin")
        .replace(", maxParallel: 1", "")
        .replace("needs: [db]", "needs: [rust]");
    let fx = Fixture::new(&yaml, &["D1", "R1", "R2"]);
    // Profiles in `agents` order: full, rusty.
    assert_eq!(spawns(&fx, "D1"), [(1, "full".into())]);
    assert_eq!(spawns(&fx, "R1"), [(1, "rusty".into())]);
    assert_eq!(spawns(&fx, "R2"), [(1, "full".into())]);
}

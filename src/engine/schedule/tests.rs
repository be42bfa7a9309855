//! The scheduler on plain data: gating, skips, each assignment strategy,
//! per-profile caps, held profiles and spawn-rate tokens.

use super::*;
use crate::plan::{load, validate};

fn plan(yaml: &str) -> ValidPlan {
    let p = load::parse("t.yaml", yaml.as_bytes()).expect("parses");
    validate::validate("t.yaml", yaml, p).expect("valid").0
}

const PLAN: &str = r#"
agents: { a: { command: "true" } }
groups:
  - id: G1
  - id: G2
    after: [G1]
tasks:
  - { taskId: A, title: a, group: G1, agent: { type: a } }
  - { taskId: B, title: b, group: G1, agent: { type: a }, priority: CRITICAL }
  - { taskId: C, title: c, group: G1, agent: { type: a }, dependencies: [A] }
  - { taskId: D, title: d, group: G2, agent: { type: a } }
"#;

fn with(assignment: &str, yaml: &str) -> ValidPlan {
    plan(&format!("settings: {{ assignment: {assignment} }}\n{yaml}"))
}

fn slots(p: &ValidPlan, states: &[TaskState]) -> Vec<Slot> {
    states
        .iter()
        .enumerate()
        .map(|(t, &state)| Slot {
            state,
            selected: true,
            not_before_ms: 0,
            forced: false,
            profile: p.fits[t]
                .first()
                .copied()
                .filter(|_| p.plan.tasks[t].agent_type().is_some()),
        })
        .collect()
}

fn steps(p: &ValidPlan, s: &[Slot], max: usize, now: u64) -> Vec<Step> {
    next_steps(p, s, &Gate::open(p, max, now))
}

/// The tasks started, in order.
fn started(steps: &[Step]) -> Vec<usize> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Start { task, .. } => Some(*task),
            Step::Skip { .. } => None,
        })
        .collect()
}

use TaskState::*;

#[test]
fn fifo_is_plan_order_and_the_default() {
    let p = plan(PLAN);
    let s = slots(&p, &[Pending, Pending, Pending, Pending]);
    assert_eq!(started(&steps(&p, &s, 8, 0)), vec![0, 1]);
    assert_eq!(started(&steps(&p, &s, 1, 0)), vec![0]);
}

#[test]
fn priority_then_plan_order() {
    let p = with("priority", PLAN);
    let s = slots(&p, &[Pending, Pending, Pending, Pending]);
    assert_eq!(started(&steps(&p, &s, 8, 0)), vec![1, 0]);
    assert_eq!(started(&steps(&p, &s, 1, 0)), vec![1]);
}

#[test]
fn critical_path_takes_the_longest_remaining_chain_first() {
    // X (1h) leads to Y (5h): a 6h chain; Z alone is 4h; W alone 4h (ties
    // go in plan order).
    let p = with(
        "critical-path",
        r#"
agents: { a: { command: "true" } }
groups: [ { id: G } ]
tasks:
  - { taskId: Z, title: z, group: G, agent: { type: a }, effortHours: 4 }
  - { taskId: X, title: x, group: G, agent: { type: a }, effortHours: 1 }
  - { taskId: Y, title: y, group: G, agent: { type: a }, effortHours: 5, dependencies: [X] }
  - { taskId: W, title: w, group: G, agent: { type: a }, effortHours: 4 }
  - { taskId: N, title: n, group: G, agent: { type: a } }
"#,
    );
    assert_eq!(p.chain_hours, vec![4.0, 6.0, 5.0, 4.0, 0.0]);
    let s = slots(&p, &[Pending; 5]);
    assert_eq!(started(&steps(&p, &s, 8, 0)), vec![1, 0, 3, 4]);
    assert_eq!(started(&steps(&p, &s, 1, 0)), vec![1]);
}

const CAPABLE: &str = r#"
agents:
  rusty: { command: "true", capabilities: [rust] }
  full: { command: "true", capabilities: [rust, db] }
  web: { command: "true", capabilities: [js] }
groups: [ { id: G } ]
tasks:
  - { taskId: R1, title: r, group: G, needs: [rust] }
  - { taskId: D1, title: d, group: G, needs: [rust, db] }
  - { taskId: R2, title: r, group: G, needs: [rust] }
  - { taskId: J1, title: j, group: G, needs: [js] }
  - { taskId: T1, title: t, group: G, agent: { type: web } }
"#;

#[test]
fn capability_matches_needs_against_profiles() {
    let p = with("capability", CAPABLE);
    // Profiles in `agents` order: full, rusty, web.
    assert_eq!(p.profiles, vec!["full", "rusty", "web"]);
    assert_eq!(
        p.fits,
        vec![vec![0, 1], vec![0], vec![0, 1], vec![2], vec![2]]
    );
    let s = slots(&p, &[Pending; 5]);
    let got = steps(&p, &s, 8, 0);
    assert_eq!(
        got,
        vec![
            Step::Start {
                task: 0,
                profile: 0
            },
            Step::Start {
                task: 1,
                profile: 0
            },
            Step::Start {
                task: 2,
                profile: 0
            },
            Step::Start {
                task: 3,
                profile: 2
            },
            Step::Start {
                task: 4,
                profile: 2
            },
        ]
    );
}

#[test]
fn capability_moves_on_to_the_next_fitting_profile_when_one_is_full() {
    let yaml = CAPABLE.replace(
        "full: { command: \"true\", capabilities: [rust, db] }",
        "full: { command: \"true\", capabilities: [rust, db], maxParallel: 1 }",
    );
    let p = with("capability", &yaml);
    let s = slots(&p, &[Pending; 5]);
    let got = steps(&p, &s, 8, 0);
    // D1 fits `full` only, which R1 took: it waits.
    assert_eq!(
        got,
        vec![
            Step::Start {
                task: 0,
                profile: 0
            },
            Step::Start {
                task: 2,
                profile: 1
            },
            Step::Start {
                task: 3,
                profile: 2
            },
            Step::Start {
                task: 4,
                profile: 2
            },
        ]
    );
}

#[test]
fn round_robin_takes_the_fitting_profiles_in_turn() {
    let p = with("round-robin", CAPABLE);
    let s = slots(&p, &[Pending, Done, Pending, Done, Done]);
    let got = steps(&p, &s, 8, 0);
    assert_eq!(
        got,
        vec![
            Step::Start {
                task: 0,
                profile: 0
            },
            Step::Start {
                task: 2,
                profile: 1
            },
        ]
    );
    // The turn carries over between calls.
    let mut gate = Gate::open(&p, 8, 0);
    gate.turn = 1;
    let got = next_steps(&p, &s, &gate);
    assert_eq!(
        got,
        vec![
            Step::Start {
                task: 0,
                profile: 1
            },
            Step::Start {
                task: 2,
                profile: 0
            },
        ]
    );
}

#[test]
fn max_parallel_per_profile_counts_active_workers() {
    let p = plan(
        r#"
agents: { a: { command: "true", maxParallel: 2 }, b: { command: "true" } }
groups: [ { id: G } ]
tasks:
  - { taskId: A1, title: a, group: G, agent: { type: a } }
  - { taskId: A2, title: a, group: G, agent: { type: a } }
  - { taskId: A3, title: a, group: G, agent: { type: a } }
  - { taskId: B1, title: b, group: G, agent: { type: b } }
"#,
    );
    let s = slots(&p, &[Pending; 4]);
    assert_eq!(started(&steps(&p, &s, 8, 0)), vec![0, 1, 3]);
    let s = slots(&p, &[Running, Validating, Pending, Pending]);
    assert_eq!(started(&steps(&p, &s, 8, 0)), vec![3]);
    let s = slots(&p, &[Done, Running, Pending, Pending]);
    assert_eq!(started(&steps(&p, &s, 8, 0)), vec![2, 3]);
}

#[test]
fn held_profiles_and_spent_tokens_start_nothing() {
    let p = plan(
        r#"
agents: { a: { command: "true" }, b: { command: "true" } }
groups: [ { id: G } ]
tasks:
  - { taskId: A1, title: a, group: G, agent: { type: a } }
  - { taskId: B1, title: b, group: G, agent: { type: b } }
  - { taskId: A2, title: a, group: G, agent: { type: a } }
"#,
    );
    let s = slots(&p, &[Pending; 3]);
    let mut gate = Gate::open(&p, 8, 0);
    gate.held[0] = true;
    assert_eq!(started(&next_steps(&p, &s, &gate)), vec![1]);
    gate.held[0] = false;
    gate.tokens = 2;
    assert_eq!(started(&next_steps(&p, &s, &gate)), vec![0, 1]);
    gate.tokens = 0;
    assert_eq!(next_steps(&p, &s, &gate), vec![]);
}

#[test]
fn respects_parallel_cap_counting_active_workers() {
    let p = with("priority", PLAN);
    let s = slots(&p, &[Running, Pending, Pending, Pending]);
    assert_eq!(steps(&p, &s, 1, 0), vec![]);
    assert_eq!(started(&steps(&p, &s, 2, 0)), vec![1]);
}

#[test]
fn dependency_and_group_gating() {
    let p = plan(PLAN);
    // C waits for A; D waits for all of G1.
    let s = slots(&p, &[Done, Done, Pending, Pending]);
    assert_eq!(started(&steps(&p, &s, 8, 0)), vec![2]);
    let s = slots(&p, &[Done, Done, Done, Pending]);
    assert_eq!(started(&steps(&p, &s, 8, 0)), vec![3]);
}

#[test]
fn failed_dependency_skips_dependents_and_later_groups() {
    let p = plan(PLAN);
    let s = slots(&p, &[Failed, Done, Pending, Pending]);
    let steps = steps(&p, &s, 8, 0);
    assert!(steps.contains(&Step::Skip {
        task: 2,
        because: 0
    }));
    assert!(steps.contains(&Step::Skip {
        task: 3,
        because: 0
    }));
}

#[test]
fn backoff_delays_and_unselected_never_start() {
    let p = plan(PLAN);
    let mut s = slots(&p, &[Pending, Pending, Pending, Pending]);
    s[1].not_before_ms = 500;
    s[0].selected = false;
    assert_eq!(steps(&p, &s, 8, 100), vec![]);
    assert_eq!(next_wakeup(s.iter().copied(), 100), Some(500));
    assert_eq!(started(&steps(&p, &s, 8, 500)), vec![1]);
}

#[test]
fn missing_prerequisites_follow_groups_and_deps() {
    let p = plan(PLAN);
    let s = slots(&p, &[Pending, Done, Pending, Pending]);
    assert_eq!(missing_prerequisites(&p, &s, 3), vec![0, 2]);
    assert_eq!(missing_prerequisites(&p, &s, 2), vec![0]);
}

#[test]
fn a_pools_tasks_start_only_on_its_idle_workers_in_strategy_order() {
    let p = with(
        "priority",
        &PLAN.replace(
            "groups:\n  - id: G1\n",
            "groups:\n  - id: G1\n    pool: { size: 2, profile: a }\n",
        ),
    );
    assert_eq!(p.pool_of, vec![Some(0), Some(0), Some(0), None]);
    let s = slots(&p, &[Pending, Pending, Pending, Pending]);
    let mut gate = Gate::open(&p, 8, 0);
    // Both workers idle: B (CRITICAL) then A, as the strategy orders them.
    assert_eq!(started(&next_steps(&p, &s, &gate)), vec![1, 0]);
    // One idle worker: only the first in that order.
    gate.pool_idle = vec![1];
    assert_eq!(started(&next_steps(&p, &s, &gate)), vec![1]);
    // None idle: the pool's tasks wait; D (no pool, its group waits for G1) too.
    gate.pool_idle = vec![0];
    assert_eq!(started(&next_steps(&p, &s, &gate)), Vec::<usize>::new());
    // The queue is the strategy's order of what is ready, whatever is idle.
    assert_eq!(ready_queue(&p, &s, 0), vec![1, 0]);
}

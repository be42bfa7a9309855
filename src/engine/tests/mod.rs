//! The engine's behaviour through the fixture: fake tmux, git, processes and
//! clock, so each test runs in milliseconds and pins its races.

mod agent_hooks;
mod attempts;
mod by_hand;
mod claims;
mod fuzz_journal;
mod fuzz_run;
mod fuzz_wire;
mod halt;
mod hellos;
mod lights;
mod limits;
mod merge_check;
mod pool;
mod recovery;
mod restarts;
mod screens;

use super::fixture::{Call, Fixture};
use super::snapshot::TaskState;

/// Two groups: T1 and T2 in A, T3 (needs T1 and T2) in B. Beats every
/// second: LATE at 2 s, MISSING at 5 s, DEAD at 15 s. One restart, then one
/// fallback. `dev` answers a proceed prompt and waits on a question.
pub const PLAN: &str = r#"
settings:
  maxParallel: 4
  restart:
    maxRestarts: 1
    backoffMs: 1000
    maxBackoffMs: 4000
  maxFallbacks: 1
  halt:
    graceMs: 500
  stallAfterMs: 30000
agents:
  dev:
    command: "true"
    fallbacks: [careful]
    promptRules:
      - match: "Do you want to proceed?"
        send: "1"
      - match: "Which database?"
  careful:
    command: "true"
groups:
  - id: A
  - id: B
    after: [A]
tasks:
  - taskId: T1
    title: one
    group: A
    agent: { type: dev }
  - taskId: T2
    title: two
    group: A
    agent: { type: dev }
  - taskId: T3
    title: three
    group: B
    agent: { type: dev }
    dependencies: [T1, T2]
"#;

/// Calls of one kind, for one task.
fn merges(fx: &Fixture) -> Vec<String> {
    fx.os
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Merge { task } => Some(task),
            _ => None,
        })
        .collect()
}

pub(super) fn spawns(fx: &Fixture, task: &str) -> Vec<(u32, String)> {
    fx.os
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Spawn {
                task: t,
                attempt,
                profile,
            } if t == task => Some((attempt, profile)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_task_goes_from_assigned_to_done_and_its_dependents_start() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2", "T3"]);
    assert_eq!(fx.state("T1"), TaskState::Running);
    assert_eq!(fx.state("T3"), TaskState::Pending);
    fx.run_through("T1");
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert_eq!(
        fx.states("T1"),
        [
            TaskState::Assigned,
            TaskState::Running,
            TaskState::Validating,
            TaskState::Merging,
            TaskState::Done
        ]
    );
    assert_eq!(fx.state("T3"), TaskState::Pending, "T2 is not merged yet");
    fx.run_through("T2");
    assert_eq!(fx.state("T3"), TaskState::Running);
    fx.run_through("T3");
    assert_eq!(merges(&fx), ["T1", "T2", "T3"]);
    assert_eq!(fx.core.phase(), super::snapshot::RunPhase::Finished);
    // EXECUTION_LOG.md is written as the run finishes, not only on quit.
    assert!(fx.os.calls().contains(&Call::WriteExecutionLog));
}

//! The scheduler: a pure function from plan and task states to what to do next.
//!
//! No processes, no clock reads: the engine passes `now_ms` in, so the rules
//! are unit-tested with plain data.

use super::snapshot::TaskState;
use crate::plan::ValidPlan;

/// What the scheduler sees of one task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    pub state: TaskState,
    /// Part of this run's selection (a `--batch-group`, a spawned task…).
    pub selected: bool,
    /// A restart's backoff: not before this time.
    pub not_before_ms: u64,
    /// Started by a person despite unmet dependencies.
    pub forced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Start a worker for this task.
    Start(usize),
    /// The task can never run: `because` is the first unmet dependency.
    Skip { task: usize, because: usize },
}

/// Whether every task of group `g` is done.
fn group_done(plan: &ValidPlan, tasks: &[Slot], g: usize) -> bool {
    plan.tasks_in_group(g)
        .all(|t| tasks[t].state == TaskState::Done)
}

/// A blocked dependency: one that ended without being merged.
fn is_dead_end(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Failed | TaskState::Skipped | TaskState::Conflict | TaskState::Cancelled
    )
}

/// Tasks whose dependencies and `after` groups are all done.
pub fn deps_met(plan: &ValidPlan, tasks: &[Slot], t: usize) -> bool {
    plan.deps[t]
        .iter()
        .all(|&d| tasks[d].state == TaskState::Done)
        && plan.group_after[plan.group_of[t]]
            .iter()
            .all(|&g| group_done(plan, tasks, g))
}

/// What `t` waits for directly: its dependencies, then every task of the
/// groups its group is `after`.
pub fn prerequisites(plan: &ValidPlan, t: usize) -> impl Iterator<Item = usize> + '_ {
    plan.deps[t].iter().copied().chain(
        plan.group_after[plan.group_of[t]]
            .iter()
            .flat_map(|&g| plan.tasks_in_group(g)),
    )
}

/// The unfinished tasks `t` waits for: its dependencies and every task of the
/// groups its group is `after`, transitively through unfinished ones.
pub fn missing_prerequisites(plan: &ValidPlan, tasks: &[Slot], t: usize) -> Vec<usize> {
    let mut missing = Vec::new();
    let mut todo = vec![t];
    let mut seen = vec![false; tasks.len()];
    while let Some(x) = todo.pop() {
        for d in prerequisites(plan, x) {
            if !seen[d] && tasks[d].state != TaskState::Done {
                seen[d] = true;
                missing.push(d);
                todo.push(d);
            }
        }
    }
    missing.sort_by_key(|&d| plan.task_order.iter().position(|&o| o == d));
    missing
}

/// The next steps: skips for selected tasks that can never run, then starts
/// for ready tasks, highest priority first, then file order, while slots last.
pub fn next_steps(plan: &ValidPlan, tasks: &[Slot], max_parallel: usize, now_ms: u64) -> Vec<Step> {
    let mut steps = Vec::new();
    for (t, slot) in tasks.iter().enumerate() {
        if !slot.selected || slot.forced || slot.state != TaskState::Pending {
            continue;
        }
        let blocker = prerequisites(plan, t).find(|&d| is_dead_end(tasks[d].state));
        if let Some(because) = blocker {
            steps.push(Step::Skip { task: t, because });
        }
    }
    let active = tasks.iter().filter(|s| s.state.is_active()).count();
    let free = max_parallel.saturating_sub(active);
    let skipped: Vec<usize> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Skip { task, .. } => Some(*task),
            Step::Start(_) => None,
        })
        .collect();
    let mut ready: Vec<usize> = (0..tasks.len())
        .filter(|&t| {
            let s = tasks[t];
            s.selected
                && s.state == TaskState::Pending
                && s.not_before_ms <= now_ms
                && !skipped.contains(&t)
                && (s.forced || deps_met(plan, tasks, t))
        })
        .collect();
    ready.sort_by_key(|&t| (plan.plan.tasks[t].priority, t));
    steps.extend(ready.into_iter().take(free).map(Step::Start));
    steps
}

/// The earliest time a backoff ends among waiting tasks, to arm a timer.
pub fn next_wakeup(tasks: impl IntoIterator<Item = Slot>, now_ms: u64) -> Option<u64> {
    tasks
        .into_iter()
        .filter(|s| s.selected && s.state == TaskState::Pending && s.not_before_ms > now_ms)
        .map(|s| s.not_before_ms)
        .min()
}

#[cfg(test)]
mod tests {
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

    fn slots(states: &[TaskState]) -> Vec<Slot> {
        states
            .iter()
            .map(|&state| Slot {
                state,
                selected: true,
                not_before_ms: 0,
                forced: false,
            })
            .collect()
    }

    use TaskState::*;

    #[test]
    fn priority_then_file_order_within_slots() {
        let p = plan(PLAN);
        let s = slots(&[Pending, Pending, Pending, Pending]);
        assert_eq!(
            next_steps(&p, &s, 8, 0),
            vec![Step::Start(1), Step::Start(0)]
        );
        assert_eq!(next_steps(&p, &s, 1, 0), vec![Step::Start(1)]);
    }

    #[test]
    fn respects_parallel_cap_counting_active_workers() {
        let p = plan(PLAN);
        let s = slots(&[Running, Pending, Pending, Pending]);
        assert_eq!(next_steps(&p, &s, 1, 0), vec![]);
        assert_eq!(next_steps(&p, &s, 2, 0), vec![Step::Start(1)]);
    }

    #[test]
    fn dependency_and_group_gating() {
        let p = plan(PLAN);
        // C waits for A; D waits for all of G1.
        let s = slots(&[Done, Done, Pending, Pending]);
        assert_eq!(next_steps(&p, &s, 8, 0), vec![Step::Start(2)]);
        let s = slots(&[Done, Done, Done, Pending]);
        assert_eq!(next_steps(&p, &s, 8, 0), vec![Step::Start(3)]);
    }

    #[test]
    fn failed_dependency_skips_dependents_and_later_groups() {
        let p = plan(PLAN);
        let s = slots(&[Failed, Done, Pending, Pending]);
        let steps = next_steps(&p, &s, 8, 0);
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
        let mut s = slots(&[Pending, Pending, Pending, Pending]);
        s[1].not_before_ms = 500;
        s[0].selected = false;
        assert_eq!(next_steps(&p, &s, 8, 100), vec![]);
        assert_eq!(next_wakeup(s.iter().copied(), 100), Some(500));
        assert_eq!(next_steps(&p, &s, 8, 500), vec![Step::Start(1)]);
    }

    #[test]
    fn missing_prerequisites_follow_groups_and_deps() {
        let p = plan(PLAN);
        let s = slots(&[Pending, Done, Pending, Pending]);
        assert_eq!(missing_prerequisites(&p, &s, 3), vec![0, 2]);
        assert_eq!(missing_prerequisites(&p, &s, 2), vec![0]);
    }
}

//! The scheduler: a pure function from plan and task states to what to do next.
//!
//! No processes, no clock reads: the engine passes `now_ms` in, so the rules
//! are unit-tested with plain data.

use super::snapshot::TaskState;
use crate::plan::{Assignment, ValidPlan};

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
    /// The profile it is on (an index into `ValidPlan::profiles`); None for
    /// a task whose profile is picked when it starts.
    pub profile: Option<usize>,
}

/// What limits starts beside the plan: the engine's view of rates and money.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub max_parallel: usize,
    pub now_ms: u64,
    /// How many starts the spawn rate allows now.
    pub tokens: usize,
    /// Per profile: it starts nothing now (backing off after a rate limit,
    /// or its budget or the run's is spent).
    pub held: Vec<bool>,
    /// Round-robin: the profile whose turn it is.
    pub turn: usize,
    /// Per pool (`ValidPlan::pools`): its workers free to take a task now.
    /// A pool's tasks start only on those.
    pub pool_idle: Vec<usize>,
}

impl Gate {
    /// No limits but `max_parallel`: for tests and simple callers.
    pub fn open(plan: &ValidPlan, max_parallel: usize, now_ms: u64) -> Gate {
        Gate {
            max_parallel,
            now_ms,
            tokens: usize::MAX,
            held: vec![false; plan.profiles.len()],
            turn: 0,
            pool_idle: plan.pools.iter().map(|p| p.size).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Start a worker for this task on this profile.
    Start { task: usize, profile: usize },
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
        TaskState::Failed
            | TaskState::Skipped
            | TaskState::Conflict
            | TaskState::MergeBlocked
            | TaskState::Cancelled
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

/// The order ready tasks are taken in, by `settings.assignment`.
fn sort_ready(plan: &ValidPlan, ready: &mut [usize]) {
    let tasks = &plan.plan.tasks;
    match plan.plan.settings.assignment {
        Assignment::Priority => ready.sort_by_key(|&t| (tasks[t].priority, t)),
        Assignment::CriticalPath => ready.sort_by(|&a, &b| {
            let (ca, cb) = (plan.chain_hours[a], plan.chain_hours[b]);
            cb.total_cmp(&ca).then(a.cmp(&b))
        }),
        Assignment::Fifo | Assignment::Capability | Assignment::RoundRobin => ready.sort(),
    }
}

/// Selected tasks ready to start now (dependencies met, backoff over), in
/// the order of `settings.assignment`: the queue a pool's workers take
/// tasks from, and the order starts are tried in.
pub fn ready_queue(plan: &ValidPlan, tasks: &[Slot], now_ms: u64) -> Vec<usize> {
    let mut ready: Vec<usize> = (0..tasks.len())
        .filter(|&t| {
            let s = tasks[t];
            s.selected
                && s.state == TaskState::Pending
                && s.not_before_ms <= now_ms
                && (s.forced || deps_met(plan, tasks, t))
        })
        .collect();
    sort_ready(plan, &mut ready);
    ready
}

/// The next steps: skips for selected tasks that can never run, then starts
/// for ready tasks in the order of `settings.assignment`, each on a profile
/// that may start now, while global slots, per-profile slots
/// (`agents.<name>.maxParallel`) and spawn-rate tokens last.
pub fn next_steps(plan: &ValidPlan, tasks: &[Slot], gate: &Gate) -> Vec<Step> {
    let now_ms = gate.now_ms;
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
    let mut free = gate.max_parallel.saturating_sub(active).min(gate.tokens);
    let mut busy = vec![0usize; plan.profiles.len()];
    for s in tasks.iter().filter(|s| s.state.is_active()) {
        if let Some(b) = s.profile.and_then(|p| busy.get_mut(p)) {
            *b += 1;
        }
    }
    let skipped: Vec<usize> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Skip { task, .. } => Some(*task),
            Step::Start { .. } => None,
        })
        .collect();
    let ready: Vec<usize> = ready_queue(plan, tasks, now_ms)
        .into_iter()
        .filter(|t| !skipped.contains(t))
        .collect();
    let mut turn = gate.turn;
    let mut pool_idle = gate.pool_idle.clone();
    let agents: Vec<_> = plan.plan.agents.values().collect();
    for t in ready {
        if free == 0 {
            break;
        }
        // A pool's task waits for one of its idle workers.
        let pool = plan.pool_of.get(t).copied().flatten();
        if let Some(p) = pool
            && pool_idle.get(p).is_none_or(|&n| n == 0)
        {
            continue;
        }
        let may_start = |p: usize| {
            !gate.held.get(p).copied().unwrap_or(false)
                && agents[p].max_parallel.is_none_or(|cap| busy[p] < cap)
        };
        let profile = match tasks[t].profile {
            Some(p) => Some(p).filter(|&p| may_start(p)),
            None if plan.plan.settings.assignment == Assignment::RoundRobin => {
                let fits = &plan.fits[t];
                let n = agents.len().max(1);
                (0..n)
                    .map(|k| (turn + k) % n)
                    .find(|p| fits.contains(p) && may_start(*p))
            }
            None => plan.fits[t].iter().copied().find(|&p| may_start(p)),
        };
        let Some(profile) = profile else { continue };
        if tasks[t].profile.is_none() {
            turn = profile + 1;
        }
        busy[profile] += 1;
        free -= 1;
        if let Some(n) = pool.and_then(|p| pool_idle.get_mut(p)) {
            *n -= 1;
        }
        steps.push(Step::Start { task: t, profile });
    }
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
mod tests;

//! Semantic checks of a parsed plan. Every problem is reported, not just the first.
//!
//! The checks run section by section (plan-wide, hosts, groups, agent profiles,
//! tasks, sizes, dependencies), in that order: the order of the diagnostics
//! follows it, errors first.

mod agents;
mod dependencies;
mod groups;
mod hosts;
mod pools;
mod sizes;
mod tasks;

use super::checks::settings_problems;
use super::diagnostic::Diagnostic;
use super::load::Locator;
use super::schema::{Plan, Task};
use std::collections::HashMap;

// Kept here too: callers named them `validate::…` before they moved.
pub use super::checks::{id_problem, program_of};
pub use pools::{MAX_POOL_SIZE, PoolSpec, pool_settings};

/// A plan that passed every check, with its graphs resolved to indices.
#[derive(Debug, Clone)]
pub struct ValidPlan {
    pub plan: Plan,
    /// Task indices in dependency order (file order where free).
    pub task_order: Vec<usize>,
    /// Group indices in `after` order.
    pub group_order: Vec<usize>,
    /// `deps[i]`: indices of the tasks task `i` depends on.
    pub deps: Vec<Vec<usize>>,
    /// `group_of[i]`: index of task `i`'s group.
    pub group_of: Vec<usize>,
    /// `group_after[g]`: indices of the groups group `g` waits for.
    pub group_after: Vec<Vec<usize>>,
    /// Agent profile names, in `agents` order: what profile indices mean.
    pub profiles: Vec<String>,
    /// `fits[i]`: the profiles task `i` may start on: the one it names, or
    /// those whose `capabilities` cover its `needs`.
    pub fits: Vec<Vec<usize>>,
    /// `chain_hours[i]`: task `i`'s effort plus the longest chain of effort
    /// of the tasks that depend on it, directly or not (critical path).
    pub chain_hours: Vec<f64>,
    /// The worker pools (`settings.pool`, then groups' own).
    pub pools: Vec<PoolSpec>,
    /// `pool_of[i]`: the pool that takes task `i`, if any.
    pub pool_of: Vec<Option<usize>>,
    task_index: HashMap<String, usize>,
}

impl ValidPlan {
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.task_index.get(id).map(|&i| &self.plan.tasks[i])
    }
    pub fn task_idx(&self, id: &str) -> Option<usize> {
        self.task_index.get(id).copied()
    }
    pub fn profile_idx(&self, name: &str) -> Option<usize> {
        self.profiles.iter().position(|p| p == name)
    }
    pub fn group_idx(&self, id: &str) -> Option<usize> {
        self.plan.groups.iter().position(|g| g.id == id)
    }
    /// The profile task `t`'s attempts start on: its pool's, else the one
    /// it names (empty when it names none: one is picked when it starts).
    pub fn first_profile(&self, t: usize) -> &str {
        match self.pool_of[t] {
            Some(p) => &self.pools[p].profile,
            None => &self.plan.tasks[t].agent.kind,
        }
    }
    /// Tasks of group `g`, in dependency order.
    pub fn tasks_in_group(&self, g: usize) -> impl Iterator<Item = usize> + '_ {
        self.task_order
            .iter()
            .copied()
            .filter(move |&t| self.group_of[t] == g)
    }
}

/// Check `plan` (parsed from `file`, whose text is `text`). Ok carries the
/// warnings; Err carries errors and warnings, errors first.
pub fn validate(
    file: &str,
    text: &str,
    mut plan: Plan,
) -> Result<(ValidPlan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut report = Report {
        file,
        loc: Locator::new(text),
        diags: Vec::new(),
    };
    agents::apply_presets(&mut plan.agents, &mut report);
    plan_wide(&plan, &mut report);
    hosts::check(&plan, &mut report);
    let groups::Groups {
        index: group_index,
        after: group_after,
        order: group_order,
    } = groups::check(&plan.groups, &mut report);
    agents::check(&plan.agents, &mut report);
    pools::check(&plan, &mut report);
    let task_index = tasks::check(&plan, &group_index, &mut report);
    tasks::shared_outputs(&plan.tasks, &mut report);
    sizes::check(&plan, &mut report);
    let deps = dependencies::resolve(&plan.tasks, &task_index, &mut report);
    let task_order = dependencies::order(&plan.tasks, &deps, &mut report);
    let group_of = dependencies::group_of(&plan.tasks, &group_index);
    dependencies::later_groups(&plan.tasks, &deps, &group_of, &group_after, &mut report);

    let diags = report.finish()?;
    let profiles: Vec<String> = plan.agents.keys().cloned().collect();
    let (pools, pool_of) = pools::resolve(&plan);
    let fits = plan
        .tasks
        .iter()
        .map(|t| {
            match pool_settings(&plan, t)
                .map(|p| p.profile.as_str())
                .or(t.agent_type())
            {
                Some(kind) => profiles
                    .iter()
                    .position(|p| p == kind)
                    .into_iter()
                    .collect(),
                None => plan
                    .agents
                    .values()
                    .enumerate()
                    .filter(|(_, a)| t.needs.iter().all(|n| a.capabilities.contains(n)))
                    .map(|(i, _)| i)
                    .collect(),
            }
        })
        .collect();
    let chain_hours = chain_hours(&plan, &deps, &task_order);
    let valid = ValidPlan {
        plan,
        task_order,
        group_order,
        deps,
        group_of,
        group_after,
        profiles,
        fits,
        chain_hours,
        pools,
        pool_of,
        task_index,
    };
    Ok((valid, diags))
}

/// Each task's effort plus the longest chain of effort hanging on it
/// through `dependencies` (a task without `effortHours` counts 0).
fn chain_hours(plan: &Plan, deps: &[Vec<usize>], order: &[usize]) -> Vec<f64> {
    let mut chain: Vec<f64> = plan
        .tasks
        .iter()
        .map(|t| {
            t.effort_hours
                .filter(|h| h.is_finite())
                .unwrap_or(0.0)
                .max(0.0)
        })
        .collect();
    let own = chain.clone();
    // Dependents come later in dependency order: walk it backwards.
    let mut longest_after = vec![0.0f64; chain.len()];
    for &t in order.iter().rev() {
        chain[t] = own[t] + longest_after[t];
        for &d in &deps[t] {
            longest_after[d] = longest_after[d].max(chain[t]);
        }
    }
    chain
}

/// What concerns the plan as a whole: its version, having tasks at all, settings.
fn plan_wide(plan: &Plan, report: &mut Report) {
    if plan.version != 1 {
        report.error(
            format!(
                "unsupported plan version {} (this switchboard reads version 1)",
                plan.version
            ),
            report.find("version", &plan.version.to_string()),
        );
    }
    if plan.tasks.is_empty() {
        report.error("the plan has no tasks".into(), None);
    }
    for p in settings_problems(&plan.settings) {
        report.error(p.message, report.find(p.key, &p.value));
    }
}

/// A line and column in the plan's text, 1-based.
type Pos = Option<(usize, usize)>;

/// The problems found so far, and where in the plan's text to point at them.
struct Report<'a> {
    file: &'a str,
    loc: Locator<'a>,
    diags: Vec<Diagnostic>,
}

impl Report<'_> {
    fn error(&mut self, message: String, pos: Pos) {
        self.diags
            .push(Diagnostic::error(self.file, message).at_opt(pos));
    }

    fn warning(&mut self, message: String, pos: Pos) {
        self.diags
            .push(Diagnostic::warning(self.file, message).at_opt(pos));
    }

    /// The first `key: value` in the text.
    fn find(&self, key: &str, value: &str) -> Pos {
        self.loc.find(key, value, 0)
    }

    /// The `n`th task declared with this id (0-based: duplicates point at the copy).
    fn task_at(&self, id: &str, n: usize) -> Pos {
        self.loc.find("taskId", id, n)
    }

    /// The `n`th group declared with this id.
    fn group_at(&self, id: &str, n: usize) -> Pos {
        self.loc.find("id", id, n)
    }

    /// The key a problem is in, within the map at `pos`; else `pos` itself.
    fn key_at(&self, pos: Pos, key: &str) -> Pos {
        pos.and_then(|p| self.loc.key_in_block(p, key)).or(pos)
    }

    /// Every diagnostic, errors first: Ok when there are only warnings.
    fn finish(mut self) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
        self.diags.sort_by_key(|d| d.severity);
        if self.diags.iter().any(Diagnostic::is_error) {
            Err(self.diags)
        } else {
            Ok(self.diags)
        }
    }
}

/// Control characters (escape sequences, bells, newlines) in a one-line text.
fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

#[cfg(test)]
mod limits_tests {
    /// Every error `--validate-only` prints for `yaml`, as printed.
    fn errors(yaml: &str) -> Vec<String> {
        match crate::plan::check("t.yaml", yaml.as_bytes()) {
            Ok(_) => Vec::new(),
            Err(diags) => diags
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.to_string())
                .collect(),
        }
    }

    const TASKS: &str = "groups: [ { id: G } ]\ntasks:\n  - { taskId: T1, title: t, group: G, agent: { type: a } }\n";

    #[test]
    fn bad_limits_name_their_key_and_the_accepted_form() {
        let yaml = format!(
            "settings:\n  spawnRate: \"10 per minute\"\n  budget: {{ maxUsd: -1, warnAt: 1.5 }}\n\
             agents:\n  a: {{ command: \"true\", maxParallel: 0, budget: {{ maxUsd: 0 }} }}\n{TASKS}"
        );
        let e = errors(&yaml);
        let has = |s: &str| e.iter().any(|m| m.contains(s));
        assert!(
            has(
                "t.yaml:2:3: settings.spawnRate '10 per minute' is not a rate: write N/s, N/min or N/h"
            ),
            "{e:#?}"
        );
        assert!(
            has("settings.budget.maxUsd must be a number of dollars above 0, not -1"),
            "{e:#?}"
        );
        assert!(has("settings.budget.warnAt is a share of maxUsd"), "{e:#?}");
        assert!(
            has("agent profile 'a': maxParallel must be at least 1"),
            "{e:#?}"
        );
        assert!(has("agent profile 'a': budget.maxUsd must be"), "{e:#?}");
        assert_eq!(e.len(), 5, "{e:#?}");
    }

    #[test]
    fn an_unknown_strategy_says_the_likely_one() {
        let e = errors(&format!(
            "settings: {{ assignment: critcal-path }}\nagents: {{ a: {{ command: \"true\" }} }}\n{TASKS}"
        ));
        assert!(
            e.iter().any(|m| m.contains("did you mean `critical-path`")),
            "{e:#?}"
        );
    }

    #[test]
    fn agent_type_may_be_left_out_only_when_a_strategy_picks_profiles() {
        let plan = |assignment: &str, needs: &str| {
            format!(
                "settings: {{ assignment: {assignment} }}\n\
                 agents: {{ a: {{ command: \"true\", capabilities: [rust] }} }}\n\
                 groups: [ {{ id: G }} ]\n\
                 tasks:\n  - {{ taskId: T1, title: t, group: G, needs: [{needs}] }}\n"
            )
        };
        let e = errors(&plan("fifo", "rust"));
        assert!(
            e.len() == 1
                && e[0].contains("task T1: agent.type is missing")
                && e[0].contains("`settings.assignment: capability` (or `round-robin`)"),
            "{e:#?}"
        );
        assert_eq!(errors(&plan("capability", "rust")), Vec::<String>::new());
        assert_eq!(errors(&plan("round-robin", "rust")), Vec::<String>::new());
        let e = errors(&plan("capability", "rust, db"));
        assert!(
            e.len() == 1
                && e[0].contains("no agent profile has every capability it needs (rust, db)"),
            "{e:#?}"
        );
    }
}

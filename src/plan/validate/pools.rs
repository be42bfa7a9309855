//! Worker pools (`settings.pool`, `groups[].pool`): sizes and profiles
//! switchboard can run, and which pool takes which task.

use super::{Pos, Report};
use crate::plan::checks::did_you_mean;
use crate::plan::schema::{Plan, PoolSettings, Task};

/// More workers than this in one pool is a typo, not a plan: each is a tmux
/// session and a worktree.
pub const MAX_POOL_SIZE: usize = 64;

/// One pool of the plan, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    /// The group whose own pool it is; None for `settings.pool`.
    pub group: Option<String>,
    pub size: usize,
    pub profile: String,
}

impl PoolSpec {
    /// What its sessions and worktrees are named after: `pool` for the
    /// plan's, `pool-<G>` for group G's (group ids are safe in both).
    pub fn slug(&self) -> String {
        self.slug_of(1)
    }

    /// The same for engine `engine` of several on one repository: the
    /// first engine's names as above, engine 2's `pool--e2`,
    /// `pool--e2-<G>` (no group id starts with `-`, so none is mistaken
    /// for another's).
    pub fn slug_of(&self, engine: u32) -> String {
        let mine = match engine {
            0 | 1 => String::new(),
            n => format!("-e{n}"),
        };
        match &self.group {
            Some(g) if mine.is_empty() => format!("pool-{g}"),
            Some(g) => format!("pool-{mine}-{g}"),
            None if mine.is_empty() => "pool".into(),
            None => format!("pool-{mine}"),
        }
    }

    /// How messages and views name it.
    pub fn label(&self) -> String {
        match &self.group {
            Some(g) => format!("pool {g}"),
            None => "pool".into(),
        }
    }
}

/// The pool settings that take `task`: its group's own, else the plan's.
pub fn pool_settings<'p>(plan: &'p Plan, task: &Task) -> Option<&'p PoolSettings> {
    plan.groups
        .iter()
        .find(|g| g.id == task.group)
        .and_then(|g| g.pool.as_ref())
        .or(plan.settings.pool.as_ref())
}

/// The plan's pools (the plan's first, then groups' in file order) and,
/// per task, the index of the pool that takes it.
pub(super) fn resolve(plan: &Plan) -> (Vec<PoolSpec>, Vec<Option<usize>>) {
    let mut pools = Vec::new();
    let spec = |group: Option<&str>, p: &PoolSettings| PoolSpec {
        group: group.map(str::to_string),
        size: p.size,
        profile: p.profile.clone(),
    };
    if let Some(p) = &plan.settings.pool {
        pools.push(spec(None, p));
    }
    for g in &plan.groups {
        if let Some(p) = &g.pool
            && !pools
                .iter()
                .any(|s| s.group.as_deref() == Some(g.id.as_str()))
        {
            pools.push(spec(Some(&g.id), p));
        }
    }
    let of = plan
        .tasks
        .iter()
        .map(|t| {
            let own = plan
                .groups
                .iter()
                .find(|g| g.id == t.group)
                .and_then(|g| g.pool.as_ref());
            match own {
                Some(_) => pools
                    .iter()
                    .position(|s| s.group.as_deref() == Some(t.group.as_str())),
                None => plan.settings.pool.as_ref().map(|_| 0),
            }
        })
        .collect();
    (pools, of)
}

/// Each pool's size and profile; the `maxParallel` that caps it.
pub(super) fn check(plan: &Plan, report: &mut Report) {
    if let Some(pool) = &plan.settings.pool {
        let at = report.key_at(report.find("settings", ""), "pool");
        one(plan, pool, "settings.pool", at, report);
    }
    for g in &plan.groups {
        if let Some(pool) = &g.pool {
            let at = report.key_at(report.group_at(&g.id, 0), "pool");
            one(plan, pool, &format!("group {}: pool", g.id), at, report);
        }
    }
}

fn one(plan: &Plan, pool: &PoolSettings, what: &str, at: Pos, report: &mut Report) {
    let size = pool.size;
    if size == 0 || size > MAX_POOL_SIZE {
        report.error(
            format!("{what}.size must be from 1 to {MAX_POOL_SIZE} workers (it is {size})"),
            report.key_at(at, "size"),
        );
    } else if size > plan.settings.max_parallel {
        report.warning(
            format!(
                "{what}.size is {size}, but settings.maxParallel lets only {} of its workers work at once",
                plan.settings.max_parallel
            ),
            report.key_at(at, "size"),
        );
    }
    if !plan.agents.contains_key(&pool.profile) {
        report.error(
            format!(
                "{what}.profile '{}' is not an agent profile{}",
                pool.profile,
                match did_you_mean(&pool.profile, plan.agents.keys()) {
                    hint if hint.is_empty() => " (not under `agents:`)".to_string(),
                    hint => hint,
                }
            ),
            report.key_at(at, "profile"),
        );
    }
}

#[cfg(test)]
mod tests {
    /// Every diagnostic `--validate-only` prints for `yaml`, as printed.
    fn diags(yaml: &str) -> Vec<String> {
        match crate::plan::check("t.yaml", yaml.as_bytes()) {
            Ok((_, warnings)) => warnings.iter().map(|d| d.to_string()).collect(),
            Err(diags) => diags.iter().map(|d| d.to_string()).collect(),
        }
    }

    const REST: &str = "agents:\n  claude: { command: \"true\" }\n\
                        groups:\n  - id: G\n  - id: H\n    pool: { size: 2, profile: claude }\n\
                        tasks:\n  - { taskId: T1, title: t, group: G, agent: { type: claude } }\n\
                        \x20 - { taskId: T2, title: t, group: H }\n";

    #[test]
    fn bad_sizes_and_profiles_say_where_they_are() {
        let yaml = format!(
            "settings:\n  maxParallel: 8\n  pool:\n    size: 0\n    profile: claud\n{REST}"
        );
        let d = diags(&yaml);
        assert!(
            d.contains(
                &"t.yaml:4:5: settings.pool.size must be from 1 to 64 workers (it is 0)"
                    .to_string()
            ),
            "{d:#?}"
        );
        assert!(
            d.iter().any(|m| m
                .starts_with("t.yaml:5:5: settings.pool.profile 'claud' is not an agent profile")
                && m.contains("did you mean 'claude'")),
            "{d:#?}"
        );
        let yaml = REST.replace("size: 2, profile: claude", "size: 65, profile: nobody");
        let d = diags(&format!("settings: {{ maxParallel: 8 }}\n{yaml}"));
        assert!(
            d.iter().any(|m| m.starts_with("t.yaml:7:")
                && m.contains("group H: pool.size must be from 1 to 64 workers (it is 65)")),
            "{d:#?}"
        );
        assert!(
            d.iter().any(|m| m.contains(
                "group H: pool.profile 'nobody' is not an agent profile (not under `agents:`)"
            )),
            "{d:#?}"
        );
    }

    #[test]
    fn a_pool_larger_than_max_parallel_is_a_warning() {
        let d = diags(&format!("settings:\n  maxParallel: 1\n{REST}"));
        assert!(
            d.iter().any(
                |m| m.contains("group H: pool.size is 2, but settings.maxParallel lets only 1")
            ),
            "{d:#?}"
        );
    }

    #[test]
    fn pool_tasks_may_leave_agent_type_out_and_start_on_the_pool_profile() {
        let yaml = format!("settings:\n  pool: {{ size: 3, profile: claude }}\n{REST}");
        let (plan, warnings) = crate::plan::check("t.yaml", yaml.as_bytes()).expect("valid");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(plan.pools.len(), 2);
        assert_eq!(plan.pools[0].slug(), "pool");
        assert_eq!(plan.pools[1].slug(), "pool-H");
        // A second engine on the repository has pools of its own.
        assert_eq!(plan.pools[0].slug_of(2), "pool--e2");
        assert_eq!(plan.pools[1].slug_of(3), "pool--e3-H");
        // T1 (group G) goes to the plan's pool, T2 to its group's own.
        assert_eq!(plan.pool_of, vec![Some(0), Some(1)]);
        assert_eq!(plan.first_profile(1), "claude");
        // Without a pool, T2 must name its profile.
        let bare = REST.replace("    pool: { size: 2, profile: claude }\n", "");
        let d = diags(&bare);
        assert!(
            d.iter()
                .any(|m| m.contains("task T2: agent.type is missing")),
            "{d:#?}"
        );
    }
}

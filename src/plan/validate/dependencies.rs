//! Task dependencies: known tasks, no cycles, none in a group that runs later.

use super::Report;
use crate::plan::checks::did_you_mean;
use crate::plan::graph;
use crate::plan::schema::Task;
use std::collections::{BTreeSet, HashMap};

/// `deps[i]`: the tasks task `i` depends on, each once; unknown ones are
/// reported and left out.
pub(super) fn resolve(
    tasks: &[Task],
    task_index: &HashMap<String, usize>,
    report: &mut Report,
) -> Vec<Vec<usize>> {
    let mut deps = vec![Vec::new(); tasks.len()];
    for (i, t) in tasks.iter().enumerate() {
        let mut listed = BTreeSet::new();
        for d in &t.dependencies {
            if !listed.insert(d) {
                continue;
            }
            match task_index.get(d) {
                Some(&j) => deps[i].push(j),
                None => report.error(
                    format!(
                        "task {}: unknown dependency '{d}'{}",
                        t.task_id,
                        did_you_mean(d, task_index.keys())
                    ),
                    report.key_at(report.task_at(&t.task_id, 0), "dependencies"),
                ),
            }
        }
    }
    deps
}

/// Task indices in dependency order; each cycle is reported.
pub(super) fn order(tasks: &[Task], deps: &[Vec<usize>], report: &mut Report) -> Vec<usize> {
    match graph::topo_order(deps) {
        Ok(order) => order,
        Err(cycles) => {
            for c in cycles {
                let path: Vec<&str> = c.iter().map(|&i| tasks[i].task_id.as_str()).collect();
                // A closed path of two entries is `[a, a]`: say it plainly.
                let what = match path.as_slice() {
                    [one, _] => format!("task {one} depends on itself"),
                    _ => "dependency cycle".into(),
                };
                report.error(
                    format!("{what}: {}", path.join(" -> ")),
                    report.task_at(path[0], 0),
                );
            }
            (0..tasks.len()).collect()
        }
    }
}

/// `group_of[i]`: the index of task `i`'s group; `usize::MAX` when unknown.
pub(super) fn group_of(tasks: &[Task], group_index: &HashMap<&str, usize>) -> Vec<usize> {
    tasks
        .iter()
        .map(|t| {
            group_index
                .get(t.group.as_str())
                .copied()
                .unwrap_or(usize::MAX)
        })
        .collect()
}

/// A dependency in a group that comes (transitively) after the task's own
/// group can never be met: that group waits for this one to finish.
pub(super) fn later_groups(
    tasks: &[Task],
    deps: &[Vec<usize>],
    group_of: &[usize],
    group_after: &[Vec<usize>],
    report: &mut Report,
) {
    for (i, t) in tasks.iter().enumerate() {
        for &j in &deps[i] {
            let (gi, gj) = (group_of[i], group_of[j]);
            if gi == usize::MAX || gj == usize::MAX || gi == gj {
                continue;
            }
            if graph::reachable(group_after, gj).contains(&gi) {
                report.error(
                    format!(
                        "task {} (group {}) depends on {} of the later group {}",
                        t.task_id, t.group, tasks[j].task_id, tasks[j].group
                    ),
                    report.task_at(&t.task_id, 0),
                );
            }
        }
    }
}

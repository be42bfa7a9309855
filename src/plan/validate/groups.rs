//! Groups: ids safe and unique, `after` naming known groups, without cycles.

use super::{Report, has_control};
use crate::plan::checks::id_problem;
use crate::plan::graph;
use crate::plan::schema::Group;
use std::collections::HashMap;

/// The groups resolved to indices, for the task checks and the scheduler.
pub(super) struct Groups<'p> {
    /// Index of each group id (the first, when an id is repeated).
    pub index: HashMap<&'p str, usize>,
    /// `after[g]`: the groups group `g` waits for.
    pub after: Vec<Vec<usize>>,
    /// Group indices in `after` order; file order when there is a cycle.
    pub order: Vec<usize>,
}

pub(super) fn check<'p>(groups: &'p [Group], report: &mut Report) -> Groups<'p> {
    let index = ids(groups, report);
    let after = after(groups, &index, report);
    let order = order(groups, &after, report);
    Groups {
        index,
        after,
        order,
    }
}

/// Each group's id and title; the index of the first group with each id.
fn ids<'p>(groups: &'p [Group], report: &mut Report) -> HashMap<&'p str, usize> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, g) in groups.iter().enumerate() {
        let n = seen.entry(&g.id).or_insert(0);
        if let Some(why) = id_problem(&g.id) {
            report.error(
                format!("group id '{}' {why}", g.id),
                report.group_at(&g.id, *n),
            );
        }
        if *n > 0 {
            report.error(
                format!("duplicate group id '{}'", g.id),
                report.group_at(&g.id, *n),
            );
        } else {
            index.insert(&g.id, i);
        }
        if has_control(&g.title) {
            report.error(
                format!("group {}: the title holds control characters", g.id),
                report.group_at(&g.id, *n),
            );
        }
        *n += 1;
    }
    index
}

/// `after` references resolved to indices; an unknown one is reported and left out.
fn after(groups: &[Group], index: &HashMap<&str, usize>, report: &mut Report) -> Vec<Vec<usize>> {
    let mut after = vec![Vec::new(); groups.len()];
    for (i, g) in groups.iter().enumerate() {
        for a in &g.after {
            match index.get(a.as_str()) {
                Some(&j) => after[i].push(j),
                None => report.error(
                    format!("group '{}' is after unknown group '{a}'", g.id),
                    report.group_at(&g.id, 0),
                ),
            }
        }
    }
    after
}

/// The order groups run in; each cycle in `after` is reported.
fn order(groups: &[Group], after: &[Vec<usize>], report: &mut Report) -> Vec<usize> {
    match graph::topo_order(after) {
        Ok(order) => order,
        Err(cycles) => {
            for c in cycles {
                let path: Vec<&str> = c.iter().map(|&i| groups[i].id.as_str()).collect();
                let what = match path.as_slice() {
                    [one, _] => format!("group {one} is after itself"),
                    _ => "group cycle in `after`".into(),
                };
                report.error(
                    format!("{what}: {}", path.join(" -> ")),
                    report.group_at(path[0], 0),
                );
            }
            (0..groups.len()).collect()
        }
    }
}

//! Conflict early warning (DESIGN §6): while tasks run, find the files their
//! commits would conflict on — against the integration head, and between two
//! running tasks — before either tries to merge.
//!
//! Every few seconds one `git for-each-ref` reads all the branch tips; only
//! pairs with a tip that moved get a `git merge-tree` (~10 ms each), so a
//! quiet fleet costs one git process per scan.

use crate::git::Repo;
use std::collections::{BTreeMap, BTreeSet};

/// How often the actor starts a scan when tasks are running.
pub const SCAN_EVERY_MS: u64 = 2_000;

/// The other side of a warning: the integration branch, or another task.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Other {
    Integration,
    Task(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub task: usize,
    pub other: Other,
    pub files: Vec<String>,
}

/// What a scan needs; owned, so it can run on the blocking pool.
#[derive(Debug)]
pub struct ScanRequest {
    pub integration: String,
    /// Running tasks and their branches.
    pub active: Vec<(usize, String)>,
    /// Branch tips at the previous scan.
    pub previous: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct ScanResult {
    pub heads: BTreeMap<String, String>,
    pub warnings: Vec<Warning>,
}

/// The actor's side: when to scan, and which warnings were already given.
#[derive(Default)]
pub struct Watch {
    pub heads: BTreeMap<String, String>,
    pub in_flight: bool,
    pub next_ms: u64,
    /// Something may have moved a branch since the last scan: a pane showed
    /// output, or the journal recorded an event. Idle workers cost no scan.
    pub stirred: bool,
    warned: BTreeSet<(usize, Other, Vec<String>)>,
}

impl Watch {
    /// The first scan is due at `now_ms`.
    pub fn starting_at(now_ms: u64) -> Watch {
        Watch {
            next_ms: now_ms,
            stirred: true,
            ..Default::default()
        }
    }

    /// Whether `w` is news: the same files between the same pair are told once.
    pub fn is_new(&mut self, w: &Warning) -> bool {
        self.warned
            .insert((w.task, w.other.clone(), w.files.clone()))
    }
}

/// The pairs worth a merge-tree: each branch whose tip moved (or is new)
/// against the integration head and every other active branch; every branch
/// against the integration head when that moved. Pure, for unit tests.
pub fn pairs_to_check(
    previous: &BTreeMap<String, String>,
    heads: &BTreeMap<String, String>,
    integration: &str,
    active: &[(usize, String)],
) -> Vec<(usize, Other)> {
    let moved =
        |branch: &str| heads.get(branch).is_some() && heads.get(branch) != previous.get(branch);
    let integration_moved = moved(integration);
    let mut pairs = BTreeSet::new();
    for (i, (t, branch)) in active.iter().enumerate() {
        if !heads.contains_key(branch) {
            continue;
        }
        let this_moved = moved(branch);
        if this_moved || integration_moved {
            pairs.insert((*t, Other::Integration));
        }
        for (u, other) in &active[i + 1..] {
            if heads.contains_key(other) && (this_moved || moved(other)) {
                pairs.insert((*t, Other::Task(*u)));
            }
        }
    }
    pairs.into_iter().collect()
}

/// Read the tips, then merge-tree the pairs that need it. A branch with no
/// commit of its own yet (its tip is in the integration branch) is skipped.
pub fn scan(repo: &Repo, req: ScanRequest) -> ScanResult {
    let mut names: Vec<&str> = req.active.iter().map(|(_, b)| b.as_str()).collect();
    names.push(&req.integration);
    let heads = match repo.branch_heads(&names) {
        Ok(h) => h,
        Err(e) => {
            tracing::debug!("early warning: {e}");
            return ScanResult {
                heads: req.previous,
                warnings: Vec::new(),
            };
        }
    };
    let Some(integration_tip) = heads.get(&req.integration) else {
        return ScanResult {
            heads,
            warnings: Vec::new(),
        };
    };
    // One `merge-base --is-ancestor` per branch that a pair needs, asked
    // once: 100 new branches make about 5,000 pairs.
    let known: std::cell::RefCell<BTreeMap<String, bool>> = Default::default();
    let own_work = |branch: &str| {
        if let Some(&own) = known.borrow().get(branch) {
            return own;
        }
        let own = heads
            .get(branch)
            .is_some_and(|tip| !repo.is_ancestor(tip, integration_tip).unwrap_or(true));
        known.borrow_mut().insert(branch.to_string(), own);
        own
    };
    let branch_of = |t: usize| {
        req.active
            .iter()
            .find(|(u, _)| *u == t)
            .map(|(_, b)| b.as_str())
    };
    let mut warnings = Vec::new();
    for (task, other) in pairs_to_check(&req.previous, &heads, &req.integration, &req.active) {
        let Some(branch) = branch_of(task) else {
            continue;
        };
        let other_branch = match other {
            Other::Integration => req.integration.as_str(),
            Other::Task(u) => match branch_of(u) {
                Some(b) if own_work(b) => b,
                _ => continue,
            },
        };
        if !own_work(branch) {
            continue;
        }
        match repo.conflicts_between(branch, other_branch) {
            Ok(files) if !files.is_empty() => warnings.push(Warning { task, other, files }),
            Ok(_) => {}
            Err(e) => tracing::debug!("early warning {branch} vs {other_branch}: {e}"),
        }
    }
    ScanResult { heads, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter()
            .map(|(b, o)| (b.to_string(), o.to_string()))
            .collect()
    }

    fn active(list: &[(usize, &str)]) -> Vec<(usize, String)> {
        list.iter().map(|(t, b)| (*t, b.to_string())).collect()
    }

    #[test]
    fn a_moved_branch_is_checked_against_integration_and_its_peers() {
        let before = heads(&[("int", "i1"), ("a", "a1"), ("b", "b1"), ("c", "c1")]);
        let now = heads(&[("int", "i1"), ("a", "a1"), ("b", "b2"), ("c", "c1")]);
        let act = active(&[(0, "a"), (1, "b"), (2, "c")]);
        assert_eq!(
            pairs_to_check(&before, &now, "int", &act),
            [
                (0, Other::Task(1)),
                (1, Other::Integration),
                (1, Other::Task(2)),
            ]
        );
    }

    #[test]
    fn nothing_moved_means_no_merge_tree() {
        let same = heads(&[("int", "i1"), ("a", "a1"), ("b", "b1")]);
        let act = active(&[(0, "a"), (1, "b")]);
        assert!(pairs_to_check(&same, &same, "int", &act).is_empty());
    }

    #[test]
    fn a_moved_integration_head_rechecks_every_branch_but_not_pairs() {
        let before = heads(&[("int", "i1"), ("a", "a1"), ("b", "b1")]);
        let now = heads(&[("int", "i2"), ("a", "a1"), ("b", "b1")]);
        let act = active(&[(0, "a"), (1, "b")]);
        assert_eq!(
            pairs_to_check(&before, &now, "int", &act),
            [(0, Other::Integration), (1, Other::Integration)]
        );
    }

    #[test]
    fn branches_not_yet_created_are_left_out() {
        let now = heads(&[("int", "i1"), ("a", "a1")]);
        let act = active(&[(0, "a"), (1, "b")]);
        assert_eq!(
            pairs_to_check(&BTreeMap::new(), &now, "int", &act),
            [(0, Other::Integration)]
        );
    }

    #[test]
    fn each_warning_is_told_once() {
        let mut watch = Watch::default();
        let w = Warning {
            task: 0,
            other: Other::Task(1),
            files: vec!["f".into()],
        };
        assert!(watch.is_new(&w));
        assert!(!watch.is_new(&w));
        let more = Warning {
            files: vec!["f".into(), "g".into()],
            ..w
        };
        assert!(watch.is_new(&more));
    }
}

//! Where an attempt goes: this machine or a host, by room and labels.

use crate::plan::{AgentProfile, Settings, Task};

/// One machine as placement sees it.
#[derive(Debug, Clone)]
pub struct Room<'a> {
    pub workers: usize,
    pub capacity: usize,
    pub reachable: bool,
    pub labels: &'a [String],
}

/// The hosts' labels that `task` (its `needs`) or its profile (its
/// `capabilities`) names: it may only run where all of them are.
pub fn asked_labels(settings: &Settings, task: &Task, agent: Option<&AgentProfile>) -> Vec<String> {
    host_labels(
        settings,
        task.needs
            .iter()
            .chain(agent.into_iter().flat_map(|a| a.capabilities.iter())),
    )
}

/// The hosts' labels a profile's `capabilities` name: the machines where
/// any task of it may run carry them all.
pub fn profile_labels(settings: &Settings, agent: &AgentProfile) -> Vec<String> {
    host_labels(settings, agent.capabilities.iter())
}

/// Of `words`, those some host carries as a label, sorted, once each.
fn host_labels<'a>(settings: &Settings, words: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut asked: Vec<String> = words
        .filter(|word| settings.hosts.iter().any(|h| h.labels.contains(word)))
        .cloned()
        .collect();
    asked.sort();
    asked.dedup();
    asked
}

/// The machine with the most free room among those that answer and carry
/// every asked label: None for this machine (first on a tie), else the
/// host's index. Full everywhere, the least busy one still takes it: the
/// engine's gate already keeps the total within every machine's sum.
pub fn pick(local: &Room, hosts: &[Room], asks: &[String]) -> Result<Option<usize>, String> {
    let fits = |r: &Room| r.reachable && asks.iter().all(|a| r.labels.contains(a));
    let candidates = std::iter::once((None, local))
        .chain(hosts.iter().enumerate().map(|(i, r)| (Some(i), r)))
        .filter(|(_, r)| fits(r));
    let best = candidates.min_by_key(|(_, r)| {
        let free = r.capacity.saturating_sub(r.workers);
        (std::cmp::Reverse(free), r.workers)
    });
    match best {
        Some((at, _)) => Ok(at),
        None if asks.is_empty() => Err("no machine answers".into()),
        None => Err(format!(
            "no reachable host has the label{} {}",
            if asks.len() == 1 { "" } else { "s" },
            asks.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(workers: usize, capacity: usize, labels: &[String]) -> Room<'_> {
        Room {
            workers,
            capacity,
            reachable: true,
            labels,
        }
    }

    #[test]
    fn attempts_spread_to_the_machine_with_the_most_room_local_first() {
        let none: Vec<String> = Vec::new();
        let local = room(0, 2, &none);
        let hosts = [room(0, 2, &none), room(0, 4, &none)];
        assert_eq!(pick(&local, &hosts, &[]), Ok(Some(1)));
        let hosts = [room(0, 2, &none), room(2, 4, &none)];
        assert_eq!(
            pick(&local, &hosts, &[]),
            Ok(None),
            "a tie goes to this machine"
        );
        let local = room(2, 2, &none);
        assert_eq!(pick(&local, &hosts, &[]), Ok(Some(0)));
        // Full everywhere: the least busy.
        let hosts = [room(3, 2, &none), room(2, 2, &none)];
        assert_eq!(pick(&local, &hosts, &[]), Ok(None));
    }

    #[test]
    fn labels_and_reachability_rule_machines_out() {
        let none: Vec<String> = Vec::new();
        let big = vec!["bigmem".to_string()];
        let local = room(0, 8, &none);
        let mut hosts = [room(0, 1, &none), room(5, 1, &big)];
        let asks = vec!["bigmem".to_string()];
        assert_eq!(pick(&local, &hosts, &asks), Ok(Some(1)));
        hosts[1].reachable = false;
        let err = pick(&local, &hosts, &asks).unwrap_err();
        assert_eq!(err, "no reachable host has the label bigmem");
        hosts[0].reachable = false;
        assert_eq!(pick(&local, &hosts, &[]), Ok(None));
    }
}

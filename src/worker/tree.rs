//! The shim's process tree: every live process below it, read from `/proc`.
//!
//! The shim is a child subreaper (`job::become_subreaper`), so what the agent
//! starts stays below the shim even after `setsid` or a double fork: an
//! orphan is re-parented to the shim, not to init. "Descendants of the shim"
//! is therefore the whole of what the attempt left running.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Every live (not zombie) process below `root`, found through each
/// thread's `children` list, or through every process's parent where the
/// kernel has no such list (built without `CONFIG_PROC_CHILDREN`).
pub fn descendants(root: Pid) -> Vec<Pid> {
    if lists_children(root) {
        walk(root, listed_children)
    } else {
        let by_parent = parents();
        walk(root, |pid| by_parent.get(&pid).cloned().unwrap_or_default())
    }
}

fn walk(root: Pid, children_of: impl Fn(Pid) -> Vec<Pid>) -> Vec<Pid> {
    let mut seen = BTreeSet::from([root]);
    let mut found = Vec::new();
    let mut next = vec![root];
    while let Some(pid) = next.pop() {
        for child in children_of(pid) {
            if !seen.insert(child) {
                continue;
            }
            next.push(child);
            if stat(child).is_some_and(|s| !s.dead()) {
                found.push(child);
            }
        }
    }
    found
}

/// Send `sig` to each of `pids`; one that is already gone is fine.
pub fn signal_each(pids: &[Pid], sig: Signal) {
    for &pid in pids {
        match kill(pid, sig) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => tracing::warn!("cannot send {sig} to process {pid}: {e}"),
        }
    }
}

fn lists_children(root: Pid) -> bool {
    Path::new(&format!("/proc/{root}/task/{root}/children")).exists()
}

/// The children of `pid`, over all its threads (a child belongs to the
/// thread that forked it).
fn listed_children(pid: Pid) -> Vec<Pid> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| pids_in(&list))
        .collect()
}

/// Children by parent, for the whole system: the fallback.
fn parents() -> HashMap<Pid, Vec<Pid>> {
    let mut map: HashMap<Pid, Vec<Pid>> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return map;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let pid = Pid::from_raw(pid);
        if let Some(s) = stat(pid) {
            map.entry(s.ppid).or_default().push(pid);
        }
    }
    map
}

fn pids_in(list: &str) -> Vec<Pid> {
    list.split_whitespace()
        .filter_map(|s| s.parse().ok())
        .map(Pid::from_raw)
        .collect()
}

/// What `/proc/<pid>/stat` says that matters here.
#[derive(Debug, PartialEq)]
struct Stat {
    state: char,
    ppid: Pid,
}

impl Stat {
    /// Exited and waiting to be reaped, or being torn down.
    fn dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

fn stat(pid: Pid) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `pid (comm) state ppid …`; the command name may hold spaces and `)`, so
/// the fields are read after its last `)`.
fn parse_stat(line: &str) -> Option<Stat> {
    let mut fields = line.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Stat {
        state,
        ppid: Pid::from_raw(ppid),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn stat_lines_are_read_after_the_command_name() {
        let stat = parse_stat("42 (a) b (c)) S 7 42 42 0 -1").expect("parsed");
        assert_eq!(
            stat,
            Stat {
                state: 'S',
                ppid: Pid::from_raw(7)
            }
        );
        assert!(parse_stat("42 (zz) Z 1 0").is_some_and(|s| s.dead()));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn grandchildren_are_found_and_the_root_is_not() {
        // sh forks a sleep and waits for it: a child and a grandchild of ours.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sh");
        let sh = Pid::from_raw(child.id() as i32);
        let me = nix::unistd::getpid();
        let below_sh = || walk(sh, listed_children);
        for _ in 0..500 {
            if !below_sh().is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // Both ways of reading the tree see the same thing. (Other tests'
        // children may be there too: this process runs tests in parallel.)
        let listed = walk(me, listed_children);
        let by_parent = parents();
        let from_parents = walk(me, |pid| by_parent.get(&pid).cloned().unwrap_or_default());
        let sleep = below_sh();
        signal_each(&sleep, Signal::SIGKILL);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(sleep.len(), 1, "one sleep below sh: {sleep:?}");
        for found in [&listed, &from_parents] {
            assert!(
                found.contains(&sh) && found.contains(&sleep[0]),
                "{found:?}"
            );
            assert!(!found.contains(&me));
        }
    }
}

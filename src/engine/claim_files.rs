//! Claims on disk, under `.switchboard/` (engine seats, `engines/<n>`, are
//! in [`super::seats`]):
//!
//! - `claims/<TASK>` (the task id made safe as for its tmux session):
//!   created with `O_CREAT|O_EXCL`, so of engines claiming a task at once
//!   exactly one wins. Changing a claim that exists (renewal, takeover,
//!   release) happens under `claims/.lock`, and a new content replaces the
//!   old by `rename`, so a reader sees one or the other, whole.

use super::claims::{Acquired, Claim, ClaimStore, EngineTag, SeenClaim, Survey, takeover};
use super::journal;
use crate::tmux::names;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use super::seats::{Seat, Seats, live_engines};

/// This machine's name, as claims record it.
pub fn here() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A process's start time (clock ticks since boot), or None when it is not
/// running (a zombie is not).
pub fn started(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields follow the parenthesised command name, which may hold
    // spaces: the state is the first of them, the start time the 20th.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if matches!(state, "Z" | "X") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Whether the engine `tag` still runs: on this host, its pid with the same
/// start time; an engine on another host cannot be seen, and counts as
/// running (its lease decides).
pub fn alive(tag: &EngineTag, here: &str) -> bool {
    if tag.host != here {
        return true;
    }
    match started(tag.pid) {
        Some(since) => tag.since.is_none_or(|s| s == since),
        None => false,
    }
}

/// This process as engine `id`.
pub fn tag(id: u32) -> EngineTag {
    let pid = std::process::id();
    EngineTag {
        id,
        pid,
        host: here(),
        since: started(pid),
    }
}

/// An exclusive `flock` of `path` (created), held until the file is dropped.
pub(super) fn locked(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    file.lock()?;
    Ok(file)
}

/// `Ok(None)` for a file that is not there.
pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(io::Error::other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Write `bytes` to `path` whole, at once for readers: a temporary file in
/// the same directory, renamed over it.
pub(super) fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("x");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The claims of one repository, for one engine.
pub struct ClaimDir {
    dot: PathBuf,
    dir: PathBuf,
    me: EngineTag,
    here: String,
    lease_ms: u64,
}

/// What a claim file holds.
enum Found {
    Claim(Claim),
    Missing,
    /// Empty or unreadable: being written (a create is not a write), or
    /// left half written. `old`: older than a lease.
    Junk {
        old: bool,
    },
}

impl ClaimDir {
    /// `dot`: the repository's `.switchboard/`.
    pub fn new(dot: &Path, me: EngineTag, lease_ms: u64) -> ClaimDir {
        ClaimDir {
            dot: dot.to_path_buf(),
            dir: dot.join("claims"),
            here: me.host.clone(),
            me,
            lease_ms,
        }
    }

    pub fn me(&self) -> &EngineTag {
        &self.me
    }

    pub fn lease_ms(&self) -> u64 {
        self.lease_ms
    }

    fn path(&self, task: &str) -> PathBuf {
        self.dir.join(names::sanitize(task))
    }

    fn lock(&self) -> io::Result<File> {
        std::fs::create_dir_all(&self.dir)?;
        locked(&self.dir.join(".lock"))
    }

    fn mine(&self, task: &str, now_ms: u64) -> Claim {
        Claim {
            task: task.to_string(),
            owner: self.me.clone(),
            claimed_ms: now_ms,
            expires_ms: now_ms.saturating_add(self.lease_ms),
        }
    }

    fn found(&self, path: &Path) -> Found {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Found::Missing,
            Err(_) => return Found::Junk { old: false },
        };
        match serde_json::from_slice::<Claim>(&bytes) {
            Ok(c) => Found::Claim(c),
            Err(_) => {
                let age = std::fs::metadata(path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .map_or(0, |d| d.as_millis() as u64);
                Found::Junk {
                    old: age > self.lease_ms,
                }
            }
        }
    }

    /// The fast path: the file did not exist, and now is ours.
    fn create(&self, path: &Path, claim: &Claim) -> io::Result<bool> {
        let bytes = serde_json::to_vec(claim).map_err(io::Error::other)?;
        match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut f) => {
                // One write: a reader sees nothing, or all of it.
                if let Err(e) = f.write_all(&bytes) {
                    let _ = std::fs::remove_file(path);
                    return Err(e);
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The claim exists: under the lock, see whether it may be taken over.
    fn contest(&self, task: &str, path: &Path, now_ms: u64) -> io::Result<Acquired> {
        let _lock = self.lock()?;
        let mine = self.mine(task, now_ms);
        let bytes = serde_json::to_vec(&mine).map_err(io::Error::other)?;
        match self.found(path) {
            Found::Missing => {
                // Let go of meanwhile: free again.
                if self.create(path, &mine)? {
                    Ok(Acquired::Won)
                } else {
                    Ok(Acquired::Held(None))
                }
            }
            Found::Junk { old: false } => Ok(Acquired::Held(None)),
            Found::Junk { old: true } => {
                replace(path, &bytes)?;
                Ok(Acquired::Won)
            }
            Found::Claim(old) if old.owner == self.me => {
                replace(path, &bytes)?;
                Ok(Acquired::Won)
            }
            Found::Claim(old) => {
                let living = alive(&old.owner, &self.here);
                match takeover(&old, &self.me, now_ms, living) {
                    Some(reason) => {
                        replace(path, &bytes)?;
                        Ok(Acquired::TakenOver { from: old, reason })
                    }
                    None => Ok(Acquired::Held(Some(old))),
                }
            }
        }
    }
}

impl ClaimStore for ClaimDir {
    fn acquire(&self, task: &str, now_ms: u64) -> Acquired {
        let path = self.path(task);
        let result = std::fs::create_dir_all(&self.dir)
            .and_then(|()| self.create(&path, &self.mine(task, now_ms)))
            .and_then(|won| match won {
                true => Ok(Acquired::Won),
                false => self.contest(task, &path, now_ms),
            });
        result.unwrap_or_else(|e| Acquired::Failed(format!("{}: {e}", path.display())))
    }

    fn renew(&self, tasks: &[String], now_ms: u64) -> Vec<String> {
        let lock = match self.lock() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("cannot renew claims: {e}");
                return Vec::new();
            }
        };
        let mut lost = Vec::new();
        for task in tasks {
            let path = self.path(task);
            let mine = self.mine(task, now_ms);
            let written = match self.found(&path) {
                Found::Claim(c) if c.owner != self.me => {
                    lost.push(task.clone());
                    continue;
                }
                // Ours, or gone (nobody else took it): ours again.
                _ => serde_json::to_vec(&mine)
                    .map_err(io::Error::other)
                    .and_then(|b| replace(&path, &b)),
            };
            if let Err(e) = written {
                tracing::warn!("cannot renew the claim of {task}: {e}");
            }
        }
        drop(lock);
        lost
    }

    fn release(&self, task: &str) {
        let Ok(_lock) = self.lock() else { return };
        let path = self.path(task);
        if let Found::Claim(c) = self.found(&path)
            && c.owner == self.me
            && let Err(e) = std::fs::remove_file(&path)
        {
            tracing::warn!("cannot remove the claim {}: {e}", path.display());
        }
    }

    fn survey(&self, from: u64, deep: bool) -> Survey {
        let engines = live_engines(&self.dot)
            .into_iter()
            .map(|s| s.tag)
            .filter(|t| *t != self.me)
            .collect();
        let mut claims = Vec::new();
        let dir = if deep {
            std::fs::read_dir(&self.dir).ok()
        } else {
            None
        };
        if let Some(dir) = dir {
            for e in dir.flatten() {
                if e.file_name().to_str().is_none_or(|n| n.starts_with('.')) {
                    continue;
                }
                if let Found::Claim(claim) = self.found(&e.path()) {
                    let owner_alive = alive(&claim.owner, &self.here);
                    claims.push(SeenClaim { claim, owner_alive });
                }
            }
        }
        // Claims first, then the journal: a claim let go of was let go of
        // after its task's last line, which this read then holds.
        let tail = if deep {
            self.journal_since(from)
        } else {
            journal::Tail {
                lines: Vec::new(),
                offset: from,
            }
        };
        Survey {
            engines,
            deep,
            claims,
            tail,
        }
    }

    fn journal_since(&self, from: u64) -> journal::Tail {
        journal::read_since(&self.dot.join("journal.jsonl"), from).unwrap_or_else(|e| {
            tracing::warn!("cannot read the journal: {e}");
            journal::Tail {
                lines: Vec::new(),
                offset: from,
            }
        })
    }

    fn leave(&self) {
        let path = super::seats::engines_dir(&self.dot).join(self.me.id.to_string());
        if let Ok(Some(seat)) = read_json::<Seat>(&path)
            && seat.tag == self.me
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
#[path = "claim_files_tests.rs"]
mod tests;

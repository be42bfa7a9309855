//! Claims in memory, for the engine's fixture: the claims "on disk", the
//! other engines and the journal lines they wrote, as a test sets them. The
//! rules on taking a claim over are the real ones ([`takeover`]).

use super::claims::{Acquired, Claim, ClaimStore, EngineTag, SeenClaim, Survey, takeover};
use super::event::Entry;
use super::journal::Tail;
use std::collections::BTreeMap;
use std::sync::Mutex;

pub struct FakeClaims {
    pub me: EngineTag,
    pub lease_ms: u64,
    /// Claims by task id, each with whether its owner still runs.
    pub claims: Mutex<BTreeMap<String, (Claim, bool)>>,
    /// Other live engines.
    pub engines: Mutex<Vec<EngineTag>>,
    /// The shared journal's lines (any engine's), read by offset: an
    /// entry's offset is its position plus one.
    pub journal: Mutex<Vec<Entry>>,
    /// Claims let go of, in order.
    pub released: Mutex<Vec<String>>,
    /// Renewals, by the tasks renewed.
    pub renewals: Mutex<Vec<Vec<String>>>,
}

impl Default for FakeClaims {
    fn default() -> Self {
        FakeClaims {
            me: engine(1, 100),
            lease_ms: super::claims::DEFAULT_LEASE_MS,
            claims: Mutex::default(),
            engines: Mutex::default(),
            journal: Mutex::default(),
            released: Mutex::default(),
            renewals: Mutex::default(),
        }
    }
}

/// Engine `id` on this host, as process `pid`.
pub fn engine(id: u32, pid: u32) -> EngineTag {
    EngineTag {
        id,
        pid,
        host: "here".into(),
        since: Some(u64::from(pid)),
    }
}

impl FakeClaims {
    /// `owner` holds `task` until `expires_ms`; `alive`: its process runs.
    pub fn hold(&self, task: &str, owner: EngineTag, expires_ms: u64, alive: bool) {
        let claim = Claim {
            task: task.into(),
            owner,
            claimed_ms: 0,
            expires_ms,
        };
        self.lock().insert(task.into(), (claim, alive));
    }

    /// Another engine journaled `entry`.
    pub fn write(&self, engine: u32, mut entry: Entry) {
        entry.engine = Some(engine);
        self.journal.lock().unwrap().push(entry);
    }

    pub fn holder(&self, task: &str) -> Option<EngineTag> {
        self.lock().get(task).map(|(c, _)| c.owner.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (Claim, bool)>> {
        self.claims.lock().unwrap()
    }

    fn mine(&self, task: &str, now_ms: u64) -> (Claim, bool) {
        let claim = Claim {
            task: task.into(),
            owner: self.me.clone(),
            claimed_ms: now_ms,
            expires_ms: now_ms + self.lease_ms,
        };
        (claim, true)
    }
}

impl ClaimStore for FakeClaims {
    fn acquire(&self, task: &str, now_ms: u64) -> Acquired {
        let mut claims = self.lock();
        let Some((old, alive)) = claims.get(task).cloned() else {
            claims.insert(task.into(), self.mine(task, now_ms));
            return Acquired::Won;
        };
        if old.owner == self.me {
            claims.insert(task.into(), self.mine(task, now_ms));
            return Acquired::Won;
        }
        match takeover(&old, &self.me, now_ms, alive) {
            Some(reason) => {
                claims.insert(task.into(), self.mine(task, now_ms));
                Acquired::TakenOver { from: old, reason }
            }
            None => Acquired::Held(Some(old)),
        }
    }

    fn renew(&self, tasks: &[String], now_ms: u64) -> Vec<String> {
        self.renewals.lock().unwrap().push(tasks.to_vec());
        let mut claims = self.lock();
        let mut lost = Vec::new();
        for task in tasks {
            match claims.get(task) {
                Some((c, _)) if c.owner != self.me => lost.push(task.clone()),
                _ => {
                    claims.insert(task.clone(), self.mine(task, now_ms));
                }
            }
        }
        lost
    }

    fn release(&self, task: &str) {
        let mut claims = self.lock();
        if claims.get(task).is_some_and(|(c, _)| c.owner == self.me) {
            claims.remove(task);
            self.released.lock().unwrap().push(task.into());
        }
    }

    fn survey(&self, from: u64, deep: bool) -> Survey {
        let claims = self
            .lock()
            .values()
            .filter(|_| deep)
            .map(|(claim, alive)| SeenClaim {
                claim: claim.clone(),
                owner_alive: *alive,
            })
            .collect();
        let tail = if deep {
            self.journal_since(from)
        } else {
            Tail {
                lines: Vec::new(),
                offset: from,
            }
        };
        Survey {
            engines: self.engines.lock().unwrap().clone(),
            deep,
            claims,
            tail,
        }
    }

    fn journal_since(&self, from: u64) -> Tail {
        let journal = self.journal.lock().unwrap();
        let lines = journal
            .iter()
            .enumerate()
            .skip(from as usize)
            .map(|(i, e)| (i as u64 + 1, e.clone()))
            .collect();
        Tail {
            lines,
            offset: journal.len() as u64,
        }
    }

    fn leave(&self) {}
}

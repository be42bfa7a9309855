//! Task claims across engines: before an engine starts a task it claims it
//! (`.switchboard/claims/<TASK>`, an atomic create), renews the claim's
//! lease while the task is its own, and lets go of it when the task ends.
//! A task claimed by another engine is that engine's: this one only
//! watches what it journals, and takes the claim over once its lease
//! ended and its owner is gone.
//!
//! This module is the part that is the same on disk and in tests: who an
//! engine is ([`EngineTag`]), what a claim says ([`Claim`]), when one may be
//! taken over ([`takeover`]), the store's interface ([`ClaimStore`]; files in
//! [`super::claim_files`]), the work the core asks of it ([`ClaimWork`]) and
//! what comes back ([`ClaimNews`]); the core's own book of claims is
//! [`ClaimBook`] (`claim_book.rs`).

use super::journal::Tail;
use super::tasks::TaskIdx;
use serde::{Deserialize, Serialize};

pub use super::claim_book::{ClaimBook, Foreign, Status};

/// How long a claim lasts unless renewed (`settings.claimLeaseMs`).
pub const DEFAULT_LEASE_MS: u64 = 60_000;
/// How often an engine reads the others' claims and journal lines while
/// another engine is at work on the repository.
pub const SURVEY_MS: u64 = 500;
/// How often an engine alone on the repository looks whether another one
/// started (one directory listing).
pub const LOOKOUT_MS: u64 = 2_000;

/// Who an engine is: its number on the repository, its process, its host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineTag {
    #[serde(rename = "engine")]
    pub id: u32,
    pub pid: u32,
    pub host: String,
    /// The process's start time (clock ticks since boot), so that a pid
    /// reused by another process is not taken for the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
}

impl EngineTag {
    /// `engine 2 (pid 4711)`, with the host when it is not `here`.
    pub fn words(&self, here: &str) -> String {
        if self.host == here {
            format!("engine {} (pid {})", self.id, self.pid)
        } else {
            format!("engine {} (pid {} on {})", self.id, self.pid, self.host)
        }
    }
}

/// The content of `.switchboard/claims/<TASK>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub task: String,
    #[serde(flatten)]
    pub owner: EngineTag,
    pub claimed_ms: u64,
    /// The lease: past this, with its owner gone, the claim may be taken over.
    pub expires_ms: u64,
}

/// Whether `claim` may be taken over by `me` at `now_ms`, and why. On one
/// host an owner that still runs keeps its claim whatever its lease says
/// (`owner_alive`: its pid lives, with the same start time); a dead owner's
/// claim waits for its lease to end, unless `me` sits in its seat (the same
/// engine number: it died and this engine took its place). An owner on
/// another host cannot be seen from here: the lease alone decides.
pub fn takeover(claim: &Claim, me: &EngineTag, now_ms: u64, owner_alive: bool) -> Option<String> {
    let owner = &claim.owner;
    if owner == me {
        return None;
    }
    let who = owner.words(&me.host);
    let ended = now_ms.saturating_sub(claim.expires_ms);
    let lease_over = claim.expires_ms <= now_ms;
    if owner.host != me.host {
        return lease_over.then(|| {
            format!(
                "its lease ended {} ago ({who}, on another host, did not renew it)",
                super::words::duration(ended)
            )
        });
    }
    if owner_alive {
        return None;
    }
    if owner.id == me.id {
        return Some(format!(
            "{who} is gone and this engine took its seat (engine {})",
            me.id
        ));
    }
    lease_over.then(|| {
        format!(
            "its lease ended {} ago and {who} is gone",
            super::words::duration(ended)
        )
    })
}

/// What claiming a task came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Acquired {
    Won,
    /// The claim was another engine's, which is gone: it is ours now.
    TakenOver {
        from: Claim,
        reason: String,
    },
    /// Another engine holds it (None: its file is being written).
    Held(Option<Claim>),
    /// The claims directory could not be used.
    Failed(String),
}

/// A claim as a survey saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenClaim {
    pub claim: Claim,
    /// Its owner still runs (always true for an owner on another host).
    pub owner_alive: bool,
}

/// What the other engines are doing, read from disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Survey {
    /// Live engines other than this one.
    pub engines: Vec<EngineTag>,
    /// The claims and journal lines were read (else only `engines`).
    pub deep: bool,
    pub claims: Vec<SeenClaim>,
    /// Journal lines appended since the offset asked for (every writer's).
    pub tail: Tail,
}

/// Where claims are kept: files in production, memory in tests.
pub trait ClaimStore: Send + Sync {
    /// Claim `task` for this engine, taking it over if its owner is gone.
    fn acquire(&self, task: &str, now_ms: u64) -> Acquired;
    /// Push the lease of each of `tasks` on; the ones no longer this
    /// engine's (taken over) come back.
    fn renew(&self, tasks: &[String], now_ms: u64) -> Vec<String>;
    /// Let go of `task`'s claim, if it is still this engine's.
    fn release(&self, task: &str);
    /// The other engines and, `deep`, every claim and the journal lines
    /// after byte `from` (read after the claims).
    fn survey(&self, from: u64, deep: bool) -> Survey;
    /// The journal lines after byte `from`.
    fn journal_since(&self, from: u64) -> Tail;
    /// The engine closes: its seat is free again.
    fn leave(&self);
}

/// File work the core asks for.
#[derive(Debug)]
pub enum ClaimWork {
    /// Claim a task, then read the journal from `from`: whoever held the
    /// claim before journaled all it did before letting go of it.
    Acquire {
        task: TaskIdx,
        id: String,
        now_ms: u64,
        from: u64,
    },
    Renew {
        tasks: Vec<(TaskIdx, String)>,
        now_ms: u64,
    },
    Release {
        id: String,
    },
    /// `deep`: the claims and the journal too, not only the engines.
    Survey {
        from: u64,
        deep: bool,
    },
}

/// What it came to.
#[derive(Debug)]
pub enum ClaimNews {
    Acquired {
        task: TaskIdx,
        result: Acquired,
        tail: Tail,
    },
    Renewed {
        lost: Vec<TaskIdx>,
    },
    Surveyed(Survey),
}

/// Carry out `work` (blocking: the actor runs it on tokio's blocking pool).
pub fn perform(store: &dyn ClaimStore, work: ClaimWork) -> Option<ClaimNews> {
    match work {
        ClaimWork::Acquire {
            task,
            id,
            now_ms,
            from,
        } => {
            let result = store.acquire(&id, now_ms);
            let tail = store.journal_since(from);
            Some(ClaimNews::Acquired { task, result, tail })
        }
        ClaimWork::Renew { tasks, now_ms } => {
            let ids: Vec<String> = tasks.iter().map(|(_, id)| id.clone()).collect();
            let lost = store.renew(&ids, now_ms);
            let lost = tasks
                .into_iter()
                .filter(|(_, id)| lost.contains(id))
                .map(|(t, _)| t)
                .collect();
            Some(ClaimNews::Renewed { lost })
        }
        ClaimWork::Release { id } => {
            store.release(&id);
            None
        }
        ClaimWork::Survey { from, deep } => Some(ClaimNews::Surveyed(store.survey(from, deep))),
    }
}

/// What an engine knows when it starts (gathered by the actor).
#[derive(Debug, Clone)]
pub struct ClaimStart {
    pub me: EngineTag,
    pub lease_ms: u64,
    /// The journal's length as read at the start.
    pub journal_offset: u64,
    /// Claims won at the start (workers to re-adopt, merges to finish).
    pub held: Vec<TaskIdx>,
    /// Claims taken over at the start: the old claim and why.
    pub taken_over: Vec<(TaskIdx, Claim, String)>,
    /// Tasks other live engines hold (None: a claim being written).
    pub foreign: Vec<(TaskIdx, Option<Claim>)>,
    /// Live engines besides this one.
    pub others: usize,
}

#[cfg(test)]
#[path = "claims_tests.rs"]
mod tests;

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
//! what comes back ([`ClaimNews`]), and the core's own book of claims
//! ([`ClaimBook`]).

use super::event::Entry;
use super::fold::TaskRecord;
use super::journal::Tail;
use super::schedule::Slot;
use super::snapshot::TaskState;
use super::tasks::TaskIdx;
use serde::{Deserialize, Serialize};

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
    /// The other engines, every claim, and (with `journal`) the journal
    /// lines after byte `from` (read after the claims).
    fn survey(&self, from: u64, journal: bool) -> Survey;
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
    Survey {
        from: u64,
        journal: bool,
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
        ClaimWork::Survey { from, journal } => {
            Some(ClaimNews::Surveyed(store.survey(from, journal)))
        }
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

/// Another engine's task, as this one watches it.
#[derive(Debug, Clone)]
pub struct Foreign {
    /// Its claim, once a survey read it.
    pub holder: Option<Claim>,
    /// The engine whose journal lines were last folded into `shadow`.
    pub engine: Option<u32>,
    /// The task as the other engine's journal lines tell it; this engine's
    /// own record takes it over once the task ends (or is let go of).
    pub shadow: TaskRecord,
}

impl Foreign {
    /// `claimed by engine 2 (pid 4711)`.
    pub fn words(&self, here: &str) -> String {
        match (&self.holder, self.engine) {
            (Some(c), _) => format!("claimed by {}", c.owner.words(here)),
            (None, Some(n)) => format!("claimed by engine {n}"),
            (None, None) => "claimed by another engine".into(),
        }
    }
}

/// One task's claim, as this engine sees it.
#[derive(Debug, Clone, Default)]
pub enum Status {
    #[default]
    Free,
    /// Asked for; the answer has not come back. `was`: what was watched of
    /// the task before (another engine's, being taken over), or what other
    /// engines journaled about it meanwhile.
    Claiming {
        was: Option<Box<Foreign>>,
        /// The scheduler chose to start it (its slot and spawn token are
        /// taken): a claim won starts it at once.
        start: bool,
    },
    /// This engine's.
    Held,
    Foreign(Box<Foreign>),
}

/// The core's book of claims: one status per task, the lease's renewal,
/// and the survey of the other engines.
#[derive(Debug)]
pub struct ClaimBook {
    pub me: EngineTag,
    pub lease_ms: u64,
    status: Vec<Status>,
    renew_at: Option<u64>,
    renewing: bool,
    survey_at: u64,
    surveying: bool,
    offset: u64,
    others: usize,
}

impl ClaimBook {
    pub fn new(start: &ClaimStart, tasks: usize, now_ms: u64) -> ClaimBook {
        let mut book = ClaimBook {
            me: start.me.clone(),
            lease_ms: start.lease_ms.max(1),
            status: vec![Status::Free; tasks],
            renew_at: None,
            renewing: false,
            // The first survey at once: a dead engine's claims may be due.
            survey_at: now_ms,
            surveying: false,
            offset: start.journal_offset,
            others: start.others,
        };
        let held = start.taken_over.iter().map(|(t, ..)| *t);
        for t in start.held.iter().copied().chain(held) {
            let _ = book.won(t, now_ms);
        }
        book
    }

    pub fn status(&self, t: TaskIdx) -> &Status {
        &self.status[t.0]
    }

    pub fn holds(&self, t: TaskIdx) -> bool {
        matches!(self.status[t.0], Status::Held)
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The journal was read up to `offset`.
    pub fn read_to(&mut self, offset: u64) {
        self.offset = self.offset.max(offset);
    }

    pub fn foreign(&self, t: TaskIdx) -> Option<&Foreign> {
        match &self.status[t.0] {
            Status::Foreign(f) => Some(f),
            _ => None,
        }
    }

    /// What the scheduler sees of claims: a task being claimed holds a
    /// slot as an assigned one does; another engine's task is not this
    /// run's to start or skip (its dependents wait for it all the same).
    pub fn adjust(&self, slots: &mut [Slot]) {
        for (slot, status) in slots.iter_mut().zip(&self.status) {
            match status {
                Status::Claiming { .. } => slot.state = TaskState::Assigned,
                Status::Foreign(_) => slot.selected = false,
                Status::Free | Status::Held => {}
            }
        }
    }

    pub fn claim(&mut self, t: TaskIdx, id: &str, now_ms: u64, start: bool) -> ClaimWork {
        let was = match std::mem::take(&mut self.status[t.0]) {
            Status::Foreign(f) => Some(f),
            Status::Claiming { was, .. } => was,
            Status::Free | Status::Held => None,
        };
        self.status[t.0] = Status::Claiming { was, start };
        ClaimWork::Acquire {
            task: t,
            id: id.to_string(),
            now_ms,
            from: self.offset,
        }
    }

    /// `t`'s claim is this engine's: what other engines journaled of the
    /// task before (their record of it), and whether it starts at once.
    pub fn won(&mut self, t: TaskIdx, now_ms: u64) -> (Option<TaskRecord>, bool) {
        let won = match std::mem::replace(&mut self.status[t.0], Status::Held) {
            Status::Claiming { was, start } => (was.map(|f| f.shadow), start),
            Status::Foreign(f) => (Some(f.shadow), false),
            Status::Free | Status::Held => (None, false),
        };
        self.renew_at.get_or_insert(now_ms + self.renew_every());
        won
    }

    /// Another engine holds `t`; `record` is the task as this engine knows
    /// it, where watching begins. A shadow already kept goes on.
    pub fn held_elsewhere(&mut self, t: TaskIdx, holder: Option<Claim>, record: &TaskRecord) {
        let status = &mut self.status[t.0];
        if let Status::Claiming { was, .. } = status {
            *status = match was.take() {
                Some(f) => Status::Foreign(f),
                None => Status::Free,
            };
        }
        match status {
            Status::Foreign(f) => {
                if holder.is_some() {
                    f.holder = holder;
                }
            }
            other => {
                *other = Status::Foreign(Box::new(Foreign {
                    holder,
                    engine: None,
                    shadow: record.clone(),
                }))
            }
        }
    }

    /// No claim on `t` any more: the shadow, if any, for the record.
    pub fn let_go(&mut self, t: TaskIdx) -> Option<TaskRecord> {
        match std::mem::take(&mut self.status[t.0]) {
            Status::Foreign(f) => Some(f.shadow),
            _ => None,
        }
    }

    /// Another engine's journal line about `t`, folded into its shadow
    /// (begun from `record`). While `t` is being claimed, the shadow waits
    /// for the answer.
    pub fn fold(&mut self, t: TaskIdx, entry: &Entry, record: &TaskRecord) {
        let new = || {
            Box::new(Foreign {
                holder: None,
                engine: None,
                shadow: record.clone(),
            })
        };
        let foreign = match &mut self.status[t.0] {
            Status::Held => return,
            Status::Claiming { was, .. } => was.get_or_insert_with(new),
            Status::Foreign(f) => f,
            free @ Status::Free => {
                *free = Status::Foreign(new());
                match free {
                    Status::Foreign(f) => f,
                    _ => return,
                }
            }
        };
        foreign.shadow.apply(entry);
        foreign.engine = entry.engine.or(foreign.engine);
    }

    /// The claim of `t` ends here (the task ended): the file to remove.
    pub fn release(&mut self, t: TaskIdx, id: &str) -> Option<ClaimWork> {
        if !self.holds(t) {
            return None;
        }
        self.status[t.0] = Status::Free;
        Some(ClaimWork::Release { id: id.to_string() })
    }

    pub fn held(&self) -> impl Iterator<Item = TaskIdx> + '_ {
        self.status
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, Status::Held))
            .map(|(i, _)| TaskIdx(i))
    }

    fn watching(&self) -> bool {
        self.others > 0 || self.status.iter().any(|s| matches!(s, Status::Foreign(_)))
    }

    fn renew_every(&self) -> u64 {
        (self.lease_ms / 3).max(1)
    }

    /// When the book next has something to do.
    pub fn wakeup(&self) -> Option<u64> {
        let renew = self.renew_at.filter(|_| !self.renewing);
        let survey = (!self.surveying).then_some(self.survey_at);
        renew.into_iter().chain(survey).min()
    }

    /// The renewal and the survey, when due: `ids` names the tasks.
    pub fn due(&mut self, now_ms: u64, ids: impl Fn(TaskIdx) -> String) -> Vec<ClaimWork> {
        let mut work = Vec::new();
        if !self.renewing && self.renew_at.is_some_and(|at| at <= now_ms) {
            let tasks: Vec<(TaskIdx, String)> = self.held().map(|t| (t, ids(t))).collect();
            if tasks.is_empty() {
                self.renew_at = None;
            } else {
                self.renewing = true;
                work.push(ClaimWork::Renew { tasks, now_ms });
            }
        }
        if !self.surveying && self.survey_at <= now_ms {
            self.surveying = true;
            work.push(ClaimWork::Survey {
                from: self.offset,
                journal: self.watching(),
            });
        }
        work
    }

    pub fn renewed(&mut self, now_ms: u64) {
        self.renewing = false;
        let any = self.held().next().is_some();
        self.renew_at = any.then(|| now_ms + self.renew_every());
    }

    /// A survey came back: where the journal goes on, how many engines
    /// there are, and when to look again.
    pub fn surveyed(&mut self, survey: &Survey, now_ms: u64) {
        self.surveying = false;
        self.others = survey.engines.len();
        let every = if self.watching() {
            SURVEY_MS
        } else {
            LOOKOUT_MS
        };
        self.survey_at = now_ms + every;
    }

    /// Tasks whose claims a closing engine lets go of: all it holds except
    /// those whose workers it leaves running (`live`).
    pub fn to_release(&self, live: impl Fn(TaskIdx) -> bool) -> Vec<TaskIdx> {
        self.held().filter(|&t| !live(t)).collect()
    }
}

#[cfg(test)]
#[path = "claims_tests.rs"]
mod tests;

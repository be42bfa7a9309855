//! The core's book of claims: for each task, whether this engine holds
//! its claim, is claiming it, or watches another engine's work on it (a
//! shadow record folded from that engine's journal lines); when held claims
//! are renewed, and when the other engines are surveyed.

use super::claims::{Claim, ClaimStart, ClaimWork, EngineTag, LOOKOUT_MS, SURVEY_MS, Survey};
use super::event::Entry;
use super::fold::TaskRecord;
use super::schedule::Slot;
use super::snapshot::TaskState;
use super::tasks::TaskIdx;

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
                deep: self.watching(),
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

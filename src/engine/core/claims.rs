//! Claims in the core: a task is claimed before it starts and let go of
//! when it ends; another engine's tasks are watched through its journal
//! lines (their dependents wait for them as for any task) and taken over
//! when their engine is gone. The file work is the [`ClaimBook`]'s effects;
//! the rules on who may take what over are in `engine::claims`.

use super::Core;
use crate::engine::claims::{Acquired, ClaimBook, ClaimNews, ClaimStart, Status, Survey, takeover};
use crate::engine::command::{Command, Reply};
use crate::engine::effect::Effect;
use crate::engine::event::{Entry, Event};
use crate::engine::fold::TaskRecord;
use crate::engine::history::LOG_TAIL;
use crate::engine::journal::Tail;
use crate::engine::schedule::{Slot, Step};
use crate::engine::snapshot::{Light, RunPhase, TaskState, TaskView};
use crate::engine::tasks::TaskIdx;
use crate::engine::words;
use std::collections::HashMap;

/// A claim that could not be written is asked for again after this long.
const CLAIM_RETRY_MS: u64 = 2_000;

/// The journal's record of each task other engines hold at the start: what
/// watching them begins from (taken before the core sets its own records up).
pub(super) fn start_shadows(
    start: Option<&ClaimStart>,
    records: &[TaskRecord],
) -> Vec<(TaskIdx, TaskRecord)> {
    let foreign = start.map(|s| s.foreign.as_slice()).unwrap_or_default();
    foreign
        .iter()
        .filter_map(|(t, _)| Some((*t, records.get(t.0)?.clone())))
        .collect()
}

impl Core {
    /// Open the book (before the first entry is journaled, which it tags):
    /// another engine's tasks wait as pending here, neither merged nor run.
    pub(super) fn claims_at_start(
        &mut self,
        start: Option<ClaimStart>,
        shadows: Vec<(TaskIdx, TaskRecord)>,
    ) {
        let Some(start) = start else { return };
        let mut book = ClaimBook::new(&start, self.tasks.len(), self.now());
        for ((t, claim), (_, shadow)) in start.foreign.iter().zip(shadows) {
            if shadow.state().is_final() {
                continue;
            }
            book.held_elsewhere(*t, claim.clone(), &shadow);
            self.wait_here(*t);
        }
        self.claims = Some(book);
        for (t, from, reason) in start.taken_over {
            self.journal_takeover(t, &from, reason);
        }
    }

    /// Every entry this engine journals says which engine it is.
    pub(super) fn tag(&self, entry: &mut Entry) {
        if let Some(book) = &self.claims {
            entry.engine = Some(book.me.id);
        }
    }

    /// A task of this engine ended: its claim goes.
    pub(super) fn release_if_ended(&mut self, entry: &Entry) {
        let Event::State { state, .. } = &entry.event else {
            return;
        };
        if !state.is_final() {
            return;
        }
        let Some(t) = entry.task.as_deref().and_then(|id| self.plan.task_idx(id)) else {
            return;
        };
        let t = TaskIdx(t);
        let id = self.task_id(t).to_string();
        if let Some(work) = self.claims.as_mut().and_then(|b| b.release(t, &id)) {
            self.effect(Effect::Claims(work));
        }
    }

    /// Claims as the scheduler sees them (see [`ClaimBook::adjust`]).
    pub(super) fn adjust_slots(&self, slots: &mut [Slot]) {
        if let Some(book) = &self.claims {
            book.adjust(slots);
        }
    }

    /// The scheduler chose `step`: true when the task must be claimed first
    /// (the answer comes back as an input; a claim won starts it then).
    pub(super) fn claim_first(&mut self, step: &Step) -> bool {
        let Step::Start { task, .. } = *step else {
            return false;
        };
        let (t, now) = (TaskIdx(task), self.now());
        let id = self.task_id(t).to_string();
        let Some(book) = self.claims.as_mut() else {
            return false;
        };
        if book.holds(t) {
            return false;
        }
        let work = book.claim(t, &id, now, true);
        self.effect(Effect::Claims(work));
        true
    }

    pub(super) fn on_claims(&mut self, news: ClaimNews) {
        let now = self.now();
        self.schedule_due = true;
        self.dirty = true;
        match news {
            ClaimNews::Acquired { task, result, tail } => {
                // What the last holder journaled first: it may have run the
                // task to its end before letting go.
                self.fold_tail(tail);
                self.on_acquired(task, result);
            }
            ClaimNews::Renewed { lost } => {
                if let Some(book) = self.claims.as_mut() {
                    book.renewed(now);
                }
                for t in lost {
                    self.claim_lost(t);
                }
            }
            ClaimNews::Surveyed(survey) => self.on_survey(survey),
        }
    }

    fn on_acquired(&mut self, t: TaskIdx, result: Acquired) {
        let now = self.now();
        let Some(book) = self.claims.as_mut() else {
            return;
        };
        match result {
            Acquired::Won => {
                let (was, start) = book.won(t, now);
                self.take_up(t, was, start);
            }
            Acquired::TakenOver { from, reason } => {
                let (was, start) = book.won(t, now);
                self.journal_takeover(t, &from, reason);
                self.take_up(t, was, start);
            }
            Acquired::Held(holder) => {
                let record = self.tasks[t].record.clone();
                book.held_elsewhere(t, holder, &record);
                // Its holder may have journaled its end already.
                self.settle_shadows();
            }
            Acquired::Failed(why) => {
                let _ = book.let_go(t);
                self.tasks[t].not_before_ms = now + CLAIM_RETRY_MS;
                let message = format!(
                    "cannot claim it: {why}; trying again in {}",
                    words::duration(CLAIM_RETRY_MS)
                );
                self.warn(Some(t), message);
            }
        }
    }

    /// A claim won: the task as other engines left it (`was`) is this
    /// engine's record now. Ended, it is let go of again; half done by an
    /// engine that is gone, it goes on here: merged if it was validated,
    /// else started afresh (the old worker's session makes way for it).
    /// `start`: the scheduler chose it, its slot and token are taken.
    fn take_up(&mut self, t: TaskIdx, was: Option<TaskRecord>, start: bool) {
        if let Some(record) = was {
            self.tasks[t].record = record;
        }
        let state = self.tasks[t].state();
        if state.is_final() {
            let id = self.task_id(t).to_string();
            if let Some(work) = self.claims.as_mut().and_then(|b| b.release(t, &id)) {
                self.effect(Effect::Claims(work));
            }
            return;
        }
        match state {
            TaskState::Merging | TaskState::MergeHeld => self.resume_merge(t),
            TaskState::Pending => {
                let run = &self.tasks[t];
                if start && run.selected && self.phase == RunPhase::Running {
                    self.start_attempt(t);
                }
            }
            _ if self.tasks[t].worker.is_none() => {
                let why = format!("its engine is gone: starting it again ({})", state.as_str());
                self.set_state(t, TaskState::Pending, Some(why));
            }
            _ => {}
        }
    }

    fn journal_takeover(
        &mut self,
        t: TaskIdx,
        from: &crate::engine::claims::Claim,
        reason: String,
    ) {
        let event = Event::ClaimTakenOver {
            from_engine: from.owner.id,
            from_pid: from.owner.pid,
            from_host: from.owner.host.clone(),
            lease_ended_ms: from.expires_ms,
            reason,
        };
        self.record_task(t, event);
    }

    /// The renewal found `t`'s claim another engine's: it took the task
    /// over (this engine did not renew in time). Its agent is stopped; its
    /// session is the new owner's to replace.
    fn claim_lost(&mut self, t: TaskIdx) {
        let message = "another engine took this task's claim over: its worker here is stopped";
        self.warn(Some(t), message.to_string());
        self.interrupt_agent(t);
        self.release_worker(t);
        let record = self.tasks[t].record.clone();
        if let Some(book) = self.claims.as_mut() {
            book.held_elsewhere(t, None, &record);
        }
        self.wait_here(t);
    }

    /// Another engine's task: pending here, whatever its journal says.
    fn wait_here(&mut self, t: TaskIdx) {
        let view = &mut self.tasks[t].record.view;
        view.state = TaskState::Pending;
        view.light = Light::Idle;
    }

    /// Other engines' journal lines: each folded into its task's shadow (a
    /// state) or record (anything else, of a task nobody watches), and
    /// shown in the log. A shadow whose task ended becomes the record.
    fn fold_tail(&mut self, tail: Tail) {
        let Some(book) = self.claims.as_mut() else {
            return;
        };
        let (me, mut read) = (book.me.id, book.offset());
        let mut lines = Vec::new();
        for (end, entry) in tail.lines {
            if end <= read {
                continue;
            }
            read = end;
            if entry.engine.is_some_and(|n| n != me) {
                lines.push(entry);
            }
        }
        book.read_to(tail.offset);
        for entry in lines {
            self.fold_foreign(entry);
        }
        self.settle_shadows();
    }

    fn fold_foreign(&mut self, entry: Entry) {
        if let Some(mut line) = words::log_line(&entry) {
            line.text = format!("{} (engine {})", line.text, entry.engine.unwrap_or(0));
            self.log.push_back(line);
            self.log_total += 1;
            if self.log.len() > LOG_TAIL {
                self.log.pop_front();
            }
        }
        let Some(t) = entry.task.as_deref().and_then(|id| self.plan.task_idx(id)) else {
            return;
        };
        let t = TaskIdx(t);
        let Some(book) = self.claims.as_mut() else {
            return;
        };
        let state = matches!(entry.event, Event::State { .. });
        match book.status(t) {
            Status::Held => {}
            Status::Free if !state => self.tasks[t].record.apply(&entry),
            _ => book.fold(t, &entry, &self.tasks[t].record),
        }
    }

    /// Shadows of tasks that ended elsewhere become this engine's records:
    /// a task merged by another engine is done here, and its dependents run.
    fn settle_shadows(&mut self) {
        for t in self.tasks.indices() {
            let Some(book) = self.claims.as_mut() else {
                return;
            };
            if book.foreign(t).is_some_and(|f| f.shadow.state().is_final())
                && let Some(record) = book.let_go(t)
            {
                self.tasks[t].record = record;
            }
        }
    }

    fn on_survey(&mut self, survey: Survey) {
        let now = self.now();
        let Survey {
            engines,
            deep,
            claims,
            tail,
        } = survey;
        self.fold_tail(tail);
        let Some(book) = self.claims.as_mut() else {
            return;
        };
        book.surveyed(
            &Survey {
                engines,
                ..Default::default()
            },
            now,
        );
        let me = book.me.clone();
        let seen: HashMap<usize, _> = claims
            .into_iter()
            .filter(|c| c.claim.owner != me)
            .filter_map(|c| Some((self.plan.task_idx(&c.claim.task)?, c)))
            .collect();
        let running = self.phase == RunPhase::Running;
        // A look at the engines alone says nothing of claims.
        for t in self.tasks.indices().filter(|_| deep) {
            let Some(book) = self.claims.as_mut() else {
                return;
            };
            let run = &self.tasks[t];
            match (book.status(t), seen.get(&t.0)) {
                (Status::Held | Status::Claiming { .. }, _) => continue,
                (Status::Free, Some(c)) if !run.state().is_final() => {
                    book.held_elsewhere(t, Some(c.claim.clone()), &run.record);
                }
                (Status::Free, _) => continue,
                (Status::Foreign(_), Some(c)) => {
                    book.held_elsewhere(t, Some(c.claim.clone()), &run.record);
                }
                (Status::Foreign(_), None) => {
                    // Let go of by its engine, not ended (halted, and that
                    // engine closed): free to run again, here or there.
                    if let Some(record) = book.let_go(t) {
                        self.tasks[t].record = record;
                    }
                    let (state, selected) = (self.tasks[t].state(), self.tasks[t].selected);
                    if state.is_active() || (selected && state == TaskState::Halted) {
                        self.wait_here(t);
                    }
                    continue;
                }
            }
            // Its engine is gone and its lease over: this engine goes on with it.
            if let Some(c) = seen.get(&t.0)
                && running
                && self.tasks[t].selected
                && takeover(&c.claim, &me, now, c.owner_alive).is_some()
            {
                let id = self.task_id(t).to_string();
                if let Some(book) = self.claims.as_mut() {
                    let work = book.claim(t, &id, now, false);
                    self.effect(Effect::Claims(work));
                }
            }
        }
    }

    /// Renewals and surveys that are due.
    pub(super) fn claims_tick(&mut self) {
        let now = self.now();
        let plan = self.plan.clone();
        let Some(book) = self.claims.as_mut() else {
            return;
        };
        for work in book.due(now, |t| plan.plan.tasks[t.0].task_id.clone()) {
            self.effect(Effect::Claims(work));
        }
    }

    pub(super) fn claims_wakeup(&self) -> Option<u64> {
        self.claims.as_ref().and_then(ClaimBook::wakeup)
    }

    /// A person's command on another engine's task is that engine's to carry out.
    pub(super) fn refuse_foreign(&self, command: &Command) -> Option<Reply> {
        let task = match command {
            Command::Spawn { task, .. }
            | Command::Kill { task, .. }
            | Command::Restart { task }
            | Command::Recheck { task }
            | Command::RebaseMerge { task }
            | Command::MarkDone { task, .. }
            | Command::Type { task, .. } => task,
            _ => return None,
        };
        let book = self.claims.as_ref()?;
        let foreign = book.foreign(TaskIdx(self.plan.task_idx(task)?))?;
        Some(Reply::Error {
            message: format!(
                "{task} is {}: ask that engine (its control room, or stop it)",
                foreign.words(&book.me.host)
            ),
        })
    }

    /// Another engine's tasks as that engine's journal tells them, with who
    /// holds them beside their state.
    pub(super) fn show_claims(&self, views: &mut [TaskView]) {
        let Some(book) = &self.claims else { return };
        for v in views.iter_mut() {
            let Some(t) = self.plan.task_idx(&v.id).map(TaskIdx) else {
                continue;
            };
            let Some(f) = book.foreign(t) else { continue };
            let mut shown = f.shadow.view.clone();
            shown.session = v.session.take();
            shown.worktree = v.worktree.take();
            shown.branch = v.branch.take();
            shown.selected = v.selected;
            shown.pane_id = None;
            shown.agent_state = Some(f.words(&book.me.host));
            *v = shown;
        }
    }

    /// When the engine closes: the claims it lets go of (all it holds but
    /// those of workers it leaves running, which their next engine takes up).
    pub fn claims_to_release(&self) -> Vec<String> {
        let Some(book) = &self.claims else {
            return Vec::new();
        };
        book.to_release(|t| self.tasks[t].worker.is_some())
            .into_iter()
            .map(|t| self.task_id(t).to_string())
            .collect()
    }
}

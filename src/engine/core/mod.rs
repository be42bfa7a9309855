//! The engine's core: a state machine that takes one [`Input`] at a time,
//! hands it to the part that owns that state (the task table, the shim
//! links, the halt run, the merge queue), journals what happened, and
//! returns [`Effect`]s for the world. It never waits and never touches the
//! world itself, so a fixture drives it in milliseconds with a fake clock.
//!
//! It does not tick: [`Core::next_wakeup_ms`] says when the next thing is
//! due (a heartbeat threshold, a backoff, a halt deadline, the pane poll,
//! the conflict scan), and the driver sleeps until then.

mod attempt;
mod claims;
mod commands;
mod limits;
mod pool;
mod pool_agents;
mod pool_views;
mod recovery;
mod screen;
mod shims;
mod time;
mod watch;

use super::command::{Command, Reply};
use super::early_warning;
use super::effect::{Effect, Input};
use super::event::{Entry, Event};
use super::fold::TaskRecord;
use super::halt::HaltRun;
use super::history::LOG_TAIL;
use super::journal::Journal;
use super::links::ShimLinks;
use super::merge_queue::MergeQueue;
use super::os::Clock;
use super::schedule::{self, Step};
use super::snapshot::{HaltReport, LogLine, RunPhase, Snapshot, TaskState, group_views};
use super::tasks::{TaskIdx, TaskTable};
use super::words;
use super::workshop::Placement;
use crate::plan::ValidPlan;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::{broadcast, oneshot};

/// How often panes are listed while workers live.
pub const POLL_MS: u64 = 500;
/// A wakeup this late means this process was not running (Ctrl-Z on the
/// control room) or starved.
pub const PAUSE_GAP_MS: u64 = 2_000;
/// How long stopped shims may still report their exit when the engine stops.
pub(super) const DRAIN_MS: u64 = 2_000;
/// Long enough for a shim's reconnect backoff (at most 2 s) to come round.
pub const ADOPTION_GRACE_MS: u64 = 3_000;

/// What the core starts from.
pub struct CoreOptions {
    pub plan: Arc<ValidPlan>,
    pub plan_name: String,
    pub tmux_socket: Option<String>,
    /// Each task's worktree, branch and session (by plan index).
    pub placements: Vec<Placement>,
    /// Where each pool's workers live (`pool_places[p][w]`, by
    /// `ValidPlan::pools`).
    pub pool_places: Vec<Vec<Placement>>,
    /// The journal so far, folded by task (by plan index).
    pub records: Vec<TaskRecord>,
    /// Tasks merged per the journal.
    pub merged: Vec<TaskIdx>,
    /// Tasks git shows merged (a `Merge <ID>:` commit on the integration
    /// branch) that the journal does not: with their merge commit.
    pub found_merged: Vec<(TaskIdx, String)>,
    /// The last halt number journaled.
    pub last_halt_id: u64,
    /// Tasks to run from the start.
    pub select: Vec<TaskIdx>,
    /// Tasks whose panes live in tmux: held for their shims to come back.
    pub live_panes: Vec<TaskIdx>,
    /// Headless: stop once every selected task reached a final state.
    pub exit_when_done: bool,
    /// Headless: a halt waits for `resume` instead of ending the run.
    pub wait_on_halt: bool,
    pub journal: Option<Journal>,
    /// Task claims across engines (none: this engine is alone by design,
    /// as in most fixture tests).
    pub claims: Option<super::claims::ClaimStart>,
}

pub struct Core {
    plan: Arc<ValidPlan>,
    clock: Arc<dyn Clock>,
    tasks: TaskTable,
    links: ShimLinks,
    halt: Option<HaltRun>,
    merges: MergeQueue,
    early: early_warning::Watch,
    phase: RunPhase,
    journal: Option<Journal>,
    events: broadcast::Sender<Entry>,
    log: VecDeque<LogLine>,
    log_total: u64,
    effects: Vec<Effect>,
    /// Something a front end sees changed since the last snapshot.
    dirty: bool,
    /// The plan's hosts as the OS boundary last saw them.
    hosts: Vec<super::host_link::HostView>,
    last_halt: Option<HaltReport>,
    next_halt_id: u64,
    started_ms: u64,
    plan_name: String,
    tmux_socket: Option<String>,
    exit_when_done: bool,
    wait_on_halt: bool,
    /// Shims of workers this engine let go of: gone before it closes.
    ended_shims: Vec<u32>,
    /// When held merges are tried again.
    merge_retry_ms: Option<u64>,
    /// Asked to stop (`Some(halt)`); `drain_until_ms` once it began draining.
    shutdown: Option<bool>,
    drain_until_ms: Option<u64>,
    /// Disconnected shims to look at again: (when, task, attempt, tries).
    shim_checks: Vec<(u64, TaskIdx, u32, u32)>,
    /// When the next pane poll is due, and whether one is out.
    next_poll_ms: u64,
    polling: bool,
    /// Something the scheduler reads changed (a journaled event, a command,
    /// a wakeup); heartbeats alone do not run it.
    schedule_due: bool,
    limits: limits::LimitState,
    pools: super::pool::Pools,
    claims: Option<super::claims::ClaimBook>,
}

/// A task's own profile followed by its fallbacks. A task that names no
/// profile starts its chain on the one it was given (`given`).
pub(super) fn fallback_chain(
    plan: &ValidPlan,
    task: &crate::plan::Task,
    given: Option<&str>,
) -> Vec<String> {
    // A pool's task starts on the pool's profile.
    let pooled = crate::plan::pool_settings(&plan.plan, task).map(|p| p.profile.as_str());
    let Some(kind) = pooled.or(task.agent_type()).or(given) else {
        return Vec::new();
    };
    let mut chain = vec![kind.to_string()];
    if let Some(agent) = plan.plan.agents.get(kind) {
        chain.extend(agent.fallbacks.iter().cloned());
    }
    chain
}

impl Core {
    pub fn new(opts: CoreOptions, clock: Arc<dyn Clock>, events: broadcast::Sender<Entry>) -> Core {
        let now = clock.now_ms();
        let own = opts
            .placements
            .iter()
            .enumerate()
            .filter(|(t, _)| opts.plan.pool_of[*t].is_some())
            .map(|(t, p)| (TaskIdx(t), p.clone()))
            .collect();
        let pools = super::pool::Pools::new(&opts.plan.pools, opts.pool_places, own);
        let shadows = claims::start_shadows(opts.claims.as_ref(), &opts.records);
        let mut tasks = TaskTable::new(opts.records, opts.placements.into_iter());
        for t in opts.merged {
            // Merged is merged, whatever came after in a torn journal.
            if tasks[t].state() != TaskState::Done {
                let profile = tasks[t].profile().to_string();
                let e = Entry::new(
                    Event::State {
                        state: TaskState::Done,
                        profile,
                        reason: None,
                    },
                    now,
                );
                tasks[t].record.apply(&e);
            }
        }
        // Where a new engine takes each unmerged task up (its attempts,
        // message and timeline stay as the journal tells them):
        // - validated but not merged: merged now, not run again;
        // - selected to run (headless, the demo): afresh, pending on the
        //   task's own profile with its whole fallback chain;
        // - otherwise (a control room reopened) as it ended: failed,
        //   conflicted, cancelled, skipped and halted tasks stay so, on the
        //   profile they reached; what was at work is pending, its worker
        //   re-adopted if it still lives (with its open question).
        for t in tasks.indices() {
            let task = &opts.plan.plan.tasks[t.0];
            // A task given a profile by its needs: its first attempt's.
            let given = tasks[t]
                .record
                .view
                .attempts
                .first()
                .map(|a| a.profile.clone());
            let chain = fallback_chain(&opts.plan, task, given.as_deref());
            let selected = opts.select.contains(&t);
            let run = &mut tasks[t];
            let view = &mut run.record.view;
            if view.state == TaskState::Waiting {
                run.question = Some(view.message.clone().unwrap_or_else(|| "waiting".into()));
            }
            let view = &mut run.record.view;
            match view.state {
                TaskState::Done => {}
                TaskState::Merging | TaskState::MergeHeld => {
                    view.state = TaskState::Merging;
                    run.selected = true;
                }
                _ if selected => {
                    view.state = TaskState::Pending;
                    view.profile = opts.plan.first_profile(t.0).to_string();
                }
                TaskState::Failed
                | TaskState::Conflict
                | TaskState::MergeBlocked
                | TaskState::Cancelled
                | TaskState::Skipped
                | TaskState::Halted => {}
                _ => view.state = TaskState::Pending,
            }
            if !view.state.is_active() {
                view.light = super::snapshot::Light::Idle;
            }
            // Escalation goes on from the profile the task is on.
            run.fallbacks_used = chain.iter().position(|p| *p == view.profile).unwrap_or(0) as u32;
            if task.agent_type().is_none() && !view.profile.is_empty() {
                run.base_profile = given;
            }
        }
        for t in opts.live_panes {
            if tasks[t].state() != TaskState::Done {
                tasks[t].not_before_ms = now + ADOPTION_GRACE_MS;
            }
        }
        for &t in &opts.select {
            tasks[t].selected = true;
        }
        let phase = if opts.select.is_empty() {
            RunPhase::Idle
        } else {
            RunPhase::Running
        };
        let limits = limits::LimitState::new(&opts.plan, now);
        let mut core = Core {
            limits,
            pools,
            plan: opts.plan,
            clock,
            tasks,
            links: ShimLinks::default(),
            halt: None,
            merges: MergeQueue::default(),
            early: early_warning::Watch::starting_at(now),
            phase,
            journal: opts.journal,
            events,
            log: VecDeque::new(),
            log_total: 0,
            effects: Vec::new(),
            dirty: true,
            hosts: Vec::new(),
            last_halt: None,
            // Saturating: a damaged journal may hold a halt numbered u64::MAX.
            next_halt_id: opts.last_halt_id.saturating_add(1),
            started_ms: now,
            plan_name: opts.plan_name,
            tmux_socket: opts.tmux_socket,
            exit_when_done: opts.exit_when_done,
            wait_on_halt: opts.wait_on_halt,
            ended_shims: Vec::new(),
            merge_retry_ms: None,
            shutdown: None,
            drain_until_ms: None,
            shim_checks: Vec::new(),
            next_poll_ms: now,
            polling: false,
            schedule_due: true,
            claims: None,
        };
        core.claims_at_start(opts.claims, shadows);
        let selection: Vec<&str> = opts.select.iter().map(|&t| core.task_id(t)).collect();
        let selection = selection.join(" ");
        core.record(Entry::new(Event::RunStarted { selection }, now));
        for (t, commit) in opts.found_merged {
            core.found_merged(t, commit);
        }
        for t in core.tasks.in_state(TaskState::Merging) {
            core.resume_merge(t);
        }
        core.check_budgets();
        core
    }

    pub(super) fn task_id(&self, t: TaskIdx) -> &str {
        &self.plan.plan.tasks[t.0].task_id
    }

    pub(super) fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    #[cfg(test)]
    pub fn phase(&self) -> RunPhase {
        self.phase
    }

    /// Take one input, then let the scheduler act on what changed.
    pub fn handle(&mut self, input: Input) {
        if matches!(input, Input::Request(_) | Input::Tick { .. }) {
            self.schedule_due = true;
        }
        match input {
            Input::Request(req) => self.on_request(req.command, req.reply),
            Input::Socket(ev) => self.on_socket(ev),
            Input::Spawned {
                task,
                attempt,
                result,
            } => self.on_spawned(task, attempt, result),
            Input::Validated {
                task,
                attempt,
                results,
            } => self.on_validated(task, attempt, results),
            Input::Merged { task, result } => self.on_merged(task, result),
            Input::Rebased { task, result } => self.on_rebased(task, result),
            Input::Removed { task, result } => {
                if let Err(e) = result {
                    self.warn(Some(task), format!("worktree kept: {e}"));
                }
            }
            Input::Panes { panes, listed_ms } => self.on_panes(panes, listed_ms),
            Input::PanesFailed => {
                self.polling = false;
                self.next_poll_ms = self.now() + POLL_MS;
            }
            Input::Tails { tails } => self.on_tails(tails),
            Input::Note {
                task,
                attempt,
                note,
            } => {
                if self.tasks[task].attempt() == attempt {
                    self.tasks[task].previous_note = Some(note);
                }
            }
            Input::ShimChecked {
                task,
                attempt,
                alive,
                tries,
            } => self.on_shim_checked(task, attempt, alive, tries),
            Input::FallbackDone { halt_id, task } => {
                let now_us = self.clock.mono_us();
                if let Some(h) = self.halt.as_mut() {
                    h.on_fallback_done(halt_id, task, now_us);
                }
                self.maybe_complete_halt();
            }
            Input::Scanned(result) => self.on_scanned(result),
            Input::Claims(news) => self.on_claims(news),
            Input::Tick { due_ms } => self.on_tick(due_ms),
        }
        self.reconcile();
    }

    /// Effects produced since the last call, in order.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Whether a new snapshot is worth publishing; clears the flag.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The hosts now (reachable or not, their workers): in the snapshot.
    pub fn set_hosts(&mut self, hosts: Vec<super::host_link::HostView>) {
        if hosts != self.hosts {
            self.hosts = hosts;
            self.dirty = true;
        }
    }

    pub(super) fn effect(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    fn on_request(&mut self, command: Command, reply: Option<oneshot::Sender<Reply>>) {
        if let Some(refusal) = self.refuse_foreign(&command) {
            if let Some(tx) = reply {
                let _ = tx.send(refusal);
            }
            return;
        }
        let answer = match command {
            Command::Status => Reply::Status(Box::new(self.snapshot())),
            Command::Halt if matches!(self.phase, RunPhase::Idle | RunPhase::Finished) => {
                Reply::Error {
                    message: "nothing to halt: no task is running".into(),
                }
            }
            // A second halt while halted would only report an empty one.
            Command::Halt if self.phase == RunPhase::Halted => Reply::Error {
                message: "already halted (switchboard resume reopens dispatch)".into(),
            },
            Command::Halt => return self.begin_halt(reply),
            Command::Resume => self.resume(),
            Command::Spawn { task, force } => self.spawn_now(&task, force),
            Command::RunGroup { group } => self.run_group(&group),
            Command::RunAll => self.run_all(),
            Command::Kill {
                task,
                keep_dependents,
            } => self.kill(&task, keep_dependents),
            Command::Restart { task } => self.restart(&task),
            Command::Recheck { task } => self.recheck(&task),
            Command::RebaseMerge { task } => self.rebase_merge(&task),
            Command::MarkDone { task, reason } => self.mark_done(&task, &reason),
            Command::PaneTail { task, lines } => return self.pane_tail(&task, lines, reply),
            Command::TaskDetail { task, log_lines } => {
                return self.task_detail(&task, log_lines, reply);
            }
            Command::Type { task, text } => self.type_line(&task, text),
            Command::Shutdown { halt } => {
                self.shutdown = Some(halt);
                // Already halted: nothing is left to stop, no second report.
                if halt && self.halt.is_none() && self.phase != RunPhase::Halted {
                    self.begin_halt(None);
                }
                Reply::Ok
            }
        };
        if let Some(tx) = reply {
            let _ = tx.send(answer);
        }
    }

    /// Apply the scheduler until it has nothing more to say.
    fn reconcile(&mut self) {
        if self.phase != RunPhase::Running || !std::mem::take(&mut self.schedule_due) {
            return;
        }
        for _ in 0..self.tasks.len() + 1 {
            let gate = self.gate();
            let mut slots = self.tasks.slots(&self.plan);
            self.adjust_slots(&mut slots);
            let steps = schedule::next_steps(&self.plan, &slots, &gate);
            if steps.is_empty() {
                break;
            }
            for step in steps {
                match step {
                    Step::Start { task, .. } => {
                        self.take_start(&step);
                        if self.claim_first(&step) {
                            continue;
                        }
                        self.start_attempt(TaskIdx(task));
                    }
                    Step::Skip { task, because } => {
                        let because = TaskIdx(because);
                        let (id, state) = (self.task_id(because), self.tasks[because].state());
                        // Not its own dependency: its group waits for that one's.
                        let own = self.plan.plan.tasks[task]
                            .dependencies
                            .iter()
                            .any(|d| d == id);
                        let reason = if own {
                            format!("dependency {id} is {}", state.as_str())
                        } else {
                            let group = &self.plan.plan.tasks[because.0].group;
                            format!(
                                "its group waits for {group}, where {id} is {}",
                                state.as_str()
                            )
                        };
                        self.set_state(TaskIdx(task), TaskState::Skipped, Some(reason));
                    }
                }
            }
        }
        self.skip_over_budget();
        let settled = self
            .tasks
            .iter()
            .all(|(_, t)| !t.selected || t.state().is_final() || t.state() == TaskState::Halted);
        let busy = self.merges.busy() || self.tasks.iter().any(|(_, t)| t.state().is_active());
        if settled && !busy {
            self.phase = RunPhase::Finished;
            self.pool_close(false);
            let summary = self.summary_words();
            self.record(Entry::new(Event::RunFinished { summary }, self.now()));
            self.effect(Effect::WriteExecutionLog);
        }
    }

    fn summary_words(&self) -> String {
        let mut counts: Vec<(TaskState, usize)> = Vec::new();
        for (_, t) in self.tasks.iter().filter(|(_, t)| t.selected) {
            match counts.iter_mut().find(|(s, _)| *s == t.state()) {
                Some((_, n)) => *n += 1,
                None => counts.push((t.state(), 1)),
            }
        }
        counts.sort();
        counts
            .iter()
            .map(|(s, n)| format!("{n} {}", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Journal an entry, fold it into its task, feed the log, tell subscribers.
    pub(super) fn record(&mut self, mut entry: Entry) {
        self.tag(&mut entry);
        if let Some(journal) = self.journal.as_mut()
            && let Err(e) = journal.append(&entry)
        {
            tracing::error!("journal write failed: {e}");
        }
        if let Some(t) = entry.task.as_deref().and_then(|id| self.plan.task_idx(id)) {
            self.tasks[TaskIdx(t)].record.apply(&entry);
        }
        if let Some(line) = words::log_line(&entry) {
            self.log.push_back(line);
            self.log_total += 1;
            if self.log.len() > LOG_TAIL {
                self.log.pop_front();
            }
        }
        self.release_if_ended(&entry);
        let _ = self.events.send(entry);
        self.dirty = true;
        self.schedule_due = true;
        self.early.stirred = true;
    }

    /// An event of task `t`'s current attempt.
    pub(super) fn record_task(&mut self, t: TaskIdx, event: Event) {
        let id = self.task_id(t).to_string();
        let attempt = self.tasks[t].attempt();
        self.record(Entry::new(event, self.now()).task(&id, attempt));
    }

    pub(super) fn warn(&mut self, t: Option<TaskIdx>, message: String) {
        let entry = Entry::new(Event::Warning { message }, self.now());
        match t {
            Some(t) => {
                let id = self.task_id(t).to_string();
                self.record(entry.task(&id, 0));
            }
            None => self.record(entry),
        }
    }

    pub(super) fn set_state(&mut self, t: TaskIdx, state: TaskState, reason: Option<String>) {
        if self.tasks[t].state() == state && reason.is_none() {
            return;
        }
        let profile = self.tasks[t].profile().to_string();
        self.record_task(
            t,
            Event::State {
                state,
                profile,
                reason,
            },
        );
    }

    /// Views, with why a profile starts nothing beside its tasks' state.
    fn task_views(&self, limits: &super::snapshot::LimitsView) -> Vec<super::snapshot::TaskView> {
        let mut views = self.tasks.views(&self.plan);
        for v in &mut views {
            let waits = v.selected && v.state == TaskState::Pending;
            if !(waits || v.state.is_active()) || v.profile.is_empty() {
                continue;
            }
            if let Some(why) = self.held_words(limits, &v.profile) {
                v.agent_state = Some(match v.agent_state.take() {
                    Some(s) => format!("{s} · {why}"),
                    None => why,
                });
            }
        }
        self.show_claims(&mut views);
        views
    }

    pub fn snapshot(&self) -> Snapshot {
        let limits = self.limits_view();
        Snapshot {
            plan_name: self.plan_name.clone(),
            integration_branch: self.plan.plan.settings.integration_branch.clone(),
            tmux_socket: self.tmux_socket.clone(),
            phase: self.phase,
            started_ms: self.started_ms,
            now_ms: self.now(),
            groups: group_views(&self.plan),
            tasks: self.task_views(&limits),
            log_tail: self.log.iter().cloned().collect(),
            log_total: self.log_total,
            last_halt: self.last_halt.clone(),
            limits,
            pools: self.pool_views(),
            hosts: self.hosts.clone(),
            local_capacity: (!self.plan.plan.settings.hosts.is_empty())
                .then_some(self.plan.plan.settings.max_parallel),
        }
    }
}

//! What a person asks for: spawn, run a group or the plan, kill, restart, read a pane,
//! type into one, and the halt cascade with its resume.

use super::Core;
use crate::engine::command::Reply;
use crate::engine::effect::Effect;
use crate::engine::event::{Event, Supervision};
use crate::engine::halt::HaltRun;
use crate::engine::schedule;
use crate::engine::snapshot::{AttemptOutcome, RunPhase, TaskState};
use crate::engine::tasks::TaskIdx;
use crate::worker::protocol::EngineMessage;
use tokio::sync::oneshot;

/// The longest line a person may type into a pane at once (a paste of a
/// paragraph fits; tmux takes much more).
const MAX_TYPED_BYTES: usize = 16 * 1024;

impl Core {
    pub(super) fn find(&self, task: &str) -> Result<TaskIdx, Reply> {
        self.plan
            .task_idx(task)
            .map(TaskIdx)
            .ok_or_else(|| Reply::Error {
                message: format!("no task '{task}' in the plan"),
            })
    }

    pub(super) fn open_dispatch(&mut self) {
        if matches!(self.phase, RunPhase::Idle | RunPhase::Finished) {
            self.phase = RunPhase::Running;
        }
    }

    fn refuse_while_halted(&self) -> Option<Reply> {
        matches!(self.phase, RunPhase::Halted | RunPhase::Halting).then(|| Reply::Error {
            message: "the run is halted: resume first".into(),
        })
    }

    /// `t` runs again: tasks skipped because of it (directly or through other
    /// skipped tasks) go back to pending. Any other dead end they still have
    /// skips them again, with its own reason.
    pub(super) fn revive_dependents(&mut self, t: TaskIdx, what: &str) {
        let mut todo = vec![t];
        while let Some(x) = todo.pop() {
            let dependents: Vec<TaskIdx> = self
                .tasks
                .in_state(TaskState::Skipped)
                .into_iter()
                .filter(|d| schedule::prerequisites(&self.plan, d.0).any(|p| p == x.0))
                .collect();
            for d in dependents {
                let why = format!("{} {what}", self.task_id(t));
                self.set_state(d, TaskState::Pending, Some(why));
                todo.push(d);
            }
        }
    }

    pub(super) fn spawn_now(&mut self, task: &str, force: bool) -> Reply {
        let t = match self.find(task) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let state = self.tasks[t].state();
        if state.is_active() {
            return Reply::Error {
                message: format!("{task} is already {}", state.as_str()),
            };
        }
        if state == TaskState::Done {
            return Reply::Error {
                message: format!("{task} is already done (merged)"),
            };
        }
        let missing =
            schedule::missing_prerequisites(&self.plan, &self.tasks.slots(&self.plan), t.0);
        if !missing.is_empty() && !force {
            let names: Vec<&str> = missing.iter().map(|&d| self.task_id(TaskIdx(d))).collect();
            return Reply::Error {
                message: format!("{task} has unfinished dependencies: {}", names.join(", ")),
            };
        }
        if let Some(refusal) = self.refuse_while_halted() {
            return refusal;
        }
        let run = &mut self.tasks[t];
        run.selected = true;
        run.forced = force && !missing.is_empty();
        run.not_before_ms = 0;
        run.restarts = 0;
        self.set_state(t, TaskState::Pending, Some("spawned by hand".into()));
        self.revive_dependents(t, "runs again");
        self.open_dispatch();
        Reply::Ok
    }

    pub(super) fn run_group(&mut self, group: &str) -> Reply {
        let Some(g) = self.plan.group_idx(group) else {
            return Reply::Error {
                message: format!("no group '{group}' in the plan"),
            };
        };
        let members: Vec<TaskIdx> = self.plan.tasks_in_group(g).map(TaskIdx).collect();
        let waiting = |s: TaskState| {
            matches!(
                s,
                TaskState::Pending | TaskState::Halted | TaskState::Skipped
            )
        };
        if !members.iter().any(|&t| waiting(self.tasks[t].state())) {
            return Reply::Error {
                message: format!(
                    "nothing to run in {group}: its tasks are done, running or stopped by hand"
                ),
            };
        }
        // Like `--with-deps`: a group whose prerequisites nobody runs would
        // wait forever, so they run first.
        let slots = self.tasks.slots(&self.plan);
        let mut pulled: Vec<TaskIdx> = Vec::new();
        for &t in &members {
            for d in schedule::missing_prerequisites(&self.plan, &slots, t.0) {
                let d = TaskIdx(d);
                if !members.contains(&d) && !pulled.contains(&d) {
                    pulled.push(d);
                }
            }
        }
        // Members skipped earlier get another chance; a dead end still in
        // their way skips them again, saying which.
        for &t in &members {
            if self.tasks[t].state() == TaskState::Skipped {
                let why = format!("group {group} run again");
                self.set_state(t, TaskState::Pending, Some(why));
            }
        }
        let runnable = |s: TaskState| matches!(s, TaskState::Pending | TaskState::Halted);
        for &t in members.iter().chain(&pulled) {
            if runnable(self.tasks[t].state()) {
                self.tasks[t].selected = true;
            }
        }
        // Failed, conflicted or cancelled prerequisites will not run again by
        // themselves: say so, as the group's tasks will be skipped for them.
        let (will_run, dead_ends): (Vec<TaskIdx>, Vec<TaskIdx>) = pulled.iter().partition(|&&d| {
            let s = self.tasks[d].state();
            runnable(s) || s.is_active()
        });
        let blocked_by = dead_ends
            .iter()
            .map(|&d| format!("{} ({})", self.task_id(d), self.tasks[d].state().as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let prerequisites = will_run
            .iter()
            .map(|&d| self.task_id(d))
            .collect::<Vec<_>>()
            .join(" ");
        let event = Event::GroupRun {
            group: group.to_string(),
            prerequisites,
            blocked_by,
        };
        self.record(crate::engine::event::Entry::new(event, self.now()));
        self.open_dispatch();
        Reply::Ok
    }

    /// Every task that is not done, running or stopped by hand: the whole
    /// plan, which the scheduler runs in group order as dependencies merge.
    /// Tasks skipped earlier get another chance, as with a group run.
    pub(super) fn run_all(&mut self) -> Reply {
        let mut chosen = 0;
        for t in self.tasks.indices() {
            match self.tasks[t].state() {
                TaskState::Skipped => {
                    let why = "the whole plan run again".to_string();
                    self.set_state(t, TaskState::Pending, Some(why));
                }
                TaskState::Pending | TaskState::Halted => {}
                _ => continue,
            }
            self.tasks[t].selected = true;
            chosen += 1;
        }
        if chosen == 0 {
            return Reply::Error {
                message: "nothing to run: every task is done, running or stopped by hand".into(),
            };
        }
        self.record(crate::engine::event::Entry::new(
            Event::PlanRun { tasks: chosen },
            self.now(),
        ));
        self.open_dispatch();
        Reply::Ok
    }

    pub(super) fn kill(&mut self, task: &str, keep_dependents: bool) -> Reply {
        let t = match self.find(task) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let state = self.tasks[t].state();
        if !state.is_active() && state != TaskState::Pending {
            return Reply::Error {
                message: format!("{task} has no worker ({})", state.as_str()),
            };
        }
        self.stop_worker(t);
        if keep_dependents {
            // The worker goes, the subtree stays: nothing is skipped, and the
            // task waits for a person to start it again.
            self.tasks[t].selected = false;
            let why = "killed by hand; its dependents wait for it".to_string();
            self.set_state(t, TaskState::Cancelled, Some(why.clone()));
            self.set_state(t, TaskState::Pending, Some(why));
        } else {
            self.set_state(t, TaskState::Cancelled, Some("killed by hand".into()));
        }
        Reply::Ok
    }

    pub(super) fn restart(&mut self, task: &str) -> Reply {
        let t = match self.find(task) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if let Some(refusal) = self.refuse_while_halted() {
            return refusal;
        }
        if self.tasks[t].state() == TaskState::Done {
            return Reply::Error {
                message: format!("{task} is already done (merged)"),
            };
        }
        self.stop_worker(t);
        let event = Event::Restart(Supervision {
            profile: Some(self.tasks[t].profile().to_string()),
            reason: "restarted by hand".into(),
            outcome: Some(AttemptOutcome::Cancelled),
            ..Default::default()
        });
        self.record_task(t, event);
        let run = &mut self.tasks[t];
        run.selected = true;
        run.forced = true;
        run.not_before_ms = 0;
        self.set_state(t, TaskState::Pending, Some("restarted by hand".into()));
        self.revive_dependents(t, "runs again");
        self.open_dispatch();
        Reply::Ok
    }

    /// A worker's pane, or the kept pane of a finished one; once the pane
    /// is gone, the end of its attempt's log.
    pub(super) fn pane_tail(
        &mut self,
        task: &str,
        lines: u32,
        reply: Option<oneshot::Sender<Reply>>,
    ) {
        let Some(t) = self.plan.task_idx(task).map(TaskIdx) else {
            if let Some(reply) = reply {
                let _ = reply.send(Reply::Error {
                    message: format!("no task {task}"),
                });
            }
            return;
        };
        let run = &self.tasks[t];
        let pane = run
            .worker
            .as_ref()
            .and_then(|w| w.pane_id.clone())
            .or_else(|| run.last_pane.clone());
        let attempt = run.attempt();
        let Some(reply) = reply else { return };
        self.effect(Effect::PaneTail {
            task: t,
            attempt,
            pane,
            lines,
            reply,
        });
    }

    /// What a task's journal and logs tell of it, for the detail view.
    pub(super) fn task_detail(
        &mut self,
        task: &str,
        log_lines: u32,
        reply: Option<oneshot::Sender<Reply>>,
    ) {
        let Some(reply) = reply else { return };
        match self.plan.task_idx(task).map(TaskIdx) {
            Some(t) => self.effect(Effect::TaskDetail {
                task: t,
                log_lines,
                reply,
            }),
            None => {
                let _ = reply.send(Reply::Error {
                    message: format!("no task {task}"),
                });
            }
        }
    }

    /// A person's line for a running agent: typed into its pane and
    /// submitted as its profile says, through the control connection, and
    /// journaled. One line only: a line
    /// break would press Enter early, and a control character is a key.
    pub(super) fn type_line(&mut self, task: &str, text: String) -> Reply {
        let t = match self.find(task) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if text.chars().any(char::is_control) {
            return Reply::Error {
                message: "one line of text, without control characters".into(),
            };
        }
        if text.len() > MAX_TYPED_BYTES {
            return Reply::Error {
                message: format!("at most {MAX_TYPED_BYTES} bytes at a time"),
            };
        }
        let state = self.tasks[t].state();
        let has_pane = self.tasks[t]
            .worker
            .as_ref()
            .filter(|w| w.exit.is_none() && state.is_active())
            .is_some_and(|w| w.pane_id.is_some());
        if !has_pane {
            return Reply::Error {
                message: format!(
                    "{task} has no running agent to type to ({})",
                    state.as_str()
                ),
            };
        }
        // Submitted the way its profile says (gemini's Enter comes apart).
        self.type_into(t, text.clone());
        self.record_task(t, Event::Typed { text });
        Reply::Ok
    }

    /// The halt cascade: stop dispatching, tell every shim at once; the
    /// reply (if any) goes out with the report.
    pub(super) fn begin_halt(&mut self, reply: Option<oneshot::Sender<Reply>>) {
        if let Some(h) = self.halt.as_mut() {
            h.wait(reply);
            return;
        }
        let id = self.next_halt_id;
        self.next_halt_id = self.next_halt_id.saturating_add(1);
        self.phase = RunPhase::Halting;
        let grace_ms = self.plan.plan.settings.halt.grace_ms;
        // Before the first send: a fast shim's ack is stamped by the socket
        // reader while this loop is still telling the others.
        let started_us = self.clock.mono_us();
        let mut targets = Vec::new();
        for (t, run) in self.tasks.iter() {
            let Some(w) = run.worker.as_ref() else {
                continue;
            };
            if !run.state().is_active() || w.exit.is_some() {
                continue;
            }
            let sent = w.send(EngineMessage::Halt {
                halt_id: id,
                grace_ms,
            });
            targets.push((t, sent));
        }
        self.pool_halt();
        let mut halt = HaltRun::new(id, started_us, grace_ms, targets);
        halt.wait(reply);
        self.halt = Some(halt);
        self.dirty = true;
        self.check_halt_deadlines();
        self.maybe_complete_halt();
    }

    /// Shims silent past the ack deadline, or not stopped well past their
    /// signals' grace, are stopped through tmux: `C-c`, then kill-session.
    pub(super) fn check_halt_deadlines(&mut self) {
        let now_us = self.clock.mono_us();
        let Some(h) = self.halt.as_mut() else { return };
        let halt_id = h.id();
        for t in h.due_fallbacks(now_us) {
            let run = &self.tasks[t];
            let pane = run.worker.as_ref().and_then(|w| w.pane_id.clone());
            let session = run.placement.session.clone();
            self.effects.push(Effect::HaltFallback {
                halt_id,
                task: t,
                pane,
                session,
            });
        }
    }

    pub(super) fn maybe_complete_halt(&mut self) {
        if !self.halt.as_ref().is_some_and(HaltRun::is_complete) {
            return;
        }
        let Some(h) = self.halt.take() else { return };
        let halted: Vec<TaskIdx> = h.tasks().collect();
        let plan = self.plan.clone();
        let tasks = &self.tasks;
        let (report, waiters) = h.finish(|t| {
            let id = plan.plan.tasks[t.0].task_id.clone();
            (id, tasks[t].placement.host.clone())
        });
        let why = format!("halt #{}", report.halt_id);
        for t in halted {
            // The halt stopped the agent; keep the pane (and the session) for reading.
            self.release_worker(t);
            self.set_state(t, TaskState::Halted, Some(why.clone()));
        }
        // Tasks still spawning are halted too; nothing else is dispatched.
        for t in self.tasks.in_state(TaskState::Assigned) {
            // Their spawn result will find no worker and kill the session.
            self.release_worker(t);
            self.set_state(t, TaskState::Halted, Some(why.clone()));
        }
        self.phase = RunPhase::Halted;
        let entry = crate::engine::event::Entry::new(Event::Halt(report.clone()), self.now());
        self.record(entry);
        self.last_halt = Some(report.clone());
        for w in waiters {
            let _ = w.send(Reply::Halt(report.clone()));
        }
    }

    pub(super) fn resume(&mut self) -> Reply {
        if self.halt.is_some() {
            return Reply::Error {
                message: "a halt is still in progress".into(),
            };
        }
        if self.phase != RunPhase::Halted {
            return Reply::Error {
                message: format!("nothing to resume: the run is {:?}", self.phase).to_lowercase(),
            };
        }
        for t in self.tasks.in_state(TaskState::Halted) {
            self.tasks[t].not_before_ms = 0;
            self.set_state(t, TaskState::Pending, Some("resumed".into()));
        }
        self.phase = RunPhase::Running;
        self.record(crate::engine::event::Entry::new(Event::Resume, self.now()));
        Reply::Ok
    }
}

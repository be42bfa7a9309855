//! Commands a person gives from the control room: spawn, run a group, kill,
//! restart, and read a pane.

use super::actor::{Actor, now_ms};
use super::command::Reply;
use super::journal::Entry;
use super::schedule;
use super::snapshot::{AttemptOutcome, RunPhase, TaskState};
use tokio::sync::oneshot;

impl Actor {
    fn find(&self, task: &str) -> Result<usize, Reply> {
        self.plan().task_idx(task).ok_or_else(|| Reply::Error {
            message: format!("no task '{task}' in the plan"),
        })
    }

    fn open_dispatch(&mut self) {
        if matches!(self.phase, RunPhase::Idle | RunPhase::Finished) {
            self.phase = RunPhase::Running;
        }
    }

    /// `t` runs again: tasks skipped because of it (directly or through other
    /// skipped tasks) go back to pending. Any other dead end they still have
    /// skips them again, with its own reason.
    fn revive_dependents(&mut self, t: usize) {
        let mut todo = vec![t];
        while let Some(x) = todo.pop() {
            let plan = self.plan();
            let dependents: Vec<usize> = (0..self.tasks.len())
                .filter(|&d| self.tasks[d].state == TaskState::Skipped)
                .filter(|&d| schedule::prerequisites(plan, d).any(|p| p == x))
                .collect();
            for d in dependents {
                let why = format!("{} runs again", self.task_id(t));
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
        let state = self.tasks[t].state;
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
        let missing = schedule::missing_prerequisites(self.plan(), &self.slots(), t);
        if !missing.is_empty() && !force {
            let names: Vec<&str> = missing.iter().map(|&d| self.task_id(d)).collect();
            return Reply::Error {
                message: format!("{task} has unfinished dependencies: {}", names.join(", ")),
            };
        }
        if self.phase == RunPhase::Halted || self.phase == RunPhase::Halting {
            return Reply::Error {
                message: "the run is halted: resume first".into(),
            };
        }
        let run = &mut self.tasks[t];
        run.selected = true;
        run.forced = force && !missing.is_empty();
        run.not_before_ms = 0;
        run.restarts = 0;
        self.set_state(t, TaskState::Pending, Some("spawned by hand".into()));
        self.revive_dependents(t);
        self.open_dispatch();
        Reply::Ok
    }

    pub(super) fn run_group(&mut self, group: &str) -> Reply {
        let Some(g) = self.plan().group_idx(group) else {
            return Reply::Error {
                message: format!("no group '{group}' in the plan"),
            };
        };
        let members: Vec<usize> = self.plan().tasks_in_group(g).collect();
        let waiting = |s: TaskState| {
            matches!(
                s,
                TaskState::Pending | TaskState::Halted | TaskState::Skipped
            )
        };
        if !members.iter().any(|&t| waiting(self.tasks[t].state)) {
            return Reply::Error {
                message: format!(
                    "nothing to run in {group}: its tasks are done, running or stopped by hand"
                ),
            };
        }
        // Like `--with-deps`: a group whose prerequisites nobody runs would
        // wait forever, so they run first.
        let mut pulled: Vec<usize> = Vec::new();
        for &t in &members {
            for d in schedule::missing_prerequisites(self.plan(), &self.slots(), t) {
                if !members.contains(&d) && !pulled.contains(&d) {
                    pulled.push(d);
                }
            }
        }
        // Members skipped earlier get another chance; a dead end still in
        // their way skips them again, saying which.
        for &t in &members {
            if self.tasks[t].state == TaskState::Skipped {
                self.set_state(
                    t,
                    TaskState::Pending,
                    Some(format!("group {group} run again")),
                );
            }
        }
        let runnable = |s: TaskState| matches!(s, TaskState::Pending | TaskState::Halted);
        for &t in members.iter().chain(&pulled) {
            if runnable(self.tasks[t].state) {
                self.tasks[t].selected = true;
            }
        }
        // Failed, conflicted or cancelled prerequisites will not run again by
        // themselves: say so, as the group's tasks will be skipped for them.
        let (will_run, dead_ends): (Vec<usize>, Vec<usize>) = pulled
            .iter()
            .partition(|&&d| runnable(self.tasks[d].state) || self.tasks[d].state.is_active());
        let names = |list: &[usize]| {
            list.iter()
                .map(|&d| format!("{} ({})", self.task_id(d), self.tasks[d].state.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let entry = Entry::new("group_run", now_ms())
            .with("group", group)
            .with(
                "prerequisites",
                will_run
                    .iter()
                    .map(|&d| self.task_id(d))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
            .with("blocked_by", names(&dead_ends));
        self.record(entry);
        self.open_dispatch();
        Reply::Ok
    }

    pub(super) fn kill(&mut self, task: &str) -> Reply {
        let t = match self.find(task) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if !self.tasks[t].state.is_active() && self.tasks[t].state != TaskState::Pending {
            return Reply::Error {
                message: format!("{task} has no worker ({})", self.tasks[t].state.as_str()),
            };
        }
        self.tasks[t].end_attempt(AttemptOutcome::Cancelled, now_ms());
        self.stop_worker(t);
        self.set_state(t, TaskState::Cancelled, Some("killed by hand".into()));
        Reply::Ok
    }

    pub(super) fn restart(&mut self, task: &str) -> Reply {
        let t = match self.find(task) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if self.phase == RunPhase::Halted || self.phase == RunPhase::Halting {
            return Reply::Error {
                message: "the run is halted: resume first".into(),
            };
        }
        if self.tasks[t].state == TaskState::Done {
            return Reply::Error {
                message: format!("{task} is already done (merged)"),
            };
        }
        self.tasks[t].end_attempt(AttemptOutcome::Cancelled, now_ms());
        self.stop_worker(t);
        let id = self.task_id(t).to_string();
        let attempt = self.tasks[t].attempt;
        self.record(
            Entry::new("restart", now_ms())
                .task(&id, attempt)
                .with("reason", "restarted by hand")
                .with("outcome", "cancelled")
                .with("profile", self.tasks[t].profile.clone()),
        );
        let run = &mut self.tasks[t];
        run.selected = true;
        run.forced = true;
        run.not_before_ms = 0;
        self.set_state(t, TaskState::Pending, Some("restarted by hand".into()));
        self.revive_dependents(t);
        self.open_dispatch();
        Reply::Ok
    }

    /// Read a worker's pane off the actor: the reply comes from a spawned task.
    pub(super) fn pane_tail(
        &mut self,
        task: &str,
        lines: u32,
        reply: Option<oneshot::Sender<Reply>>,
    ) {
        let pane = self.plan().task_idx(task).and_then(|t| {
            self.tasks[t]
                .worker
                .as_ref()
                .and_then(|w| w.pane_id.clone())
                // A finished worker's kept pane is still worth reading.
                .or_else(|| self.tasks[t].last_pane.clone())
        });
        let Some(reply) = reply else { return };
        let Some(target) = pane else {
            let _ = reply.send(Reply::PaneTail {
                lines: vec![format!("({task} has no pane)")],
            });
            return;
        };
        let control = self.control.clone();
        tokio::spawn(async move {
            let answer = match control.capture_tail(&target, lines).await {
                Ok(lines) => Reply::PaneTail { lines },
                Err(e) => Reply::PaneTail {
                    lines: vec![format!("(pane unavailable: {e})")],
                },
            };
            let _ = reply.send(answer);
        });
    }
}

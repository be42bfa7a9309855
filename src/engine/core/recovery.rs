//! Recovery by hand, for a task that failed, conflicted or whose merge its
//! integration check blocked: run only its checks again (the person fixed
//! its work in the worktree; passing, it goes back in the merge queue), rebase its
//! branch and merge again, or mark it done with a reason (it was finished
//! some other way).

use super::Core;
use crate::engine::command::Reply;
use crate::engine::effect::Effect;
use crate::engine::error::EngineError;
use crate::engine::snapshot::TaskState;
use crate::engine::tasks::TaskIdx;
use crate::git::RebaseOutcome;

/// States a person may recover a task from: its agent is gone, its work
/// (worktree and branch) is still there.
fn recoverable(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Failed
            | TaskState::Conflict
            | TaskState::MergeBlocked
            | TaskState::Cancelled
            | TaskState::Halted
    )
}

impl Core {
    fn recovering(&self, task: &str, what: &str) -> Result<TaskIdx, Reply> {
        let t = self.find(task)?;
        let state = self.tasks[t].state();
        if !recoverable(state) {
            return Err(Reply::Error {
                message: format!(
                    "{task} is {}: only a failed, conflicted, merge-blocked, cancelled or halted task can {what}",
                    state.as_str()
                ),
            });
        }
        if self.tasks[t]
            .worker
            .as_ref()
            .is_some_and(|w| w.exit.is_none())
        {
            return Err(Reply::Error {
                message: format!("{task}'s agent is still running: kill it first"),
            });
        }
        Ok(t)
    }

    /// Run `task`'s checks on its branch as it stands, without its agent:
    /// passing, it merges (and its dependents run); failing, it stays failed.
    pub(super) fn recheck(&mut self, task: &str) -> Reply {
        let t = match self.recovering(task, "be checked again") {
            Ok(t) => t,
            Err(r) => return r,
        };
        // Its kept pane goes (its output is in its attempt log): no agent
        // runs there again in this attempt, whatever the checks say.
        self.kill_session_of(t);
        self.tasks[t].rechecking = true;
        self.tasks[t].selected = true;
        self.set_state(
            t,
            TaskState::Validating,
            Some("checks run again by hand".into()),
        );
        let attempt = self.tasks[t].attempt();
        self.effect(Effect::Validate { task: t, attempt });
        self.revive_dependents(t, "is checked again");
        self.open_dispatch();
        Reply::Ok
    }

    /// Rebase a conflicted task's branch onto the integration branch; then
    /// its checks run and it merges as usual.
    pub(super) fn rebase_merge(&mut self, task: &str) -> Reply {
        let t = match self.recovering(task, "be rebased and merged") {
            Ok(t) => t,
            Err(r) => return r,
        };
        if self.tasks[t].state() != TaskState::Conflict {
            return Reply::Error {
                message: format!("{task} did not conflict: recheck runs its checks again"),
            };
        }
        let onto = self.plan.plan.settings.integration_branch.clone();
        self.kill_session_of(t);
        self.set_state(
            t,
            TaskState::Merging,
            Some(format!("rebasing onto {onto} by hand")),
        );
        self.effect(Effect::Rebase { task: t });
        Reply::Ok
    }

    pub(super) fn on_rebased(&mut self, t: TaskIdx, result: Result<RebaseOutcome, EngineError>) {
        if self.tasks[t].state() != TaskState::Merging {
            return;
        }
        let onto = self.plan.plan.settings.integration_branch.clone();
        let back = |why: String| (TaskState::Conflict, why);
        let (state, why) = match result {
            Ok(RebaseOutcome::Rebased) => {
                self.tasks[t].rechecking = true;
                self.tasks[t].selected = true;
                let why = format!("rebased onto {onto}: its checks run again");
                self.set_state(t, TaskState::Validating, Some(why));
                let attempt = self.tasks[t].attempt();
                self.effect(Effect::Validate { task: t, attempt });
                self.revive_dependents(t, "is checked again");
                self.open_dispatch();
                return;
            }
            Ok(RebaseOutcome::Conflict { files }) => back(format!(
                "the rebase onto {onto} conflicts too, in {}: resolve it in the worktree, then recheck",
                files.join(", ")
            )),
            Ok(RebaseOutcome::Uncommitted) => back(
                "not rebased: the worktree has uncommitted changes (commit or discard them first)"
                    .to_string(),
            ),
            Err(e) => back(format!("not rebased: {e}")),
        };
        self.set_state(t, state, Some(why));
    }

    /// `task` is done, by a person's word: its dependents may run. Nothing
    /// is merged; the reason is journaled with the state.
    pub(super) fn mark_done(&mut self, task: &str, reason: &str) -> Reply {
        let t = match self.recovering(task, "be marked done") {
            Ok(t) => t,
            Err(r) => return r,
        };
        let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        if reason.is_empty() {
            return Reply::Error {
                message: "say why it is done (a reason is journaled with it)".into(),
            };
        }
        self.kill_session_of(t);
        let why = format!("marked done by hand: {reason}");
        self.set_state(t, TaskState::Done, Some(why));
        self.revive_dependents(t, "was marked done");
        self.open_dispatch();
        Reply::Ok
    }
}

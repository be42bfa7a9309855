//! A pool worker's hands: its worktree moves to the next task's branch
//! (what the previous task left uncommitted is committed on that task's own
//! branch first, never dropped), the instruction is written, and the agent
//! is started in the worker's session, or left to be typed into.

use super::{Placement, Spawned, Workshop};
use crate::engine::error::EngineError;
use crate::engine::pool::{How, PoolOrder};
use crate::git::Repo;
use crate::plan::Task;
use crate::tmux::names;
use crate::worker::secret::AttemptSecret;

impl Workshop {
    pub fn pool_spawn(
        &self,
        task: &Task,
        attempt: u32,
        profile: &str,
        previous: Option<&str>,
        secret: Option<&AttemptSecret>,
        order: &PoolOrder,
    ) -> Result<Spawned, EngineError> {
        let place = Placement {
            worktree: order.place.worktree.clone(),
            branch: self.placement(task).branch,
            session: order.place.session.clone(),
            host: None,
        };
        let integration = &self.settings().integration_branch;
        let message = format!(
            "switchboard: save the uncommitted work left in {} worker {} before it takes {}",
            order.pool, order.worker, task.task_id
        );
        // Only a new worktree touches the registry (under the lock); moving
        // one touches its own files and makes a new branch, as an agent's
        // commits do, so merges need not wait for it.
        let moved = match Repo::is_linked_worktree(&place.worktree) {
            true => {
                self.repo
                    .switch_worktree(&place.worktree, &place.branch, integration, &message)
            }
            false => self.locked(|| {
                self.repo
                    .switch_worktree(&place.worktree, &place.branch, integration, &message)
            }),
        };
        let saved = moved.map_err(EngineError::Worktree)?.map(|s| {
            let short = &s.commit[..s.commit.len().min(10)];
            format!(
                "what was uncommitted on {} is committed there as {short}",
                s.branch
            )
        });
        self.write_instruction(task, &place.worktree, previous)?;
        let secret = match (&order.how, secret) {
            (How::Typed { pane }, _) => {
                return Ok(Spawned {
                    placement: place,
                    pane_id: pane.clone(),
                    pane_pid: None,
                    preaccepted: Vec::new(),
                    saved,
                });
            }
            (How::Started, Some(secret)) => secret,
            (How::Started, None) => {
                return Err(EngineError::Io {
                    what: "a pool start without its attempt's secret".into(),
                    source: std::io::Error::other("no secret"),
                });
            }
        };
        // Its session's pane is started again in place; a session gone
        // (killed by hand) or to be replaced (its worker died) is made anew.
        let pane = order.pane.as_deref().filter(|_| !order.fresh);
        let started = self.start_agent(task, attempt, profile, secret, &place, pane);
        let (pane, preaccepted) = match started {
            Err(EngineError::Tmux(e)) if pane.is_some() => {
                tracing::info!(
                    "{} worker {}: its pane is gone ({e}); a new session",
                    order.pool,
                    order.worker
                );
                self.start_agent(task, attempt, profile, secret, &place, None)?
            }
            other => other?,
        };
        Ok(Spawned {
            placement: place,
            pane_id: pane.id,
            pane_pid: pane.pid,
            preaccepted,
            saved,
        })
    }

    /// Where `task`'s work is checked out: the worktree on its branch (a
    /// pool worker's, while it holds the task), else its own worktree.
    pub(super) fn home(&self, task: &Task) -> Placement {
        let own = self.placement(task);
        if self.plan.pools.is_empty() {
            return own;
        }
        let on_branch = self.repo.list_worktrees().ok().and_then(|list| {
            list.into_iter()
                .find(|wt| wt.branch.as_deref() == Some(own.branch.as_str()) && wt.path.exists())
        });
        match on_branch {
            Some(wt) => Placement {
                worktree: wt.path,
                ..own
            },
            None => own,
        }
    }

    /// A pool task's branch checked out in a worktree of its own, when no
    /// worker holds it any more (checks by hand after its worker moved on).
    pub(super) fn ensure_home(&self, task: &Task) -> Result<Placement, EngineError> {
        let home = self.home(task);
        if !self.plan.pools.is_empty() && !home.worktree.exists() {
            let integration = &self.settings().integration_branch;
            self.locked(|| {
                self.repo
                    .add_worktree(&home.worktree, &home.branch, integration)
            })
            .map_err(EngineError::Worktree)?;
        }
        Ok(home)
    }
}

impl Workshop {
    /// Where worker `n` (1-based) of pool `spec` of engine `engine` lives:
    /// its worktree `<workspaceDir>/<slug>-<n>` and its session (`branch`
    /// is unused).
    pub fn pool_place(&self, spec: &crate::plan::PoolSpec, engine: u32, n: u32) -> Placement {
        let slug = spec.slug_of(engine);
        Placement {
            worktree: self
                .repo
                .root
                .join(&self.settings().workspace_dir)
                .join(format!("{slug}-{n}")),
            branch: String::new(),
            session: names::pool_session_name(&self.repo_key, &slug, n),
            host: None,
        }
    }
}

//! The core's side of the worker pools: a pool's task goes to one of its
//! idle workers, typed into the worker's live agent or started in its
//! session; an interactive agent that did its task waits at its prompt for
//! the next one; a worker that died gets a fresh session; the run's end
//! closes every pool session. Who holds what is `engine::pool`'s.

use super::Core;
use crate::engine::claim_book::Status;
use crate::engine::effect::Effect;
use crate::engine::error::EngineError;
use crate::engine::event::{Entry, Event};
use crate::engine::pool::{How, PoolOrder, Typing};
use crate::engine::snapshot::TaskState;
use crate::engine::tasks::TaskIdx;
use crate::engine::workshop::Spawned;
use crate::worker::protocol::EngineMessage;
use crate::worker::secret::AttemptSecret;

impl Core {
    /// Per pool, its workers free to take a task (the scheduler's gate).
    /// A pool task being claimed (several engines on the repository) takes
    /// a worker as soon as its claim is won: that worker is spoken for.
    pub(super) fn pool_idle(&self) -> Vec<usize> {
        let mut idle = self.pools.idle_counts();
        let Some(book) = self.claims.as_ref().filter(|_| !idle.is_empty()) else {
            return idle;
        };
        for t in self.tasks.indices() {
            let claiming = matches!(book.status(t), Status::Claiming { start: true, .. });
            if let (true, Some(p)) = (claiming, self.plan.pool_of[t.0]) {
                idle[p] = idle[p].saturating_sub(1);
            }
        }
        idle
    }

    /// Whether `profile`'s agent stays at its prompt between turns: a
    /// preset run interactively, or a profile whose screen rules know its
    /// idle prompt. Such an agent is typed its next task.
    pub(super) fn interactive(&self, profile: &str) -> bool {
        self.plan.plan.agents.get(profile).is_some_and(|a| {
            a.mode.as_deref() != Some("headless")
                && (a.preset.is_some() || !a.screen.idle.is_empty())
        })
    }

    /// Attempt `attempt` of pool task `t` goes to an idle worker of its pool.
    pub(super) fn pool_dispatch(
        &mut self,
        t: TaskIdx,
        attempt: u32,
        profile: String,
        note: Option<String>,
        secret: AttemptSecret,
    ) {
        let Some(p) = self.plan.pool_of[t.0] else {
            return;
        };
        let branch = self.tasks[t].placement.branch.clone();
        let Some(w) = self.pools.pick(p, &branch, &profile) else {
            // The gate counted one; a person's spawn may have taken it since.
            let e = EngineError::Io {
                what: format!("no idle worker in {}", self.plan.pools[p].label()),
                source: std::io::Error::other("all busy"),
            };
            return self.on_spawned(t, attempt, Err(e));
        };
        let at = (p, w);
        let how = self.pools.how(at, &profile, self.interactive(&profile));
        let label = self.plan.pools[p].label();
        // The task it held last is no longer there: it shows its own place.
        if let Some(l) = self.pools.worker(at).last.filter(|&l| l != t)
            && let Some(own) = self.pools.own_place(l)
        {
            self.tasks[l].placement = own;
        }
        let worker = self.pools.worker_mut(at);
        worker.task = Some(t);
        worker.spawning = Some((t, attempt));
        worker.last = Some(t);
        worker.how = Some(how.clone());
        // A live agent that does not take this task goes with its pane.
        let dropped = match how {
            How::Started => worker.agent.take(),
            How::Typed { .. } => None,
        };
        let order = PoolOrder {
            pool: label,
            worker: worker.n,
            place: worker.place.clone(),
            how: how.clone(),
            fresh: !worker.session,
            pane: worker.pane.clone(),
        };
        let secret = match how {
            How::Typed { .. } => {
                worker.typing = Some(Typing {
                    task: t,
                    attempt,
                    secret: Some(secret),
                    line: None,
                });
                None
            }
            How::Started => Some(secret),
        };
        if let Some(parked) = dropped {
            self.let_go(parked);
        }
        self.effect(Effect::PoolSpawn {
            task: t,
            attempt,
            profile,
            note,
            secret,
            order,
        });
    }

    /// A pool spawn came back; false when `t`'s spawn was not a pool's.
    /// Current: the worker learns its pane and branch, the dispatch is
    /// journaled, and a typed one tells the live agent's shim whose it is
    /// now (`result` turns into an error when that shim is gone). Stale
    /// (the task let go meanwhile): a started agent's session goes; a
    /// live agent stays as it was, nothing was typed.
    pub(super) fn pool_spawned(
        &mut self,
        t: TaskIdx,
        attempt: u32,
        current: bool,
        result: &mut Result<Spawned, EngineError>,
    ) -> bool {
        let Some(at) = self
            .pools
            .workers()
            .find(|(_, w)| w.spawning == Some((t, attempt)))
            .map(|(at, _)| at)
        else {
            return false;
        };
        let label = self.plan.pools[at.0].label();
        let worker = self.pools.worker_mut(at);
        worker.spawning = None;
        let typed = matches!(worker.how, Some(How::Typed { .. }));
        let spawned = match result.as_ref() {
            Ok(s) => s,
            Err(_) => {
                // What git did is unknown: no branch to come back to.
                worker.branch = None;
                if typed {
                    worker.typing = None;
                }
                return true;
            }
        };
        worker.branch = Some(spawned.placement.branch.clone());
        if !current {
            if typed {
                worker.typing = None;
            } else {
                worker.session = false;
                worker.pane = None;
                let session = worker.place.session.clone();
                self.effect(Effect::KillSession { session });
            }
            return true;
        }
        worker.session = true;
        worker.pane = Some(spawned.pane_id.clone());
        let n = worker.n;
        if typed {
            let line = self.typed_line(t, &spawned.placement.worktree);
            let id = self.task_id(t).to_string();
            let worker = self.pools.worker_mut(at);
            let parked = worker.agent.take();
            let typing = worker.typing.as_mut().filter(|ty| ty.task == t);
            let told = match (parked, typing) {
                (Some(parked), Some(typing)) => {
                    let secret = typing.secret.take().unwrap_or_default();
                    typing.line = Some(line);
                    let sent = parked.tx.send(EngineMessage::Reassign {
                        task: id,
                        attempt,
                        secret,
                    });
                    let shim_pid = parked.shim_pid;
                    // Its line stays open until the shim closes it: closed
                    // from here, the shim could read the end of it before
                    // the message, and reconnect only after its backoff.
                    worker.rebinding = Some((parked.conn, parked.tx));
                    sent.is_ok().then_some(shim_pid)
                }
                _ => None,
            };
            let Some(shim_pid) = told else {
                worker.typing = None;
                *result = Err(EngineError::Io {
                    what: format!("{label} worker {n}'s agent is gone"),
                    source: std::io::Error::other("no shim to tell"),
                });
                return true;
            };
            if let Some(w) = self.tasks[t].worker.as_mut() {
                // Past its first prompt: the task is typed, never `typePrompt`.
                w.screen.prompt_typed = true;
                w.shim_pid = shim_pid;
            }
        }
        let how = if typed { "typed" } else { "started" }.to_string();
        let saved = spawned.saved.clone();
        self.record_task(
            t,
            Event::PoolDispatched {
                pool: label,
                worker: n,
                how,
                saved,
            },
        );
        true
    }

    /// The one line a live agent is typed for its next task: its id,
    /// title and instruction (no control characters: they would be keys).
    fn typed_line(&self, t: TaskIdx, worktree: &std::path::Path) -> String {
        let task = &self.plan.plan.tasks[t.0];
        let title: String = task.title.split_whitespace().collect::<Vec<_>>().join(" ");
        let path = worktree.join(crate::instruction::FILE_NAME);
        let line = format!(
            "Next task {}: {title}. Read {} and do what it says in this worktree, commit your work, and say when you are done.",
            task.task_id,
            path.display()
        );
        line.chars().filter(|c| !c.is_control()).collect()
    }

    /// `t`'s shim said hello for its attempt: a task that came by typing
    /// is typed in now that its shim speaks for it.
    pub(super) fn pool_bound(&mut self, t: TaskIdx, attempt: u32) {
        let Some(at) = self.pools.typing_for(t) else {
            return;
        };
        let worker = self.pools.worker_mut(at);
        let ready = worker
            .typing
            .as_ref()
            .is_some_and(|ty| ty.attempt == attempt && ty.line.is_some());
        if !ready {
            return;
        }
        if let Some(line) = worker.typing.take().and_then(|ty| ty.line) {
            self.type_into(t, line);
        }
    }

    /// Whether a pool worker's worktree is on `t`'s branch (its own
    /// worktree, made for a recheck, is not a worker's).
    pub(super) fn pool_worker_on_branch_of(&self, t: TaskIdx) -> bool {
        let branch = &self.tasks[t].placement.branch;
        self.pools
            .workers()
            .any(|(_, w)| w.branch.as_ref() == Some(branch))
    }

    /// A finished pool task's worker keeps its session for the next task.
    pub(super) fn pool_keeps_session(&self, t: TaskIdx) -> bool {
        self.plan.pool_of[t.0].is_some()
            && matches!(
                self.tasks[t].state(),
                TaskState::Merging | TaskState::MergeHeld
            )
    }

    /// Whether `t`'s session (`session`) may be closed: not a pool worker's
    /// that has moved on to another task. A pool worker's that may is
    /// forgotten as closed.
    pub(super) fn pool_may_close(&mut self, t: TaskIdx, session: &str) -> bool {
        let Some(at) = self.pools.by_session(session) else {
            return true;
        };
        let worker = self.pools.worker(at);
        let elsewhere = worker.task.is_some_and(|h| h != t) || worker.spawning.is_some();
        if elsewhere || worker.last != Some(t) {
            return false;
        }
        let worker = self.pools.worker_mut(at);
        worker.session = false;
        worker.pane = None;
        if let Some(parked) = worker.agent.take() {
            self.let_go(parked);
        }
        true
    }

    /// `t`'s worker was judged DEAD: its pool worker gets a fresh session
    /// for its next task (the task itself is restarted or escalated as any).
    pub(super) fn pool_worker_died(&mut self, t: TaskIdx, reason: &str) {
        let Some(at) = self.pools.holder(t) else {
            return;
        };
        let pool = self.plan.pools[at.0].label();
        let worker = self.pools.worker_mut(at);
        worker.session = false;
        worker.pane = None;
        worker.replaced += 1;
        let event = Event::PoolWorkerReplaced {
            pool,
            worker: worker.n,
            reason: reason.to_string(),
        };
        self.record(Entry::new(event, self.now()));
    }

    /// The run's end (`closing`: the engine's, when workers at work go
    /// too): every pool session closes, its agent with it, and the shims
    /// are waited for; a worker whose last task merged has its worktree
    /// removed when `removeMergedWorktrees` says so (else it is kept, as a
    /// task's is).
    pub(super) fn pool_close(&mut self, closing: bool) {
        let remove = self.plan.plan.settings.remove_merged_worktrees;
        let ats: Vec<_> = self.pools.workers().map(|(at, _)| at).collect();
        for at in ats {
            let worker = self.pools.worker(at);
            let at_work = worker.task.is_some() || worker.spawning.is_some();
            if at_work && !closing {
                continue;
            }
            if let Some(t) = worker.task
                && let Some(w) = self.tasks[t].worker.as_ref()
            {
                self.ended_shims.extend(w.shim_pid);
            }
            let worker = self.pools.worker(at);
            let merged = worker.last.filter(|&l| {
                self.tasks[l].state() == TaskState::Done
                    && worker.branch.as_deref() == Some(self.tasks[l].placement.branch.as_str())
            });
            let worker = self.pools.worker_mut(at);
            let parked = worker.agent.take();
            // A session may be in the making for a task at work: closed too.
            let open = std::mem::take(&mut worker.session)
                | worker.pane.take().is_some()
                | (closing && at_work);
            let session = worker.place.session.clone();
            if let Some(parked) = parked {
                self.let_go(parked);
            }
            if open {
                self.effect(Effect::KillSession { session });
            }
            if let (true, Some(l)) = (remove, merged) {
                self.pools.worker_mut(at).branch = None;
                self.effect(Effect::RemoveWorktree { task: l });
            }
        }
    }
}

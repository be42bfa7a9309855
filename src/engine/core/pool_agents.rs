//! Live interactive agents between a pool's tasks: one whose task merged
//! stays with its worker at its prompt (its shim's line kept, heard on no
//! task's behalf), is halted with the rest, and is let go of with its pane.

use super::Core;
use crate::engine::pool::Parked;
use crate::engine::snapshot::TaskState;
use crate::engine::socket::ConnId;
use crate::engine::tasks::{TaskIdx, Worker};
use crate::worker::protocol::{EngineMessage, ShimMessage};

impl Core {
    /// A parked agent's shim this engine lets go of: it gets its `bye`s and
    /// is waited for when the run closes.
    pub(super) fn let_go(&mut self, parked: Parked) {
        self.ended_shims.extend(parked.shim_pid);
        self.links.dismiss(parked.conn, parked.tx);
    }

    /// `t` lets go of its worker `w`. True when its live interactive agent
    /// stays with the pool worker for the next task (its work was
    /// validated: it is at its prompt); its shim's line goes with it.
    pub(super) fn pool_release(&mut self, t: TaskIdx, w: &mut Worker) -> bool {
        let Some(at) = self.pools.holder(t) else {
            return false;
        };
        let profile = self.tasks[t].profile().to_string();
        let done_work = matches!(
            self.tasks[t].state(),
            TaskState::Merging | TaskState::MergeHeld
        );
        let keep = done_work && w.exit.is_none() && self.interactive(&profile);
        let worker = self.pools.worker_mut(at);
        worker.task = None;
        if worker.typing.as_ref().is_some_and(|ty| ty.task == t) {
            worker.typing = None;
        }
        let (Some(conn), Some(tx), true) = (w.conn, w.tx.clone(), keep) else {
            return false;
        };
        worker.agent = Some(Parked {
            conn,
            tx,
            shim_pid: w.shim_pid,
            profile,
        });
        w.conn = None;
        w.tx = None;
        self.links.closed(conn);
        true
    }

    /// A parked agent's shim spoke (on no task's line): its beats are
    /// heard; its agent's exit frees the worker. False: not a parked one.
    pub(super) fn pool_heard(&mut self, conn: ConnId, msg: &ShimMessage) -> bool {
        let Some(at) = self.pools.parked_on(conn) else {
            return false;
        };
        if matches!(msg, ShimMessage::Exit { .. })
            && let Some(parked) = self.pools.worker_mut(at).agent.take()
        {
            let _ = parked.tx.send(EngineMessage::Bye);
            self.ended_shims.extend(parked.shim_pid);
            self.dirty = true;
        }
        true
    }

    /// A connection no task holds closed: a parked agent's shim gone, or
    /// one told to speak for its next task reconnecting.
    pub(super) fn pool_hung_up(&mut self, conn: ConnId) {
        if let Some(at) = self.pools.rebinding_on(conn) {
            self.pools.worker_mut(at).rebinding = None;
        }
        if let Some(at) = self.pools.parked_on(conn)
            && let Some(parked) = self.pools.worker_mut(at).agent.take()
        {
            self.ended_shims.extend(parked.shim_pid);
            self.dirty = true;
        }
    }

    /// The halt stops idle pools' live agents too (no task: not in its report).
    pub(super) fn pool_halt(&mut self) {
        let grace_ms = self.plan.plan.settings.halt.grace_ms;
        for (_, w) in self.pools.workers() {
            if let Some(parked) = &w.agent {
                let _ = parked.tx.send(EngineMessage::Halt {
                    halt_id: 0,
                    grace_ms,
                });
            }
        }
    }
}

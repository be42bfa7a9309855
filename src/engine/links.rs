//! The shims' connections: which connection speaks for which task, and the
//! shims let go of before their agent exited, which still want a `bye` once
//! they report the exit (or they would wait for one for minutes).

use super::socket::ConnId;
use super::tasks::{TaskIdx, Worker};
use crate::worker::protocol::EngineMessage;
use std::collections::HashMap;
use tokio::sync::mpsc::UnboundedSender;

#[derive(Debug, Default)]
pub struct ShimLinks {
    conns: HashMap<ConnId, TaskIdx>,
    draining: HashMap<ConnId, UnboundedSender<EngineMessage>>,
}

impl ShimLinks {
    pub fn bind(&mut self, conn: ConnId, t: TaskIdx) {
        self.conns.insert(conn, t);
    }

    pub fn task_of(&self, conn: ConnId) -> Option<TaskIdx> {
        self.conns.get(&conn).copied()
    }

    /// A shim this engine has no use for: say goodbye, and once more after
    /// its agent's exit if the first one came too early.
    pub fn dismiss(&mut self, conn: ConnId, tx: UnboundedSender<EngineMessage>) {
        let _ = tx.send(EngineMessage::Bye);
        self.draining.insert(conn, tx);
    }

    /// A dismissed shim reported its agent's exit: its final `bye`.
    pub fn exit_of_dismissed(&mut self, conn: ConnId) {
        if let Some(tx) = self.draining.remove(&conn) {
            let _ = tx.send(EngineMessage::Bye);
        }
    }

    /// The connection closed; the task it spoke for, if any.
    pub fn closed(&mut self, conn: ConnId) -> Option<TaskIdx> {
        self.draining.remove(&conn);
        self.conns.remove(&conn)
    }

    /// Let go of a worker's connection. A shim whose agent has not exited yet
    /// is kept draining, so its exit still gets a `bye`.
    pub fn release(&mut self, w: &mut Worker) {
        if let Some(c) = w.conn {
            self.conns.remove(&c);
            if w.exit.is_none()
                && let Some(tx) = w.tx.take()
            {
                self.draining.insert(c, tx);
            }
        }
    }

    /// No let-go shim still waits for its `bye`.
    pub fn drained(&self) -> bool {
        self.draining.is_empty()
    }
}

//! The front ends' end of the engine: requests in, snapshots out.
//!
//! The TUI and the headless runner hold an [`EngineLink`]; they never share
//! state with the engine. A link to an engine in another process (over the
//! control socket) has the same shape.

use super::command::{Command, Reply};
use super::snapshot::Snapshot;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// A command with the channel its reply goes back on.
#[derive(Debug)]
pub struct Request {
    pub command: Command,
    pub reply: Option<oneshot::Sender<Reply>>,
}

#[derive(Debug, Clone)]
pub struct EngineLink {
    pub requests: mpsc::Sender<Request>,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
}

impl EngineLink {
    /// Send a command and wait for its reply. A gone engine is an error reply.
    pub async fn call(&self, command: Command) -> Reply {
        let (tx, rx) = oneshot::channel();
        let request = Request {
            command,
            reply: Some(tx),
        };
        if self.requests.send(request).await.is_err() {
            return Reply::Error {
                message: "the engine has stopped".into(),
            };
        }
        rx.await.unwrap_or(Reply::Error {
            message: "the engine dropped the request".into(),
        })
    }

    /// Send a command without waiting; false when the engine is gone or busy.
    pub fn send(&self, command: Command) -> bool {
        self.requests
            .try_send(Request {
                command,
                reply: None,
            })
            .is_ok()
    }

    /// The newest snapshot; cheap (an `Arc` clone).
    pub fn latest(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }
}

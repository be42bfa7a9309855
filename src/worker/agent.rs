//! The agent's keeper: a task that notices the agent's exit, clears what is
//! left of its process group, and runs the stop cascade (SIGINT → SIGTERM →
//! SIGKILL) for halts.
//!
//! It reports on one channel, in order: every `Stopped` for a cascade comes
//! before the `Exited` that the cascade caused.

use super::job;
use super::protocol::{ExitStatus, StopSignal};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::time::{Duration, Instant};
use tokio::signal::unix::Signal as SignalStream;
use tokio::sync::mpsc;
use tokio::time::sleep;

/// How often group membership is re-checked while waiting for it to empty
/// (SIGCHLD says when a child ends, not when a grandchild does).
const POLL: Duration = Duration::from_millis(20);
/// Idle re-check, in case a SIGCHLD was coalesced away.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// What leftovers get between SIGTERM and SIGKILL after the agent has exited:
/// enough for a stray `git` to drop its lock files.
const LEFTOVER_GRACE: Duration = Duration::from_secs(1);

/// Exit status used when `sh` itself could not be started (the shell's "not found").
pub const NOT_STARTED: ExitStatus = ExitStatus {
    code: Some(127),
    signal: None,
};

/// Stop the agent: an engine halt (`halt_id`) or the shim's own SIGHUP/SIGTERM.
#[derive(Debug, Clone)]
pub struct StopRequest {
    pub halt_id: Option<u64>,
    pub grace: Duration,
    /// When the request arrived: `stop_ms` counts from here.
    pub received: Instant,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// The group is gone; one per stop request.
    Stopped {
        halt_id: Option<u64>,
        stop_ms: u64,
        signal: StopSignal,
    },
    /// The agent has ended and its group is gone (or would not go in time).
    Exited(ExitStatus),
}

/// Start the keeper. `agent` is None when the agent could not be started.
/// `sigchld` must have been registered before the agent was spawned.
pub fn spawn_keeper(
    agent: Option<Pid>,
    sigchld: SignalStream,
    requests: mpsc::Receiver<StopRequest>,
    events: mpsc::Sender<AgentEvent>,
) {
    let keeper = Keeper {
        sigchld,
        requests,
        events,
    };
    tokio::spawn(keeper.run(agent));
}

struct Keeper {
    sigchld: SignalStream,
    requests: mpsc::Receiver<StopRequest>,
    events: mpsc::Sender<AgentEvent>,
}

impl Keeper {
    async fn run(mut self, agent: Option<Pid>) {
        let status = match agent {
            Some(pgid) => self.watch(pgid).await,
            None => NOT_STARTED,
        };
        self.emit(AgentEvent::Exited(status)).await;
        // Halts that come after the exit find nothing to stop.
        while let Some(request) = self.requests.recv().await {
            self.emit(stopped(&request, StopSignal::None)).await;
        }
    }

    /// Wait for the agent to end on its own or be stopped; returns its status
    /// once its whole group is gone.
    async fn watch(&mut self, pgid: Pid) -> ExitStatus {
        let mut requests_open = true;
        loop {
            if let Some(status) = job::reap(pgid) {
                self.clear_leftovers(pgid).await;
                return status;
            }
            tokio::select! {
                _ = self.sigchld.recv() => {}
                _ = sleep(IDLE_POLL) => {}
                request = self.requests.recv(), if requests_open => match request {
                    Some(request) => return self.stop(pgid, request).await,
                    None => requests_open = false,
                },
            }
        }
    }

    /// The halt cascade: SIGINT, then SIGTERM after `grace`, then SIGKILL
    /// after twice that again, until the group is gone and the agent reaped.
    /// Requests arriving meanwhile join this cascade.
    async fn stop(&mut self, pgid: Pid, first: StopRequest) -> ExitStatus {
        if let Some(status) = job::reap(pgid) {
            // It ended on its own just before the halt: nothing to stop.
            self.clear_leftovers(pgid).await;
            self.emit(stopped(&first, StopSignal::None)).await;
            return status;
        }
        let grace = first.grace;
        let mut waiting = vec![first];
        let mut status = None;
        let mut last = StopSignal::None;
        let steps = [
            (Signal::SIGINT, StopSignal::Sigint, Some(grace)),
            (Signal::SIGTERM, StopSignal::Sigterm, Some(grace * 2)),
            (Signal::SIGKILL, StopSignal::Sigkill, None),
        ];
        for (sig, name, wait) in steps {
            if all_gone(pgid, status.is_some()) {
                break;
            }
            job::signal_group(pgid, sig);
            if sig != Signal::SIGKILL {
                // A stopped process would hold the signal until continued.
                job::signal_group(pgid, Signal::SIGCONT);
            }
            last = name;
            let deadline = wait.map(|w| Instant::now() + w);
            while !all_gone(pgid, status.is_some()) {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                tokio::select! {
                    _ = self.sigchld.recv() => {}
                    _ = sleep(POLL) => {}
                    Some(request) = self.requests.recv() => waiting.push(request),
                }
                if let Some(s) = job::reap(pgid) {
                    status = Some(s);
                }
            }
        }
        for request in &waiting {
            self.emit(stopped(request, last)).await;
        }
        status.unwrap_or(ExitStatus {
            code: None,
            signal: Some(Signal::SIGKILL as i32),
        })
    }

    /// After the agent has exited: whatever it left in its group gets
    /// SIGTERM, then SIGKILL, so no agent process outlives its worker.
    async fn clear_leftovers(&mut self, pgid: Pid) {
        for (sig, wait) in [
            (Signal::SIGTERM, LEFTOVER_GRACE),
            (Signal::SIGKILL, LEFTOVER_GRACE * 5),
        ] {
            if !job::group_alive(pgid) {
                return;
            }
            tracing::info!("agent left processes in group {pgid}; sending {sig}");
            job::signal_group(pgid, sig);
            job::signal_group(pgid, Signal::SIGCONT);
            let deadline = Instant::now() + wait;
            while job::group_alive(pgid) && Instant::now() < deadline {
                tokio::select! {
                    _ = self.sigchld.recv() => {}
                    _ = sleep(POLL) => {}
                }
                job::reap(pgid);
            }
        }
        if job::group_alive(pgid) {
            tracing::warn!("process group {pgid} survives SIGKILL (uninterruptible?)");
        }
    }

    async fn emit(&self, event: AgentEvent) {
        if self.events.send(event).await.is_err() {
            tracing::debug!("the shim's main loop is gone; agent event dropped");
        }
    }
}

/// The cascade is done when the agent is reaped and no group member is left.
fn all_gone(pgid: Pid, reaped: bool) -> bool {
    reaped && !job::group_alive(pgid)
}

fn stopped(request: &StopRequest, signal: StopSignal) -> AgentEvent {
    AgentEvent::Stopped {
        halt_id: request.halt_id,
        stop_ms: u64::try_from(request.received.elapsed().as_millis()).unwrap_or(u64::MAX),
        signal,
    }
}

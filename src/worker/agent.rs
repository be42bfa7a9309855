//! The agent's keeper: a task that notices the agent's exit, runs the stop
//! cascade (SIGINT → SIGTERM → SIGKILL) on its process group for halts, and
//! then ends whatever the agent left anywhere below the shim.
//!
//! It reports on one channel, in order: every `Stopped` for a cascade comes
//! before the `Exited` that the cascade caused, and `Exited` comes once no
//! process of the attempt is left.

use super::protocol::{ExitStatus, StopSignal};
use super::{job, tree};
use nix::sys::signal::Signal;
use nix::unistd::{Pid, getpid};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::signal::unix::Signal as SignalStream;
use tokio::sync::mpsc;
use tokio::time::sleep;

/// How often group membership is re-checked while waiting for it to empty
/// (SIGCHLD says when a child ends, not when a grandchild does).
const POLL: Duration = Duration::from_millis(20);
/// Idle re-check, in case a SIGCHLD was coalesced away.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// What leftovers get between SIGTERM and SIGKILL after the agent has exited
/// on its own: enough for a stray `git` to drop its lock files.
const LEFTOVER_GRACE: Duration = Duration::from_secs(1);
/// How long SIGKILLed leftovers may take to go before the exit is reported
/// anyway (a process in uninterruptible sleep dies only when it wakes).
const KILL_WAIT: Duration = Duration::from_secs(5);

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
    /// The agent's group is gone; one per stop request.
    Stopped {
        halt_id: Option<u64>,
        stop_ms: u64,
        signal: StopSignal,
    },
    /// The agent has ended and every process it left is gone (or would not
    /// go in time).
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
            Some(pgid) => {
                let (status, grace) = self.watch(pgid).await;
                self.end_leftovers(pgid, grace).await;
                status
            }
            None => NOT_STARTED,
        };
        self.emit(AgentEvent::Exited(status)).await;
        // Halts that come after the exit find nothing to stop.
        while let Some(request) = self.requests.recv().await {
            self.emit(stopped(&request, StopSignal::None)).await;
        }
    }

    /// Wait for the agent to end on its own or be stopped. Returns its status,
    /// and the grace its leftovers get between SIGTERM and SIGKILL: a stop's
    /// own grace, or [`LEFTOVER_GRACE`] when it ended on its own.
    async fn watch(&mut self, pgid: Pid) -> (ExitStatus, Duration) {
        let mut requests_open = true;
        loop {
            if let Some(status) = job::reap(pgid) {
                return (status, LEFTOVER_GRACE);
            }
            tokio::select! {
                _ = self.sigchld.recv() => {}
                _ = sleep(IDLE_POLL) => {}
                request = self.requests.recv(), if requests_open => match request {
                    Some(request) => {
                        let grace = request.grace;
                        return (self.stop(pgid, request).await, grace);
                    }
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

    /// After the agent is reaped: whatever it left, in its group or escaped
    /// from it (`setsid`, a double fork), gets SIGTERM, then SIGKILL after
    /// `grace`, and is reaped. The shim is a subreaper, so all of it is below
    /// the shim; each process gets each signal once, including any forked
    /// while this runs.
    async fn end_leftovers(&mut self, pgid: Pid, grace: Duration) {
        let shim = getpid();
        let mut left = Vec::new();
        for (sig, wait) in [(Signal::SIGTERM, grace), (Signal::SIGKILL, KILL_WAIT)] {
            let deadline = Instant::now() + wait;
            let mut told = BTreeSet::new();
            let mut group_told = false;
            loop {
                job::reap(pgid);
                left = tree::descendants(shim);
                let group_alive = job::group_alive(pgid);
                if left.is_empty() && !group_alive {
                    return;
                }
                if Instant::now() >= deadline {
                    break;
                }
                if told.is_empty() && !group_told {
                    tracing::info!("the agent left processes {left:?}; sending {sig}");
                }
                if left.is_empty() && !group_told {
                    group_told = true;
                    // The group lives on but /proc shows nothing below the shim
                    // (no /proc, or not a subreaper): the group is all we know.
                    job::signal_group(pgid, sig);
                    if sig != Signal::SIGKILL {
                        job::signal_group(pgid, Signal::SIGCONT);
                    }
                }
                let newcomers: Vec<Pid> = left
                    .iter()
                    .copied()
                    .filter(|&pid| told.insert(pid))
                    .collect();
                tree::signal_each(&newcomers, sig);
                if sig != Signal::SIGKILL {
                    // A stopped process would hold the signal until continued.
                    tree::signal_each(&newcomers, Signal::SIGCONT);
                }
                tokio::select! {
                    _ = self.sigchld.recv() => {}
                    _ = sleep(POLL) => {}
                }
            }
        }
        tracing::warn!("processes {left:?} survive SIGKILL (uninterruptible?)");
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

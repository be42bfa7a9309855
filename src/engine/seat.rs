//! An engine's place on its repository, taken as it starts: its number
//! (`.switchboard/engines/<n>`), its sockets, its tmux control connection,
//! and the claims of the tasks it takes up at once.

use super::claim_files::{ClaimDir, Seats};
use super::claims::{Acquired, ClaimStart, ClaimStore, EngineTag};
use super::fold::TaskRecord;
use super::snapshot::TaskState;
use super::socket;
use super::tasks::TaskIdx;
use crate::plan::ValidPlan;
use crate::tmux::control::ControlClient;
use crate::tmux::names;
use color_eyre::eyre::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixListener;

/// An engine's sockets: its own (for its shims), and the repository's
/// well-known one when it is the first engine (front ends attach there);
/// and its tmux control connection.
pub(super) struct Sockets {
    pub own: (PathBuf, UnixListener),
    pub first: Option<(PathBuf, UnixListener)>,
    pub control: ControlClient,
    pub control_session: String,
}

impl Sockets {
    pub fn paths(&self) -> Vec<PathBuf> {
        let first = self.first.as_ref().map(|(p, _)| p.clone());
        [self.own.0.clone()].into_iter().chain(first).collect()
    }
}

/// Take an engine number (`.switchboard/engines/<n>`), bind the engine's
/// sockets and connect to tmux, under the seats' lock: engines starting at
/// once each get their own number, exactly one of them the well-known
/// socket, and one tmux server (two clients starting the server at once
/// start two, and one of them, cut off from the socket, lives on with its
/// client: an engine whose control connection is there sees none of the
/// panes it starts).
pub(super) async fn take_seat(
    root: &Path,
    key: &str,
    tmux_socket: Option<&str>,
) -> Result<(EngineTag, Sockets)> {
    let dot = root.join(".switchboard");
    let seats =
        Seats::lock(&dot).wrap_err("cannot take an engine number (.switchboard/engines)")?;
    let mut seat = seats
        .take(|n| socket::engine_socket_path(key, n))
        .wrap_err("cannot take an engine number (.switchboard/engines)")?;
    let me = seat.tag.clone();
    let own = seat.socket.clone();
    let listener = socket::bind(&own)
        .await
        .wrap_err("cannot open the engine socket")?;
    let well_known =
        socket::socket_path(key).wrap_err("cannot create the engine's socket directory")?;
    let first = match socket::bind(&well_known).await {
        Ok(l) => {
            seat.first = Some(well_known.clone());
            seats
                .write(&seat)
                .wrap_err("cannot write the engine's seat (.switchboard/engines)")?;
            Some((well_known, l))
        }
        // Another engine is the first: this one works beside it.
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => None,
        Err(e) => return Err(e).wrap_err("cannot open the engine socket"),
    };
    let control_session = names::engine_control_session_name(key, me.id);
    let control = connect_control(tmux_socket, &control_session).await;
    drop(seats);
    let control = control.wrap_err("cannot start the tmux control connection")?;
    Ok((
        me,
        Sockets {
            own: (own, listener),
            first,
            control,
            control_session,
        },
    ))
}

/// The claims an engine takes at once: the tasks it would take up before
/// its first wakeup (workers to re-adopt in `live`, merges to finish, tasks
/// git shows merged in `found`). Those another live engine holds are its
/// own, not this one's: they leave `live` and `found`. Every other engine's
/// claim is listed too, for the control room.
pub(super) fn claims_at_start(
    claims: &ClaimDir,
    plan: &ValidPlan,
    records: &[TaskRecord],
    live: &mut Vec<TaskIdx>,
    found: &mut Vec<(TaskIdx, String)>,
    now_ms: u64,
    journal_offset: u64,
) -> ClaimStart {
    let merging = records
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.state(), TaskState::Merging | TaskState::MergeHeld))
        .map(|(i, _)| TaskIdx(i));
    let mut wanted: Vec<TaskIdx> = live
        .iter()
        .copied()
        .chain(found.iter().map(|(t, _)| *t))
        .chain(merging)
        .collect();
    wanted.sort();
    wanted.dedup();
    // Ended already (a session still closing): nothing to take up.
    wanted.retain(|t| records.get(t.0).is_none_or(|r| !r.state().is_final()));
    let mut start = ClaimStart {
        me: claims.me().clone(),
        lease_ms: claims.lease_ms(),
        journal_offset,
        held: Vec::new(),
        taken_over: Vec::new(),
        foreign: Vec::new(),
        others: 0,
    };
    for t in wanted {
        let id = &plan.plan.tasks[t.0].task_id;
        match claims.acquire(id, now_ms) {
            Acquired::Won => start.held.push(t),
            Acquired::TakenOver { from, reason } => start.taken_over.push((t, from, reason)),
            Acquired::Held(holder) => start.foreign.push((t, holder)),
            Acquired::Failed(why) => {
                // Claims cannot be written: the engine goes on as if alone.
                tracing::warn!("cannot claim {id}: {why}");
                start.held.push(t);
            }
        }
    }
    let theirs = |t: &TaskIdx| start.foreign.iter().any(|(f, _)| f == t);
    live.retain(|t| !theirs(t));
    found.retain(|(t, _)| !theirs(t));
    // Claims only: the journal up to `journal_offset` is read already.
    let survey = claims.survey(journal_offset, true);
    start.others = survey.engines.len();
    let mut seen_elsewhere = Vec::new();
    for seen in survey.claims {
        let Some(t) = plan.task_idx(&seen.claim.task).map(TaskIdx) else {
            continue;
        };
        let known =
            start.held.contains(&t) || start.taken_over.iter().any(|(x, ..)| *x == t) || theirs(&t);
        if !known && seen.claim.owner != *claims.me() {
            seen_elsewhere.push((t, Some(seen.claim)));
        }
    }
    start.foreign.extend(seen_elsewhere);
    start
}

/// The control connection. Engines started at the same instant may each
/// start the tmux server; all but one of those servers exit at once, and
/// their clients with them: those try again, on the server that stayed.
async fn connect_control(
    socket: Option<&str>,
    session: &str,
) -> crate::tmux::Result<ControlClient> {
    let mut tries = 0;
    loop {
        match ControlClient::connect(socket, session).await {
            Err(e) if tries < 4 => {
                tries += 1;
                tracing::info!("tmux control connection, try {tries}: {e}");
                tokio::time::sleep(Duration::from_millis(100 * tries)).await;
            }
            done => return done,
        }
    }
}

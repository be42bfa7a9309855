//! The engine actor: a spawned task that feeds the [`Core`] its inputs
//! (front ends' requests, shims' messages, finished effects, and a wakeup
//! when the core says something is due), carries out the effects it returns
//! through the [`Os`], and publishes a snapshot when something changed.
//!
//! It sleeps between inputs: there is no tick.

use super::claim_files::{ClaimDir, Seats};
use super::claims::ClaimStore;
use super::core::{Core, CoreOptions};
use super::effect::{self, Effect, Input};
use super::event::Entry;
use super::host_link::HostLink;
use super::hosts_os::HostsOs;
use super::link::{EngineLink, Request};
use super::os::{Clock, Os, RealOs, SystemClock};
use super::seat::{Sockets, claims_at_start, take_seat};
use super::snapshot::Snapshot;
use super::socket::{self, SocketEvent};
use super::tasks::TaskIdx;
use super::workshop::Workshop;
use super::{history, journal};
use crate::git::Repo;
use crate::plan::ValidPlan;
use crate::tmux::command::Tmux;
use crate::tmux::control::ControlClient;
use crate::tmux::names;
use color_eyre::eyre::{Context, Result, eyre};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

/// Inputs waiting for the actor, per source; senders wait when it is full.
const INBOX: usize = 1024;
/// Inputs taken in one go before a snapshot is published.
const BATCH: usize = 64;

pub struct EngineOptions {
    pub repo_root: PathBuf,
    pub plan: ValidPlan,
    pub plan_name: String,
    pub tmux_socket: Option<String>,
    /// The switchboard binary that panes run as the shim.
    pub exe: PathBuf,
    /// Tasks to run from the start (indices into the plan).
    pub select: Vec<usize>,
    /// Headless: stop once every selected task reached a final state.
    pub exit_when_done: bool,
    /// Headless: a halt waits for `resume` instead of ending the run.
    pub wait_on_halt: bool,
}

/// A running engine: talk to it through `link`; `events` is the journal as it
/// is written; `done` yields the last snapshot when the engine stops.
pub struct Engine {
    pub link: EngineLink,
    pub events: broadcast::Receiver<Entry>,
    pub done: JoinHandle<Outcome>,
    pub journal_path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub snapshot: Snapshot,
    /// Stopped by a halt-shutdown (a signal, or the TUI's quit-and-halt).
    pub interrupted: bool,
}

/// Start an engine on `opts.repo_root`: take an engine number and bind its
/// sockets, prepare git, replay the journal, connect to tmux, claim what it
/// takes up at once, and spawn the actor.
pub async fn start(opts: EngineOptions) -> Result<Engine> {
    let repo =
        Repo::discover(&opts.repo_root).wrap_err("switchboard runs inside a git repository")?;
    let root = repo.root.clone();
    let key = names::repo_key(&root);
    let (me, sockets) = take_seat(&root, &key, opts.tmux_socket.as_deref()).await?;
    let lease_ms = opts.plan.plan.settings.claim_lease_ms;
    let claims = Arc::new(ClaimDir::new(&root.join(".switchboard"), me, lease_ms));
    let paths = sockets.paths();
    let started = start_seated(opts, repo, sockets, claims.clone()).await;
    if started.is_err() {
        // Nothing of an engine that did not start stays behind.
        claims.leave();
        for path in paths {
            let _ = std::fs::remove_file(path);
        }
    }
    started
}

async fn start_seated(
    opts: EngineOptions,
    repo: Repo,
    sockets: Sockets,
    claims: Arc<ClaimDir>,
) -> Result<Engine> {
    let root = repo.root.clone();
    let key = names::repo_key(&root);
    let socket_paths = sockets.paths();
    let socket_path = sockets.own.0.clone();
    let control = sockets.control.clone();
    let control_session = sockets.control_session.clone();
    let tmux = Tmux::new(opts.tmux_socket.clone());
    let plan = Arc::new(opts.plan);
    let shop = Arc::new(Workshop::new(
        repo,
        (*plan).clone(),
        tmux,
        socket_path.clone(),
        opts.exe,
    ));
    {
        let shop = shop.clone();
        tokio::task::spawn_blocking(move || shop.prepare())
            .await
            .wrap_err("preparing the repository")?
            .wrap_err("preparing the repository")?;
    }

    let journal_path = root.join(".switchboard").join("journal.jsonl");
    let tail = journal::read_since(&journal_path, 0).wrap_err("reading the journal")?;
    let journal_offset = tail.offset;
    let entries = tail.entries();
    let replay = journal::replay(&entries);
    let (journal, repaired) =
        journal::Journal::open(&journal_path).wrap_err("opening the journal")?;
    let merged: Vec<TaskIdx> = plan
        .plan
        .tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| replay.merged.contains(&t.task_id))
        .map(|(i, _)| TaskIdx(i))
        .collect();
    let mut live_panes = live_workers(&control, &key, &plan).await;
    let clock = Arc::new(SystemClock::default());
    let local = RealOs {
        shop: shop.clone(),
        control,
        claims: claims.clone(),
    };
    // Hosts are reached before the core starts: their live workers (an
    // earlier engine's, left running) are re-adopted as this machine's are.
    let (os, remote): (Arc<dyn Os>, _) = if plan.plan.settings.hosts.is_empty() {
        (Arc::new(local), None)
    } else {
        let hosts = host_links(&plan, &shop, claims.me().id, &socket_path)?;
        let clock = clock.clone();
        let os = Arc::new(HostsOs::new(local, hosts, move || clock.now_ms()));
        os.connect().await;
        let found = os.live_workers(&key, &plan).await;
        live_panes.extend(found.iter().map(|w| w.task));
        (os.clone() as Arc<dyn Os>, Some((os, found)))
    };
    let mut found_merged = found_merged(&shop, &plan, &merged).await;
    let records = history::records(&plan, &entries);
    let host_names: Vec<String> = plan
        .plan
        .settings
        .hosts
        .iter()
        .map(|h| h.name.clone())
        .collect();
    let claim_start = {
        let (claims, plan, records) = (claims.clone(), plan.clone(), records.clone());
        let (mut live, mut found) = (live_panes.clone(), found_merged.clone());
        let now = clock.now_ms();
        let started = tokio::task::spawn_blocking(move || {
            let start = claims_at_start(
                &claims,
                &plan,
                &records,
                &mut live,
                &mut found,
                now,
                journal_offset,
            );
            (start, live, found)
        })
        .await;
        let Ok((start, live, found)) = started else {
            // Workers an earlier engine left on the hosts stay for the next.
            os.close(&host_names).await;
            return Err(eyre!("reading the claims: the reader panicked"));
        };
        live_panes = live;
        found_merged = found;
        start
    };
    // Of the hosts' live workers, the ones this engine takes up.
    if let Some((hosts, found)) = remote {
        for w in found.iter().filter(|w| live_panes.contains(&w.task)) {
            hosts.adopt(&plan.plan.tasks[w.task.0].task_id, w.host, &w.session);
        }
    }

    let (req_tx, req_rx) = mpsc::channel::<Request>(256);
    let (sock_tx, sock_rx) = mpsc::channel::<SocketEvent>(INBOX);
    let (events, events_rx) = broadcast::channel(4096);
    let Sockets { own, first, .. } = sockets;
    for (_, listener) in [Some(own), first].into_iter().flatten() {
        tokio::spawn(socket::serve(
            listener,
            sock_tx.clone(),
            req_tx.clone(),
            clock.clone(),
        ));
    }

    let mut core = Core::new(
        CoreOptions {
            plan: plan.clone(),
            plan_name: opts.plan_name,
            tmux_socket: opts.tmux_socket,
            placements: plan.plan.tasks.iter().map(|t| shop.placement(t)).collect(),
            pool_places: plan
                .pools
                .iter()
                .map(|spec| {
                    (1..=spec.size as u32)
                        .map(|n| shop.pool_place(spec, claims.me().id, n))
                        .collect()
                })
                .collect(),
            records,
            merged,
            found_merged,
            last_halt_id: replay.last_halt_id,
            select: opts.select.into_iter().map(TaskIdx).collect(),
            live_panes,
            exit_when_done: opts.exit_when_done,
            wait_on_halt: opts.wait_on_halt,
            journal: Some(journal),
            claims: Some(claim_start),
        },
        clock.clone(),
        events,
    );
    if repaired {
        let path = journal_path.display();
        core.warn(
            None,
            format!("{path}: its last line was torn (a crash mid-write); ended it"),
        );
    }
    let (snap_tx, snap_rx) = watch::channel(Arc::new(core.snapshot()));
    let driver = Driver {
        os,
        plan,
        clock,
        shop,
        snapshots: snap_tx,
        kills: Vec::new(),
        control_session,
    };
    let done = tokio::spawn(async move {
        let outcome = driver.run(core, req_rx, sock_rx).await;
        for path in socket_paths {
            let _ = std::fs::remove_file(path);
        }
        outcome
    });
    Ok(Engine {
        link: EngineLink {
            requests: req_tx,
            snapshots: snap_rx,
        },
        events: events_rx,
        done,
        journal_path,
    })
}

/// The plan's hosts, each to be reached over its own ssh master.
fn host_links(
    plan: &ValidPlan,
    shop: &Workshop,
    engine: u32,
    socket_path: &std::path::Path,
) -> Result<Vec<Arc<HostLink>>> {
    let runtime = socket::runtime_dir().wrap_err("switchboard's runtime directory")?;
    let settings = &plan.plan.settings;
    settings
        .hosts
        .iter()
        .map(|h| {
            HostLink::new(
                h.clone(),
                settings.max_parallel,
                &runtime,
                &shop.repo_key,
                engine,
                socket_path,
            )
            .map(Arc::new)
            .map_err(|why| eyre!("settings.hosts: {}: {why}", h.name))
        })
        .collect()
}

/// Tasks whose panes an earlier engine left running in tmux: they are not
/// started again at once, as their shims reconnect and are re-adopted.
async fn live_workers(control: &ControlClient, key: &str, plan: &ValidPlan) -> Vec<TaskIdx> {
    let Ok(panes) = control.list_panes().await else {
        return Vec::new();
    };
    panes
        .iter()
        .filter(|p| !p.pane_dead)
        .flat_map(|p| tasks_of_session(&p.session_name, key, plan))
        .collect()
}

/// The tasks whose worker `session` is (one, unless two ids sanitize alike).
pub(super) fn tasks_of_session(session: &str, key: &str, plan: &ValidPlan) -> Vec<TaskIdx> {
    let Some(sanitized) = names::task_of(session, key) else {
        return Vec::new();
    };
    plan.plan
        .tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| names::sanitize(&t.task_id) == sanitized)
        .map(|(i, _)| TaskIdx(i))
        .collect()
}

/// Tasks git shows merged that the journal does not: git is the truth.
async fn found_merged(
    shop: &Arc<Workshop>,
    plan: &ValidPlan,
    journaled: &[TaskIdx],
) -> Vec<(TaskIdx, String)> {
    let tasks: Vec<(usize, String, String)> = plan
        .plan
        .tasks
        .iter()
        .enumerate()
        .filter(|(i, _)| !journaled.contains(&TaskIdx(*i)))
        .map(|(i, t)| (i, t.task_id.clone(), shop.placement(t).branch))
        .collect();
    let shop = shop.clone();
    let integration = plan.plan.settings.integration_branch.clone();
    let found = tokio::task::spawn_blocking(move || {
        let pairs: Vec<(&str, &str)> = tasks
            .iter()
            .map(|(_, id, b)| (id.as_str(), b.as_str()))
            .collect();
        let merged = shop.repo.merged_tasks(&integration, &pairs);
        (tasks, merged)
    })
    .await;
    match found {
        Ok((tasks, Ok(merged))) => tasks
            .into_iter()
            .filter_map(|(i, id, _)| Some((TaskIdx(i), merged.get(&id)?.clone())))
            .collect(),
        Ok((_, Err(e))) => {
            tracing::warn!("cannot read merges from git: {e}");
            Vec::new()
        }
        Err(e) => {
            tracing::warn!("cannot read merges from git: {e}");
            Vec::new()
        }
    }
}

/// How long the engine waits, when it closes, for the shims it let go of
/// (beyond twice the halt grace).
const SHIMS_GONE_WAIT: Duration = Duration::from_secs(3);

struct Driver {
    os: Arc<dyn Os>,
    plan: Arc<ValidPlan>,
    clock: Arc<SystemClock>,
    shop: Arc<Workshop>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    /// Session kills in flight; awaited on close so no session of a finished
    /// run outlives the engine.
    kills: Vec<JoinHandle<()>>,
    /// This engine's tmux control session.
    control_session: String,
}

impl Driver {
    async fn run(
        mut self,
        mut core: Core,
        mut requests: mpsc::Receiver<Request>,
        mut sockets: mpsc::Receiver<SocketEvent>,
    ) -> Outcome {
        let (inbox_tx, mut inbox) = mpsc::channel::<Input>(INBOX);
        core.handle(Input::Tick {
            due_ms: self.clock.now_ms(),
        });
        loop {
            self.perform(&mut core, &inbox_tx);
            for note in self.os.take_notes() {
                core.warn(None, note);
            }
            core.set_hosts(self.os.hosts());
            if core.take_dirty() {
                self.snapshots.send_replace(Arc::new(core.snapshot()));
            }
            if let Some(interrupted) = core.ready_to_close() {
                self.perform(&mut core, &inbox_tx);
                return self.close(core, interrupted, sockets).await;
            }
            // Sleep until the next thing is due, or an input comes.
            let now = self.clock.now_ms();
            let due = core.next_wakeup_ms().map(|d| d.max(now));
            let slept_at_us = self.clock.mono_us();
            let sleep = async {
                match due {
                    Some(d) => tokio::time::sleep(Duration::from_millis(d - now)).await,
                    None => std::future::pending().await,
                }
            };
            let input = tokio::select! {
                Some(req) = requests.recv() => Input::Request(req),
                Some(ev) = sockets.recv() => Input::Socket(ev),
                Some(input) = inbox.recv() => input,
                _ = sleep => Input::Tick { due_ms: due.unwrap_or(now) },
            };
            // Woken far later than due, whatever woke it: this process was
            // stopped (Ctrl-Z) or starved. The core hears of it before it
            // reads the beats that queued up meanwhile.
            if let Some(d) = due {
                let asleep_ms = (self.clock.mono_us() - slept_at_us) / 1000;
                let late_ms = asleep_ms.saturating_sub(d - now);
                if late_ms >= super::core::PAUSE_GAP_MS && !matches!(input, Input::Tick { .. }) {
                    core.handle(Input::Tick {
                        due_ms: self.clock.now_ms() - late_ms,
                    });
                }
            }
            core.handle(input);
            // Whatever else is already waiting goes in before the snapshot.
            for _ in 0..BATCH {
                let more = match sockets.try_recv() {
                    Ok(ev) => Input::Socket(ev),
                    Err(_) => match inbox.try_recv() {
                        Ok(input) => input,
                        Err(_) => break,
                    },
                };
                core.handle(more);
            }
        }
    }

    /// Start the core's effects; their results come back through `inbox`.
    fn perform(&mut self, core: &mut Core, inbox: &mpsc::Sender<Input>) {
        for e in core.take_effects() {
            let kill = e.is_kill();
            let handle = self.spawn_effect(e, inbox.clone());
            if kill {
                self.kills.retain(|h| !h.is_finished());
                self.kills.push(handle);
            }
        }
    }

    fn spawn_effect(&self, e: Effect, inbox: mpsc::Sender<Input>) -> JoinHandle<()> {
        let (os, plan, clock) = (self.os.clone(), self.plan.clone(), self.clock.clone());
        tokio::spawn(async move {
            if let Some(result) = effect::perform(os, plan, e, move || clock.now_ms()).await {
                let _ = inbox.send(result).await;
            }
        })
    }

    /// Last words: session kills, the execution log, the control session, a
    /// final snapshot.
    async fn close(
        self,
        mut core: Core,
        interrupted: bool,
        mut sockets: mpsc::Receiver<SocketEvent>,
    ) -> Outcome {
        for kill in self.kills {
            let _ = tokio::time::timeout(Duration::from_secs(5), kill).await;
        }
        // Nothing of the run outlives it: the shims it let go of have had
        // their `bye` (or lost their pane); one still there is ended.
        // A shim ends its agent's leftovers (SIGTERM, SIGKILL after the grace)
        // before it exits: give it that long, and some.
        let grace = Duration::from_millis(2 * self.plan.plan.settings.halt.grace_ms);
        let deadline = tokio::time::Instant::now() + SHIMS_GONE_WAIT + grace;
        loop {
            let left: Vec<u32> = core
                .ended_shims()
                .iter()
                .copied()
                .filter(|&pid| self.os.process_alive(None, pid))
                .collect();
            if left.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("shims {left:?} did not end by themselves: killed");
                for &pid in &left {
                    self.os.kill_worker(None, None, Some(pid));
                }
                // SIGKILL is not instant: the run is over when they are gone.
                let killed_by = tokio::time::Instant::now() + Duration::from_secs(2);
                while left.iter().any(|&pid| self.os.process_alive(None, pid))
                    && tokio::time::Instant::now() < killed_by
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                break;
            }
            // Shims let go of before their agent exited report that exit
            // now: each gets its last `bye` and ends at once.
            tokio::select! {
                Some(ev) = sockets.recv() => core.closing(ev),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        // Nothing of the run stays on other machines, but workers left
        // running (for the next engine to re-adopt).
        self.os.close(&core.hosts_left_running()).await;
        let (os, shop) = (self.os.clone(), self.shop.clone());
        // Claims of workers left running stay: their next engine takes them up.
        let release = core.claims_to_release();
        let control = self.control_session.clone();
        let closing = tokio::task::spawn_blocking(move || {
            os.write_execution_log();
            for task in &release {
                os.claims().release(task);
            }
            os.claims().leave();
            shop.kill_session(&control);
            // Engines of the repository that died (killed, crashed) leave
            // their seats, sockets and tmux control sessions: gone too.
            let dot = shop.repo.root.join(".switchboard");
            for seat in Seats::lock(&dot).map(|s| s.sweep()).unwrap_or_default() {
                let session = names::engine_control_session_name(&shop.repo_key, seat.tag.id);
                shop.kill_session(&session);
            }
            // A private server with nothing left on it exits; tmux leaves
            // its socket file.
            if let Some(name) = &shop.tmux.socket {
                let within = Duration::from_secs(1);
                crate::tmux::private_server::remove_socket_when_gone(name, within);
            }
        });
        if let Err(e) = closing.await {
            tracing::warn!("closing the engine: {e}");
        }
        let snapshot = core.snapshot();
        self.snapshots.send_replace(Arc::new(snapshot.clone()));
        Outcome {
            snapshot,
            interrupted,
        }
    }
}

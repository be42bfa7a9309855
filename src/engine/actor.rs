//! The engine actor: receive → dispatch → reconcile → publish.
//!
//! One task owns every piece of run state. Inputs arrive from front ends
//! (requests), from the socket (shims), from blocking work finishing (spawn,
//! validation, merge) and from timers; after each, the scheduler runs and a
//! new snapshot is published if anything visible changed.

use super::command::{Command, Reply};
use super::halt::HaltRun;
use super::journal::{self, Entry, Journal};
use super::link::{EngineLink, Request};
use super::schedule::{self, Slot, Step};
use super::snapshot::{HaltReport, LogLine, RunPhase, Snapshot, TaskState, TaskView, group_views};
use super::socket::{self, SocketEvent};
use super::task::{AttemptStart, TaskRun};
use super::words;
use super::workshop::{CheckResult, Spawned, Workshop};
use crate::git::{MergeOutcome, Repo};
use crate::plan::ValidPlan;
use crate::tmux::PaneInfo;
use crate::tmux::command::Tmux;
use crate::tmux::control::ControlClient;
use crate::tmux::names;
use color_eyre::eyre::{Context, Result};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

/// How many log lines a snapshot carries (front ends keep longer histories).
pub(super) const LOG_TAIL: usize = 300;
const TICK: Duration = Duration::from_millis(100);
const POLL: Duration = Duration::from_millis(500);
/// A gap between ticks this long means the engine itself was not running.
const PAUSE_GAP: Duration = Duration::from_secs(2);

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

pub(super) enum Input {
    Spawned {
        task: usize,
        attempt: u32,
        result: Result<Spawned, String>,
    },
    Validated {
        task: usize,
        attempt: u32,
        results: Vec<CheckResult>,
    },
    Merged {
        task: usize,
        result: Result<MergeOutcome, String>,
    },
    Removed {
        task: usize,
        result: Result<(), String>,
    },
    Panes {
        panes: Vec<PaneInfo>,
        /// The last lines of the panes whose activity changed since the last poll.
        tails: HashMap<String, Vec<String>>,
        /// When the list was asked for.
        listed_ms: u64,
    },
    /// How a failed attempt's pane looked, for the next attempt's instruction.
    Note {
        task: usize,
        attempt: u32,
        note: String,
    },
    /// Look again whether a disconnected shim has died (its socket closes a
    /// moment before the process is gone).
    ShimGone {
        task: usize,
        attempt: u32,
        tries: u32,
    },
    /// A tmux fallback kill of a halted worker finished.
    FallbackDone { halt_id: u64, task: usize },
    /// A conflict early-warning scan finished.
    EarlyWarning(super::early_warning::ScanResult),
}

pub(super) struct Actor {
    pub(super) shop: Arc<Workshop>,
    pub(super) control: ControlClient,
    pub(super) tasks: Vec<TaskRun>,
    pub(super) phase: RunPhase,
    pub(super) journal: Journal,
    pub(super) events: broadcast::Sender<Entry>,
    pub(super) snapshots: watch::Sender<Arc<Snapshot>>,
    pub(super) log: VecDeque<LogLine>,
    pub(super) log_total: u64,
    pub(super) inbox: mpsc::UnboundedSender<Input>,
    /// Shim connection → task index.
    pub(super) conns: HashMap<u64, usize>,
    /// Shims let go before their agent exited: each still wants a `bye`
    /// once it reports the exit, or it would wait for one for minutes.
    pub(super) draining:
        HashMap<u64, mpsc::UnboundedSender<crate::worker::protocol::EngineMessage>>,
    pub(super) merge_queue: VecDeque<usize>,
    pub(super) merging: bool,
    pub(super) halt: Option<HaltRun>,
    pub(super) last_halt: Option<HaltReport>,
    pub(super) next_halt_id: u64,
    pub(super) started_ms: u64,
    pub(super) plan_name: String,
    pub(super) tmux_socket: Option<String>,
    pub(super) exit_when_done: bool,
    pub(super) shutdown: Option<bool>,
    pub(super) dirty: bool,
    /// Session kills in flight on the control connection; awaited on close so
    /// no session of a finished run outlives the engine.
    pub(super) pending_kills: Vec<JoinHandle<()>>,
    /// On shutdown: until when stopped shims may still report their exit.
    pub(super) drain_until: Option<std::time::Instant>,
    pub(super) early: super::early_warning::Watch,
    pub(super) last_tick: std::time::Instant,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Start an engine on `opts.repo_root`: prepare git, bind the socket, replay
/// the journal, connect to tmux, and spawn the actor.
pub async fn start(opts: EngineOptions) -> Result<Engine> {
    let repo =
        Repo::discover(&opts.repo_root).wrap_err("switchboard runs inside a git repository")?;
    let root = repo.root.clone();
    let key = names::repo_key(&root);
    let socket_path =
        socket::socket_path(&key).wrap_err("cannot create the engine's socket directory")?;
    let listener = socket::bind(&socket_path)
        .await
        .wrap_err("cannot open the engine socket")?;
    let tmux = Tmux::new(opts.tmux_socket.clone());
    let shop = Arc::new(Workshop::new(
        repo,
        opts.plan,
        tmux,
        socket_path.clone(),
        opts.exe,
    ));
    {
        let shop = shop.clone();
        tokio::task::spawn_blocking(move || shop.prepare())
            .await
            .wrap_err("preparing the repository")?
            .map_err(|e| color_eyre::eyre::eyre!("preparing the repository: {e}"))?;
    }
    let control = ControlClient::connect(
        opts.tmux_socket.as_deref(),
        &names::control_session_name(&key),
    )
    .await
    .wrap_err("cannot start the tmux control connection")?;

    let state_dir = root.join(".switchboard");
    let journal_path = state_dir.join("journal.jsonl");
    let entries = journal::read(&journal_path).wrap_err("reading the journal")?;
    let replay = journal::replay(&entries);
    let journal = Journal::open(&journal_path).wrap_err("opening the journal")?;

    let plan = &shop.plan;
    let mut tasks: Vec<TaskRun> = plan.plan.tasks.iter().map(TaskRun::new).collect();
    // What earlier engines did to each task: its last attempt and restarts.
    let earlier = super::history::snapshot(plan, &opts.plan_name, &entries, now_ms());
    let earlier: HashMap<&str, &TaskView> =
        earlier.tasks.iter().map(|v| (v.id.as_str(), v)).collect();
    for (i, t) in plan.plan.tasks.iter().enumerate() {
        if replay.merged.contains(&t.task_id) {
            tasks[i].state = TaskState::Done;
        }
        tasks[i].attempt = replay.last_attempt.get(&t.task_id).copied().unwrap_or(0);
        if let Some(view) = earlier.get(t.task_id.as_str()) {
            tasks[i].journaled_start = AttemptStart::of(view);
            tasks[i].earlier_restarts = view.restarts;
        }
        tasks[i].placement = Some(shop.placement(t));
    }
    hold_live_workers(&control, &key, plan, &mut tasks).await;
    for &i in &opts.select {
        tasks[i].selected = true;
    }

    let (req_tx, req_rx) = mpsc::channel::<Request>(256);
    let (in_tx, in_rx) = mpsc::unbounded_channel::<Input>();
    let (sock_tx, sock_rx) = mpsc::unbounded_channel::<SocketEvent>();
    let (events, events_rx) = broadcast::channel(4096);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(empty_snapshot(&opts.plan_name)));

    tokio::spawn(socket::serve(listener, sock_tx, req_tx.clone()));
    tokio::spawn(poll_panes(control.clone(), in_tx.clone(), key.clone()));

    let phase = if opts.select.is_empty() {
        RunPhase::Idle
    } else {
        RunPhase::Running
    };
    let mut actor = Actor {
        shop,
        control,
        tasks,
        phase,
        journal,
        events,
        snapshots: snap_tx,
        log: VecDeque::new(),
        log_total: 0,
        inbox: in_tx,
        conns: HashMap::new(),
        draining: HashMap::new(),
        merge_queue: VecDeque::new(),
        merging: false,
        halt: None,
        last_halt: None,
        next_halt_id: replay.last_halt_id + 1,
        started_ms: now_ms(),
        plan_name: opts.plan_name,
        tmux_socket: opts.tmux_socket,
        exit_when_done: opts.exit_when_done,
        shutdown: None,
        dirty: true,
        pending_kills: Vec::new(),
        drain_until: None,
        early: Default::default(),
        last_tick: std::time::Instant::now(),
    };
    let selection: Vec<&str> = opts.select.iter().map(|&i| actor.task_id(i)).collect();
    let started = Entry::new("run_started", now_ms()).with("selection", selection.join(" "));
    actor.record(started);
    let done = tokio::spawn(async move {
        let outcome = actor.run(req_rx, in_rx, sock_rx).await;
        let _ = std::fs::remove_file(&socket_path);
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

/// Long enough for a shim's reconnect backoff (at most 2 s) to come round.
const ADOPTION_GRACE_MS: u64 = 3_000;

/// Workers an earlier engine left running in tmux are not started again at
/// once: their shims reconnect within a backoff period and are re-adopted.
async fn hold_live_workers(
    control: &ControlClient,
    key: &str,
    plan: &ValidPlan,
    tasks: &mut [TaskRun],
) {
    let Ok(panes) = control.list_panes().await else {
        return;
    };
    let until = now_ms() + ADOPTION_GRACE_MS;
    for p in panes.iter().filter(|p| !p.pane_dead) {
        let Some(sanitized) = names::task_of(&p.session_name, key) else {
            continue;
        };
        for (i, t) in plan.plan.tasks.iter().enumerate() {
            if names::sanitize(&t.task_id) == sanitized && tasks[i].state != TaskState::Done {
                tasks[i].not_before_ms = until;
            }
        }
    }
}

fn empty_snapshot(plan_name: &str) -> Snapshot {
    Snapshot {
        plan_name: plan_name.to_string(),
        integration_branch: String::new(),
        tmux_socket: None,
        phase: RunPhase::Idle,
        started_ms: now_ms(),
        now_ms: now_ms(),
        groups: Vec::new(),
        tasks: Vec::new(),
        log_tail: Vec::new(),
        log_total: 0,
        last_halt: None,
    }
}

/// Lines of a changed pane read per poll: the last output line, and room for
/// a prompt rule's question above its menu of answers.
const TAIL_LINES: u32 = 8;

/// One `list-panes -a` per cycle for every worker, then captures only of the
/// panes whose activity changed: never one tmux process per worker per tick.
async fn poll_panes(control: ControlClient, inbox: mpsc::UnboundedSender<Input>, key: String) {
    let mut seen_activity: HashMap<String, Option<i64>> = HashMap::new();
    let mut interval = tokio::time::interval(POLL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        let listed_ms = now_ms();
        let panes = match control.list_panes().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("tmux poll: {e}");
                continue;
            }
        };
        let mut tails = HashMap::new();
        for p in panes
            .iter()
            .filter(|p| names::is_ours(&p.session_name, &key))
        {
            if seen_activity.get(&p.pane_id) != Some(&p.activity) {
                seen_activity.insert(p.pane_id.clone(), p.activity);
                if let Ok(lines) = control.capture_tail(&p.pane_id, TAIL_LINES).await {
                    tails.insert(p.pane_id.clone(), lines);
                }
            }
        }
        if inbox
            .send(Input::Panes {
                panes,
                tails,
                listed_ms,
            })
            .is_err()
        {
            break;
        }
    }
}

impl Actor {
    pub(super) fn plan(&self) -> &ValidPlan {
        &self.shop.plan
    }

    pub(super) fn task_id(&self, t: usize) -> &str {
        &self.shop.plan.plan.tasks[t].task_id
    }

    async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut inbox: mpsc::UnboundedReceiver<Input>,
        mut socket_events: mpsc::UnboundedReceiver<SocketEvent>,
    ) -> Outcome {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        self.reconcile();
        self.publish();
        loop {
            tokio::select! {
                Some(req) = requests.recv() => self.on_request(req),
                Some(ev) = socket_events.recv() => self.on_socket(ev),
                Some(input) = inbox.recv() => self.on_input(input),
                _ = tick.tick() => self.on_tick(),
            }
            self.reconcile();
            if self.dirty {
                self.publish();
            }
            if let Some(halted) = self.shutdown
                && self.halt.is_none()
                && self.drained()
            {
                self.finish_shutdown(halted);
                return self.close(halted).await;
            }
            if self.exit_when_done && self.phase == RunPhase::Finished {
                return self.close(false).await;
            }
        }
    }

    fn on_request(&mut self, req: Request) {
        let reply = self.handle_command(req.command, req.reply);
        if let Some((tx, reply)) = reply {
            let _ = tx.send(reply);
        }
    }

    /// Returns the reply to send now, or None when it is sent later (halt).
    fn handle_command(
        &mut self,
        command: Command,
        reply: Option<tokio::sync::oneshot::Sender<Reply>>,
    ) -> Option<(tokio::sync::oneshot::Sender<Reply>, Reply)> {
        let answer = match command {
            Command::Status => Reply::Status(Box::new(self.snapshot())),
            Command::Halt if matches!(self.phase, RunPhase::Idle | RunPhase::Finished) => {
                Reply::Error {
                    message: "nothing to halt: no task is running".into(),
                }
            }
            // A second halt while halted would only report an empty one.
            Command::Halt if self.phase == RunPhase::Halted => Reply::Error {
                message: "already halted (switchboard resume reopens dispatch)".into(),
            },
            Command::Halt => {
                self.begin_halt(reply);
                return None;
            }
            Command::Resume => self.resume(),
            Command::Spawn { task, force } => self.spawn_now(&task, force),
            Command::RunGroup { group } => self.run_group(&group),
            Command::Kill { task } => self.kill(&task),
            Command::Restart { task } => self.restart(&task),
            Command::PaneTail { task, lines } => {
                self.pane_tail(&task, lines, reply);
                return None;
            }
            Command::Shutdown { halt } => {
                self.shutdown = Some(halt);
                if halt && self.halt.is_none() {
                    self.begin_halt(None);
                }
                Reply::Ok
            }
        };
        reply.map(|tx| (tx, answer))
    }

    fn on_input(&mut self, input: Input) {
        match input {
            Input::Spawned {
                task,
                attempt,
                result,
            } => self.on_spawned(task, attempt, result),
            Input::Validated {
                task,
                attempt,
                results,
            } => self.on_validated(task, attempt, results),
            Input::Merged { task, result } => self.on_merged(task, result),
            Input::Removed { task, result } => {
                if let Err(e) = result {
                    let id = self.task_id(task).to_string();
                    self.record(
                        Entry::new("warning", now_ms())
                            .task(&id, 0)
                            .with("message", format!("worktree kept: {e}")),
                    );
                }
            }
            Input::Panes {
                panes,
                tails,
                listed_ms,
            } => self.on_panes(panes, tails, listed_ms),
            Input::Note {
                task,
                attempt,
                note,
            } => {
                if self.tasks[task].attempt == attempt {
                    self.tasks[task].previous_note = Some(note);
                }
            }
            Input::FallbackDone { halt_id, task } => self.on_fallback_done(halt_id, task),
            Input::ShimGone {
                task,
                attempt,
                tries,
            } => self.check_shim_gone(task, attempt, tries),
            Input::EarlyWarning(result) => self.on_early_warning(result),
        }
    }

    fn on_tick(&mut self) {
        self.notice_pause();
        self.check_heartbeats();
        self.check_halt_deadlines();
        self.start_early_warning();
    }

    /// A tick far later than due means this process was stopped (Ctrl-Z on
    /// the control room) or starved. The workers ran on meanwhile; their
    /// beats waited in the socket. Judging them by the gap would call them
    /// all DEAD, so their silence is counted from now.
    fn notice_pause(&mut self) {
        let now = std::time::Instant::now();
        let gap = now.saturating_duration_since(self.last_tick);
        self.last_tick = now;
        if gap < PAUSE_GAP {
            return;
        }
        let now_ms = now_ms();
        let mut live = 0;
        for w in self.tasks.iter_mut().filter_map(|t| t.worker.as_mut()) {
            w.last_beat_ms = w.last_beat_ms.max(now_ms);
            live += 1;
        }
        let e = Entry::new("warning", now_ms).with(
            "message",
            format!(
                "the engine was paused for {:.1} s (suspended?); heartbeat clocks of {live} workers restarted",
                gap.as_secs_f64()
            ),
        );
        self.record(e);
    }

    pub(super) fn slots(&self) -> Vec<Slot> {
        self.tasks
            .iter()
            .map(|t| Slot {
                state: t.state,
                selected: t.selected,
                not_before_ms: t.not_before_ms,
                forced: t.forced,
            })
            .collect()
    }

    /// Apply the scheduler until it has nothing more to say.
    fn reconcile(&mut self) {
        if self.phase != RunPhase::Running {
            return;
        }
        let max = self.plan().plan.settings.max_parallel;
        for _ in 0..self.tasks.len() + 1 {
            let steps = schedule::next_steps(self.plan(), &self.slots(), max, now_ms());
            if steps.is_empty() {
                break;
            }
            for step in steps {
                match step {
                    Step::Start(t) => self.start_attempt(t),
                    Step::Skip { task, because } => {
                        let reason = format!(
                            "dependency {} is {}",
                            self.task_id(because),
                            self.tasks[because].state.as_str()
                        );
                        self.set_state(task, TaskState::Skipped, Some(reason));
                    }
                }
            }
        }
        let settled = self
            .tasks
            .iter()
            .all(|t| !t.selected || t.state.is_final() || (t.state == TaskState::Halted));
        let busy = self.merging || self.tasks.iter().any(|t| t.state.is_active());
        if settled && !busy {
            self.phase = RunPhase::Finished;
            let summary = self.summary_words();
            self.record(Entry::new("run_finished", now_ms()).with("summary", summary));
        }
    }

    fn summary_words(&self) -> String {
        let mut counts: Vec<(TaskState, usize)> = Vec::new();
        for t in self.tasks.iter().filter(|t| t.selected) {
            match counts.iter_mut().find(|(s, _)| *s == t.state) {
                Some((_, n)) => *n += 1,
                None => counts.push((t.state, 1)),
            }
        }
        counts.sort();
        counts
            .iter()
            .map(|(s, n)| format!("{n} {}", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Journal an entry, feed the log, and tell subscribers.
    pub(super) fn record(&mut self, entry: Entry) {
        if let Err(e) = self.journal.append(&entry) {
            tracing::error!("journal write failed: {e}");
        }
        if let Some(line) = words::log_line(&entry) {
            self.log.push_back(line);
            self.log_total += 1;
            if self.log.len() > LOG_TAIL {
                self.log.pop_front();
            }
        }
        let _ = self.events.send(entry);
        self.dirty = true;
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        let plan = self.plan();
        Snapshot {
            plan_name: self.plan_name.clone(),
            integration_branch: plan.plan.settings.integration_branch.clone(),
            tmux_socket: self.tmux_socket.clone(),
            phase: self.phase,
            started_ms: self.started_ms,
            now_ms: now_ms(),
            groups: group_views(plan),
            tasks: plan
                .task_order
                .iter()
                .map(|&t| self.tasks[t].view(&plan.plan.tasks[t]))
                .collect(),
            log_tail: self.log.iter().cloned().collect(),
            log_total: self.log_total,
            last_halt: self.last_halt.clone(),
        }
    }

    fn publish(&mut self) {
        self.dirty = false;
        let snap = Arc::new(self.snapshot());
        self.snapshots.send_replace(snap);
    }

    /// Stopped shims have reported their agents' exits (and got their `bye`),
    /// or had two seconds to.
    fn drained(&mut self) -> bool {
        let until = *self
            .drain_until
            .get_or_insert_with(|| std::time::Instant::now() + Duration::from_secs(2));
        self.draining.is_empty() || std::time::Instant::now() >= until
    }

    fn finish_shutdown(&mut self, halted: bool) {
        if halted {
            // Interrupted: no worker survives the run; worktrees stay.
            for t in 0..self.tasks.len() {
                if let Some(p) = self.tasks[t].placement.clone()
                    && (self.tasks[t].worker.is_some() || self.tasks[t].state == TaskState::Halted)
                {
                    self.shop.kill_session(&p.session);
                    self.tasks[t].worker = None;
                }
            }
            self.record(Entry::new("interrupted", now_ms()).with("signal", "halt"));
        }
    }

    /// Last words: the execution log, the control session, a final snapshot.
    async fn close(&mut self, interrupted: bool) -> Outcome {
        for kill in self.pending_kills.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), kill).await;
        }
        if let Err(e) =
            super::exec_log::write(&self.shop.repo.root, self.plan(), self.journal.path())
        {
            tracing::warn!("cannot write EXECUTION_LOG.md: {e}");
        }
        self.shop
            .kill_session(&names::control_session_name(&self.shop.repo_key));
        self.publish();
        Outcome {
            snapshot: (**self.snapshots.borrow()).clone(),
            interrupted,
        }
    }
}

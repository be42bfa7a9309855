//! A deterministic engine for tests: the [`Core`] over a fake [`Os`] and a
//! fake [`Clock`]. Tests feed it inputs (a shim's hello, beats, reports,
//! exits; time passing), [`Fixture::flush`] carries out every effect against
//! the fakes until nothing is left, and assertions read the journal events
//! and the snapshot. Nothing here waits on real time.

use super::command::{Command, Reply};
use super::core::{Core, CoreOptions};
use super::effect::{self, Effect, Input};
use super::event::{Entry, Event};
pub use super::fake_os::{Call, FakeClock, FakeOs, pane, placement};
use super::fold::TaskRecord;
use super::link::Request;
use super::os::Clock;
use super::snapshot::{Light, Snapshot, TaskState};
use super::socket::{ConnId, SocketEvent};
use super::tasks::TaskIdx;
use crate::plan::ValidPlan;
use crate::worker::protocol::{EngineMessage, ExitStatus, ReportState, ShimMessage, StopSignal};
use crate::worker::secret::AttemptSecret;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::{broadcast, mpsc, oneshot};

/// 2023-11-14 22:13:20 UTC.
pub const T0: u64 = 1_700_000_000_000;

/// A shim as the fixture plays it: its connection and what the engine told it.
struct FakeShim {
    conn: ConnId,
    told: mpsc::UnboundedReceiver<EngineMessage>,
}

pub struct Fixture {
    pub core: Core,
    pub os: Arc<FakeOs>,
    pub clock: Arc<FakeClock>,
    plan: Arc<ValidPlan>,
    events: broadcast::Receiver<Entry>,
    /// Every journal entry so far.
    pub journal: Vec<Entry>,
    shims: HashMap<String, FakeShim>,
    /// The secret each attempt's shim is given, from the spawn effects.
    secrets: HashMap<(String, u32), AttemptSecret>,
    next_conn: ConnId,
    rt: tokio::runtime::Runtime,
    /// Effects the test keeps in flight (see [`Fixture::hold`]).
    hold: Option<fn(&Effect) -> bool>,
    held: Vec<Effect>,
}

/// The plan from YAML text; panics on a bad one (tests write good ones).
pub fn plan(yaml: &str) -> ValidPlan {
    let parsed = crate::plan::load::parse("test.yaml", yaml.as_bytes()).expect("plan parses");
    crate::plan::validate::validate("test.yaml", yaml, parsed)
        .expect("plan is valid")
        .0
}

/// The secret an earlier engine gave `task`'s attempt `attempt`, in tests
/// that write that engine's journal (see [`spawned`]).
pub fn earlier_secret(task: &str, attempt: u32) -> AttemptSecret {
    AttemptSecret::new(format!("earlier-{task}-{attempt}"))
}

/// The `spawned` event an earlier engine journaled for `task`'s attempt
/// `attempt`, with the digest of [`earlier_secret`].
pub fn spawned(task: &str, attempt: u32, profile: &str) -> Event {
    Event::Spawned {
        profile: profile.into(),
        session: format!("sb-fake-{task}"),
        pane: format!("%{}", 90 + attempt),
        worktree: format!("/fake/{task}"),
        branch: format!("agent/{task}/{profile}"),
        secret_sha256: Some(earlier_secret(task, attempt).digest()),
        host: None,
    }
}

/// What an engine starts from besides the plan.
#[derive(Default)]
pub struct Start {
    pub select: Vec<&'static str>,
    /// Earlier engines' journal.
    pub journal: Vec<Entry>,
    /// Tasks whose panes still live in tmux.
    pub live: Vec<&'static str>,
    pub exit_when_done: bool,
    pub wait_on_halt: bool,
    /// Tasks git shows merged, with their merge commit.
    pub found_merged: Vec<(&'static str, &'static str)>,
    /// Task claims, as the engine found them when it started (none: the
    /// engine runs without claims). Its `foreign` claims are on "disk", their
    /// owners alive.
    pub claims: Option<super::claims::ClaimStart>,
    /// Lines other engines journaled, not read yet: `(engine, entry)`.
    pub other_lines: Vec<(u32, Entry)>,
    /// Tasks whose attempts go to a host: `(task, host)`.
    pub on_hosts: Vec<(&'static str, &'static str)>,
}

impl Fixture {
    pub fn new(yaml: &str, select: &[&'static str]) -> Fixture {
        Fixture::start(
            yaml,
            Start {
                select: select.to_vec(),
                ..Default::default()
            },
        )
    }

    pub fn start(yaml: &str, start: Start) -> Fixture {
        let plan = Arc::new(plan(yaml));
        let clock = Arc::new(FakeClock(AtomicU64::new(T0)));
        let os = Arc::new(FakeOs::default());
        for (task, host) in &start.on_hosts {
            os.on_hosts
                .lock()
                .unwrap()
                .insert(task.to_string(), host.to_string());
        }
        let foreign = start.claims.iter().flat_map(|c| &c.foreign);
        for claim in foreign.filter_map(|(_, c)| c.as_ref()) {
            let owner = claim.owner.clone();
            os.claims.hold(&claim.task, owner, claim.expires_ms, true);
        }
        for (engine, entry) in start.other_lines {
            os.claims.write(engine, entry);
        }
        let (tx, events) = broadcast::channel(65_536);
        let idx = |id: &str| TaskIdx(plan.task_idx(id).expect("task in plan"));
        let replay = super::journal::replay(&start.journal);
        let records: Vec<TaskRecord> = super::history::records(&plan, &start.journal);
        let core = Core::new(
            CoreOptions {
                plan: plan.clone(),
                plan_name: "test".into(),
                tmux_socket: None,
                placements: plan.plan.tasks.iter().map(placement).collect(),
                pool_places: plan
                    .pools
                    .iter()
                    .map(|spec| {
                        (1..=spec.size as u32)
                            .map(|n| super::fake_os::pool_place(&spec.slug(), n))
                            .collect()
                    })
                    .collect(),
                records,
                // As the engine does: merged tasks the plan no longer has are ignored.
                merged: plan
                    .plan
                    .tasks
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| replay.merged.contains(&t.task_id))
                    .map(|(i, _)| TaskIdx(i))
                    .collect(),
                found_merged: start
                    .found_merged
                    .iter()
                    .map(|(id, c)| (idx(id), c.to_string()))
                    .collect(),
                last_halt_id: replay.last_halt_id,
                select: start.select.iter().map(|id| idx(id)).collect(),
                live_panes: start.live.iter().map(|id| idx(id)).collect(),
                exit_when_done: start.exit_when_done,
                wait_on_halt: start.wait_on_halt,
                journal: None,
                claims: start.claims,
            },
            clock.clone(),
            tx,
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let mut fx = Fixture {
            core,
            os,
            clock,
            plan,
            events,
            journal: Vec::new(),
            shims: HashMap::new(),
            secrets: HashMap::new(),
            next_conn: 1,
            rt,
            hold: None,
            held: Vec::new(),
        };
        // As the driver does: the first wakeup at once.
        fx.input(Input::Tick { due_ms: T0 });
        fx
    }

    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Carry out every effect against the fakes, feeding results back,
    /// until the core asks for nothing more.
    pub fn flush(&mut self) {
        loop {
            let effects = self.core.take_effects();
            if effects.is_empty() {
                break;
            }
            for e in effects {
                if let Effect::Spawn {
                    task,
                    attempt,
                    secret,
                    ..
                } = &e
                {
                    let id = self.plan.plan.tasks[task.0].task_id.clone();
                    self.secrets.insert((id, *attempt), secret.clone());
                }
                if let Effect::PoolSpawn {
                    task,
                    attempt,
                    secret: Some(secret),
                    ..
                } = &e
                {
                    let id = self.plan.plan.tasks[task.0].task_id.clone();
                    self.secrets.insert((id, *attempt), secret.clone());
                }
                if self.hold.is_some_and(|hold| hold(&e)) {
                    self.held.push(e);
                    continue;
                }
                let (os, plan, clock) = (self.os.clone(), self.plan.clone(), self.clock.clone());
                let fed = self
                    .rt
                    .block_on(effect::perform(os, plan, e, move || clock.now_ms()));
                if let Some(input) = fed {
                    self.core.handle(input);
                }
            }
        }
        while let Ok(e) = self.events.try_recv() {
            self.journal.push(e);
        }
    }

    /// Keep effects that `which` picks in flight until [`Self::release`].
    pub fn hold(&mut self, which: fn(&Effect) -> bool) {
        self.hold = Some(which);
    }

    /// Effects held so far, oldest first.
    pub fn held(&self) -> &[Effect] {
        &self.held
    }

    /// Let the oldest held effect finish (its result is fed back).
    pub fn release(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let e = self.held.remove(0);
        let (os, plan, clock) = (self.os.clone(), self.plan.clone(), self.clock.clone());
        if let Some(input) = self
            .rt
            .block_on(effect::perform(os, plan, e, move || clock.now_ms()))
        {
            self.core.handle(input);
        }
        self.flush();
    }

    pub fn input(&mut self, input: Input) {
        self.core.handle(input);
        self.flush();
    }

    /// Time passes as it would for the driver: every wakeup the core asks
    /// for within `ms` happens at its time.
    pub fn advance(&mut self, ms: u64) {
        let target = self.now() + ms;
        while let Some(due) = self.core.next_wakeup_ms().filter(|&d| d <= target) {
            self.clock.set(due.max(self.now()));
            self.input(Input::Tick { due_ms: due });
        }
        self.clock.set(target);
    }

    /// The engine's process stopped for `ms` (Ctrl-Z), then woke for what
    /// was due before it stopped.
    pub fn pause(&mut self, ms: u64) {
        let due = self.core.next_wakeup_ms().unwrap_or(self.now());
        self.clock.set(self.now() + ms);
        self.input(Input::Tick { due_ms: due });
    }

    pub fn request(&mut self, command: Command) -> Reply {
        let (tx, mut rx) = oneshot::channel();
        self.input(Input::Request(Request {
            command,
            reply: Some(tx),
        }));
        rx.try_recv().unwrap_or(Reply::Error {
            message: "no reply yet".into(),
        })
    }

    /// A request whose reply may come later (halt): its receiver.
    pub fn request_later(&mut self, command: Command) -> oneshot::Receiver<Reply> {
        let (tx, rx) = oneshot::channel();
        self.input(Input::Request(Request {
            command,
            reply: Some(tx),
        }));
        rx
    }

    /// The shim of `task`'s attempt `attempt` connects (shim pid 1000 + attempt)
    /// with the secret it was given: by this engine's spawn, else the one
    /// an earlier engine journaled ([`earlier_secret`]).
    pub fn hello(&mut self, task: &str, attempt: u32) {
        let secret = self
            .given_secret(task, attempt)
            .unwrap_or_else(|| earlier_secret(task, attempt));
        self.hello_with(task, attempt, secret);
    }

    /// The secret this engine gave `task`'s attempt `attempt`.
    pub fn given_secret(&self, task: &str, attempt: u32) -> Option<AttemptSecret> {
        self.secrets.get(&(task.to_string(), attempt)).cloned()
    }

    /// A hello for `task`'s attempt `attempt` that carries `secret`.
    pub fn hello_with(&mut self, task: &str, attempt: u32, secret: AttemptSecret) {
        let pane_id = self
            .snapshot_task(task)
            .pane_id
            .or_else(|| Some("%99".into()));
        self.hello_as(task, attempt, secret, pane_id);
    }

    /// The shim's hello saying its pane is `pane` (tmux's `$TMUX_PANE`
    /// where it runs: `%3` on a host too).
    pub fn hello_in_pane(&mut self, task: &str, attempt: u32, pane: &str) {
        let secret = self
            .given_secret(task, attempt)
            .unwrap_or_else(|| earlier_secret(task, attempt));
        self.hello_as(task, attempt, secret, Some(pane.to_string()));
    }

    fn hello_as(
        &mut self,
        task: &str,
        attempt: u32,
        secret: AttemptSecret,
        pane_id: Option<String>,
    ) {
        let conn = self.next_conn;
        self.next_conn += 1;
        let (tx, told) = mpsc::unbounded_channel();
        let hello = ShimMessage::Hello {
            task: task.to_string(),
            attempt,
            shim_pid: 1000 + attempt,
            agent_pid: Some(2000 + attempt),
            pane_id,
            secret,
        };
        self.shims.insert(task.to_string(), FakeShim { conn, told });
        self.input(Input::Socket(SocketEvent::ShimHello { conn, hello, tx }));
    }

    pub fn shim_says(&mut self, task: &str, msg: ShimMessage) {
        let conn = self.shims[task].conn;
        let at_us = self.clock.mono_us();
        self.input(Input::Socket(SocketEvent::Shim { conn, msg, at_us }));
    }

    pub fn beat(&mut self, task: &str) {
        self.shim_says(task, ShimMessage::Heartbeat { seq: 1 });
    }

    pub fn report(&mut self, task: &str, state: ReportState, message: Option<&str>) {
        let message = message.map(str::to_string);
        let usage = None;
        self.shim_says(
            task,
            ShimMessage::Report {
                state,
                message,
                usage,
            },
        );
    }

    pub fn exit(&mut self, task: &str, code: i32) {
        let status = ExitStatus {
            code: Some(code),
            signal: None,
        };
        self.shim_says(task, ShimMessage::Exit { status });
    }

    pub fn halted(&mut self, task: &str, halt_id: u64) {
        self.shim_says(task, ShimMessage::HaltAck { halt_id });
        let signal = StopSignal::Sigint;
        self.shim_says(
            task,
            ShimMessage::Halted {
                halt_id,
                stop_ms: 1,
                signal,
            },
        );
    }

    pub fn hang_up(&mut self, task: &str) {
        let conn = self.shims[task].conn;
        self.input(Input::Socket(SocketEvent::ShimClosed { conn }));
    }

    /// What the engine told `task`'s shim since the last call.
    pub fn told(&mut self, task: &str) -> Vec<EngineMessage> {
        let shim = self.shims.get_mut(task).expect("a shim");
        std::iter::from_fn(|| shim.told.try_recv().ok()).collect()
    }

    /// Start, connect and finish `task`'s current attempt with exit 0.
    pub fn run_through(&mut self, task: &str) {
        let attempt = self.snapshot_task(task).attempt;
        self.hello(task, attempt);
        self.report(task, ReportState::Start, None);
        self.exit(task, 0);
    }

    /// `task`'s pane shows `text` at its bottom, last active at `activity`
    /// (epoch seconds), from the next poll on.
    pub fn show_pane(&mut self, task: &str, activity: i64, text: &str) {
        let id = self.snapshot_task(task).pane_id.expect("a pane");
        let lines = text.lines().map(str::to_string).collect();
        self.os.tails.lock().unwrap().insert(id.clone(), lines);
        let mut panes = self.os.panes.lock().unwrap();
        let title = panes
            .iter()
            .find(|p| p.pane_id == id)
            .map(|p| p.title.clone());
        panes.retain(|p| p.pane_id != id);
        let mut shown = pane(&id, &format!("sb-fake-{task}"), Some(activity));
        shown.title = title.unwrap_or(shown.title);
        panes.push(shown);
    }

    /// `task`'s pane title (`#{pane_title}`) from the next poll on.
    pub fn show_title(&mut self, task: &str, title: &str) {
        let id = self.snapshot_task(task).pane_id.expect("a pane");
        let mut panes = self.os.panes.lock().unwrap();
        if !panes.iter().any(|p| p.pane_id == id) {
            panes.push(pane(&id, &format!("sb-fake-{task}"), None));
        }
        for p in panes.iter_mut().filter(|p| p.pane_id == id) {
            p.title = title.to_string();
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.core.snapshot()
    }

    pub fn snapshot_task(&self, task: &str) -> super::snapshot::TaskView {
        self.snapshot()
            .tasks
            .into_iter()
            .find(|t| t.id == task)
            .expect("task in snapshot")
    }

    pub fn state(&self, task: &str) -> TaskState {
        self.snapshot_task(task).state
    }

    pub fn light(&self, task: &str) -> Light {
        self.snapshot_task(task).light
    }

    /// The journal's events of `task`, in order.
    pub fn events(&self, task: &str) -> Vec<&Event> {
        self.journal
            .iter()
            .filter(|e| e.task.as_deref() == Some(task))
            .map(|e| &e.event)
            .collect()
    }

    /// The states `task` went through, in order.
    pub fn states(&self, task: &str) -> Vec<TaskState> {
        self.events(task)
            .into_iter()
            .filter_map(|e| match e {
                Event::State { state, .. } => Some(*state),
                _ => None,
            })
            .collect()
    }

    /// The journal's entries without a task.
    pub fn run_events(&self) -> Vec<&Event> {
        self.journal
            .iter()
            .filter(|e| e.task.is_none())
            .map(|e| &e.event)
            .collect()
    }
}

//! What front ends see of the engine: a cheap, cloneable snapshot.
//!
//! The engine publishes a fresh `Arc<Snapshot>` on a `watch` channel after
//! every change; front ends render from the latest one and never ask the
//! engine (or tmux, or git) anything while drawing.

pub use super::limits::BudgetLevel;
use crate::worker::protocol::Usage;
use serde::{Deserialize, Serialize};

/// A task's lifecycle (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Pending,
    Ready,
    Assigned,
    Running,
    /// The agent asked something (WAIT/HELP report, or a prompt rule matched).
    Waiting,
    Validating,
    Merging,
    /// Validated, but its merge waits: the integration branch is checked
    /// out somewhere, so switchboard will not move it under a person.
    #[serde(rename = "merge-held")]
    MergeHeld,
    Done,
    Failed,
    /// A dependency failed, or the agent reported SKIP.
    Skipped,
    Halted,
    Conflict,
    /// Validated, but the integration check failed on the merged tree: the
    /// integration branch did not move. A fixed branch is rechecked by hand.
    #[serde(rename = "merge-blocked")]
    MergeBlocked,
    /// Killed by a person: no restart.
    Cancelled,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Ready => "ready",
            TaskState::Assigned => "assigned",
            TaskState::Running => "running",
            TaskState::Waiting => "waiting",
            TaskState::Validating => "validating",
            TaskState::Merging => "merging",
            TaskState::MergeHeld => "merge-held",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
            TaskState::Skipped => "skipped",
            TaskState::Halted => "halted",
            TaskState::Conflict => "conflict",
            TaskState::MergeBlocked => "merge-blocked",
            TaskState::Cancelled => "cancelled",
        }
    }
    /// A worker (tmux session, agent process) may exist in this state.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            TaskState::Assigned
                | TaskState::Running
                | TaskState::Waiting
                | TaskState::Validating
                | TaskState::Merging
                | TaskState::MergeHeld
        )
    }
    /// Nothing more will happen to the task in this run without a person.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskState::Done
                | TaskState::Failed
                | TaskState::Skipped
                | TaskState::Conflict
                | TaskState::MergeBlocked
                | TaskState::Cancelled
        )
    }
    /// A person should look: the UI marks the row and rings the bell.
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            TaskState::Waiting
                | TaskState::Failed
                | TaskState::Conflict
                | TaskState::MergeHeld
                | TaskState::MergeBlocked
        )
    }
}

/// The heartbeat light of a worker (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Light {
    /// No worker: pending, finished, or not started.
    Idle,
    Healthy,
    Late,
    Missing,
    Dead,
    /// Alive, but the pane has been silent for `stallAfterMs`.
    Stalled,
    /// The agent is waiting for an answer.
    Waiting,
}

impl Light {
    pub fn as_str(self) -> &'static str {
        match self {
            Light::Idle => "IDLE",
            Light::Healthy => "HEALTHY",
            Light::Late => "LATE",
            Light::Missing => "MISSING",
            Light::Dead => "DEAD",
            Light::Stalled => "STALLED",
            Light::Waiting => "WAITING",
        }
    }
}

/// The engine's dispatch state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPhase {
    /// Nothing selected to run (the TUI before the user spawns anything).
    Idle,
    Running,
    Halting,
    Halted,
    /// Every selected task reached a final state.
    Finished,
}

/// How one attempt ended, for the timeline's colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Done,
    Failed,
    Crashed,
    Halted,
    Cancelled,
    Conflict,
    /// Its merge result failed the integration check.
    MergeBlocked,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptSpan {
    pub attempt: u32,
    pub profile: String,
    /// Milliseconds since the Unix epoch.
    pub started_ms: u64,
    pub ended_ms: Option<u64>,
    pub outcome: Option<AttemptOutcome>,
    /// Stretches of the attempt that were not work: waiting for a person,
    /// or a silent (stalled) pane. The timeline draws them apart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pauses: Vec<Pause>,
    /// What this attempt's agent reported spending (None: nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// Part of an attempt spent not working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub kind: PauseKind,
    pub from_ms: u64,
    /// None while it lasts.
    pub to_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PauseKind {
    Waiting,
    Stalled,
}

impl AttemptSpan {
    /// A pause of `kind` begins at `at_ms`, unless one is open already.
    pub fn pause(&mut self, kind: PauseKind, at_ms: u64) {
        let open = self
            .pauses
            .iter()
            .any(|p| p.kind == kind && p.to_ms.is_none());
        if !open && self.ended_ms.is_none() {
            self.pauses.push(Pause {
                kind,
                from_ms: at_ms,
                to_ms: None,
            });
        }
    }

    /// The open pause of `kind` ends at `at_ms`.
    pub fn resume(&mut self, kind: PauseKind, at_ms: u64) {
        for p in self.pauses.iter_mut().filter(|p| p.kind == kind) {
            p.to_ms.get_or_insert(at_ms);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: String,
    pub title: String,
    pub group: String,
    pub priority: String,
    pub effort_hours: Option<f64>,
    pub dependencies: Vec<String>,
    /// The profile of the current (or last) attempt.
    pub profile: String,
    pub state: TaskState,
    pub light: Light,
    pub attempt: u32,
    pub restarts: u32,
    pub attempts: Vec<AttemptSpan>,
    /// The pane's last non-empty line, as of the last poll.
    pub last_line: String,
    /// The last report's or failure's message.
    pub message: Option<String>,
    pub pane_id: Option<String>,
    pub session: Option<String>,
    pub worktree: Option<String>,
    pub branch: Option<String>,
    /// The host its worker runs on (`settings.hosts`); None: this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// What an interactive agent's screen says it is doing (`working`,
    /// `idle at prompt`), for profiles with `screen` rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_state: Option<String>,
    /// What its agents reported spending, over every attempt; None: not
    /// reported (never counted as free).
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Part of what this run does (a headless selection, a group run…).
    #[serde(default)]
    pub selected: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupView {
    pub id: String,
    pub title: String,
    pub after: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub ts_ms: u64,
    pub level: LogLevel,
    pub task: Option<String>,
    pub text: String,
}

/// One worker's part in a halt (issue: the halt cascade).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HaltWorker {
    pub task: String,
    /// Where it ran (`settings.hosts`); None: this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub acked: bool,
    /// From the halt command to the shim's acknowledgement.
    pub ack_ms: Option<f64>,
    /// From the halt command to the agent's process group being gone.
    pub stop_ms: Option<f64>,
    /// The last signal needed, or "tmux" when the fallback killed it.
    pub signal: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HaltReport {
    pub halt_id: u64,
    pub total_workers: usize,
    pub acks_received: usize,
    pub acks_failed: usize,
    pub stopped: usize,
    pub workers: Vec<HaltWorker>,
    pub all_acked: bool,
    /// From the halt command until every worker acknowledged or was stopped through tmux.
    pub total_latency_ms: f64,
}

/// One machine's part in a halt: how many of its workers acknowledged, and
/// the slowest acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub struct HostAcks<'a> {
    /// None: this machine.
    pub host: Option<&'a str>,
    pub workers: usize,
    pub acked: usize,
    pub slowest_ms: Option<f64>,
}

impl HaltReport {
    /// Whether its workers ran on more than this machine.
    pub fn spread(&self) -> bool {
        self.workers.iter().any(|w| w.host.is_some())
    }

    /// A line per machine: this one first, then the hosts in the order
    /// their workers are listed.
    pub fn per_host(&self) -> Vec<HostAcks<'_>> {
        let mut hosts: Vec<Option<&str>> = Vec::new();
        for w in &self.workers {
            if !hosts.contains(&w.host.as_deref()) {
                hosts.push(w.host.as_deref());
            }
        }
        hosts.sort_by_key(|h| h.is_some());
        hosts
            .into_iter()
            .map(|host| {
                let on: Vec<_> = self
                    .workers
                    .iter()
                    .filter(|w| w.host.as_deref() == host)
                    .collect();
                HostAcks {
                    host,
                    workers: on.len(),
                    acked: on.iter().filter(|w| w.acked).count(),
                    slowest_ms: on
                        .iter()
                        .filter_map(|w| w.ack_ms)
                        .fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.max(a)))),
                }
            })
            .collect()
    }
}

/// Everything a front end draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub plan_name: String,
    pub integration_branch: String,
    /// The tmux server workers run on (`tmux -L NAME`); None for the default one.
    pub tmux_socket: Option<String>,
    pub phase: RunPhase,
    /// When this run started (ms since the Unix epoch).
    pub started_ms: u64,
    /// When this snapshot was taken.
    pub now_ms: u64,
    pub groups: Vec<GroupView>,
    /// In plan dependency order.
    pub tasks: Vec<TaskView>,
    /// The newest log lines (at most a few hundred) …
    pub log_tail: Vec<LogLine>,
    /// … and how many lines were ever logged, so a front end that keeps its own
    /// longer history appends exactly the lines it has not seen.
    pub log_total: u64,
    pub last_halt: Option<HaltReport>,
    /// Budgets and rate-limit back-offs.
    #[serde(default)]
    pub limits: LimitsView,
    /// The worker pools: each worker, what it does, and the queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<super::pool::PoolView>,
    /// The plan's other machines: whether each answers, its workers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<super::host_link::HostView>,
    /// How many workers this machine takes (`settings.maxParallel`), when
    /// the plan has hosts: the hosts strip's `local 2/4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_capacity: Option<usize>,
}

/// What holds starts back besides the plan: budgets and back-offs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LimitsView {
    /// The run's budget first (scope `run`), then profiles' budgets.
    pub budgets: Vec<BudgetView>,
    /// Profiles backing off after a rate limit, now.
    pub backoffs: Vec<BackoffView>,
}

impl LimitsView {
    /// The budget in the worst state, if any is past `Ok`.
    pub fn worst_budget(&self) -> Option<&BudgetView> {
        self.budgets
            .iter()
            .filter(|b| b.level != BudgetLevel::Ok)
            .max_by_key(|b| b.level)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetView {
    /// `run`, or a profile's name.
    pub scope: String,
    pub max_usd: f64,
    pub warn_at: f64,
    /// Reported costs only.
    pub spent_usd: f64,
    /// Tasks that ran and reported no cost: unknown, never counted as free.
    pub unknown_tasks: usize,
    pub level: BudgetLevel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackoffView {
    pub profile: String,
    pub until_ms: u64,
    pub backoff_ms: u64,
}

/// What a run's agents reported spending: the sum over the tasks that
/// reported, and how many that ran did not (unknown, never free).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UsageTotal {
    pub total: Usage,
    pub reported: usize,
    pub not_reported: usize,
}

impl Snapshot {
    /// A finished or halted run's clock stops at its last attempt's end.
    pub fn stopped_at(&self) -> Option<u64> {
        matches!(self.phase, RunPhase::Finished | RunPhase::Halted)
            .then(|| {
                self.tasks
                    .iter()
                    .flat_map(|t| t.attempts.iter().filter_map(|a| a.ended_ms))
                    .max()
            })
            .flatten()
    }

    pub fn usage_total(&self) -> UsageTotal {
        let mut sum = UsageTotal::default();
        for t in self.tasks.iter().filter(|t| t.attempt > 0) {
            match t.usage {
                Some(u) => {
                    sum.total = sum.total.plus(u);
                    sum.reported += 1;
                }
                None => sum.not_reported += 1,
            }
        }
        sum
    }
}

impl TaskView {
    /// The task as its plan describes it, before anything ran.
    pub fn planned(task: &crate::plan::Task) -> TaskView {
        TaskView {
            id: task.task_id.clone(),
            title: task.title.clone(),
            group: task.group.clone(),
            priority: task.priority.as_str().to_string(),
            effort_hours: task.effort_hours,
            dependencies: task.dependencies.clone(),
            profile: task.agent.kind.clone(),
            state: TaskState::Pending,
            light: Light::Idle,
            attempt: 0,
            restarts: 0,
            attempts: Vec::new(),
            last_line: String::new(),
            message: None,
            pane_id: None,
            session: None,
            worktree: None,
            branch: None,
            host: None,
            agent_state: None,
            usage: None,
            selected: false,
        }
    }
}

/// Close the last attempt's span with `outcome`, unless it is closed already.
pub fn end_last_attempt(attempts: &mut [AttemptSpan], outcome: AttemptOutcome, at_ms: u64) {
    if let Some(span) = attempts.last_mut()
        && span.ended_ms.is_none()
    {
        span.ended_ms = Some(at_ms);
        span.outcome = Some(outcome);
        for p in &mut span.pauses {
            p.to_ms.get_or_insert(at_ms);
        }
    }
}

/// The plan's groups in their order, as front ends show them.
pub fn group_views(plan: &crate::plan::ValidPlan) -> Vec<GroupView> {
    plan.group_order
        .iter()
        .map(|&g| {
            let grp = &plan.plan.groups[g];
            GroupView {
                id: grp.id.clone(),
                title: grp.title.clone(),
                after: grp.after.clone(),
            }
        })
        .collect()
}

//! The plan file's serde types: field names follow the seed's `task-dispatcher.yaml`.
//!
//! Every struct denies unknown fields, so a typo in a plan is an error, never a
//! silently ignored setting.

pub use super::screen::{ScreenRules, Submit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Plan {
    #[serde(default = "defaults::version")]
    pub version: u32,
    #[serde(default)]
    pub settings: Settings,
    #[serde(default)]
    pub agents: BTreeMap<String, AgentProfile>,
    #[serde(default)]
    pub groups: Vec<Group>,
    pub tasks: Vec<Task>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    /// How many workers may run at once.
    pub max_parallel: usize,
    /// Where validated task branches are merged; created from HEAD when absent.
    pub integration_branch: String,
    /// Worktrees live here, relative to the repository root.
    pub workspace_dir: String,
    pub heartbeat: HeartbeatSettings,
    /// A pane silent this long is flagged STALLED (a light, not a kill).
    pub stall_after_ms: u64,
    pub restart: RestartSettings,
    /// How many fallback profiles a task may escalate to before it fails.
    pub max_fallbacks: u32,
    pub halt: HaltSettings,
    pub tmux: TmuxSettings,
    /// Remove a task's worktree once its branch is merged.
    pub remove_merged_worktrees: bool,
    /// An attempt running longer than this fails ("timed out after …") and
    /// goes through restart and escalation; none when absent. A profile's
    /// or a task's own `timeoutMinutes` wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<f64>,
    /// Which ready task starts first, and on which profile.
    pub assignment: Assignment,
    /// A token bucket over every start, restarts included: `N/s`, `N/min`
    /// or `N/h` (`"10/min"`); unlimited when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spawn_rate: Option<String>,
    /// What the run may spend (reported `costUsd`, summed over the journal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// How long a profile whose agent said it is rate limited or overloaded
    /// starts nothing new.
    pub rate_limit: RateLimitSettings,
    /// A command (`sh -c`, in a temporary worktree at the merge result) that
    /// must pass before the integration branch moves to a task's merge; a
    /// group's own wins. None: merges are not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_check: Option<String>,
    /// How long a task's claim (`.switchboard/claims/<TASK>`) lasts unless
    /// its engine renews it: past it, with that engine gone, another engine
    /// may take the task over.
    pub claim_lease_ms: u64,
    /// A `command` validation or an integration check still running after
    /// this long is stopped (its whole process group) and fails as timed out,
    /// so a hung test suite cannot hold the merge queue forever.
    pub check_timeout_minutes: f64,
    /// Other machines reached over OpenSSH; `local` (this machine) is
    /// always a host too. Tasks go where there is room (and the labels
    /// they ask for); `switchboard doctor` checks each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<Host>,
    /// Long-lived workers that take the plan's tasks one after another
    /// (a group's own `pool` wins for its tasks). None: a worker per attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolSettings>,
}

impl Settings {
    /// Workers at once over every host: this machine's `maxParallel` and
    /// each host's (its own, else the same).
    pub fn capacity(&self) -> usize {
        let hosts: usize = self
            .hosts
            .iter()
            .map(|h| h.max_parallel.unwrap_or(self.max_parallel))
            .sum();
        self.max_parallel + hosts
    }
}

/// A persistent worker pool: `size` workers, each a tmux session with its
/// own worktree, running `profile`'s agent; ready tasks go to idle workers.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PoolSettings {
    pub size: usize,
    /// The agent profile the workers run: every task the pool takes starts
    /// on it (escalating through its `fallbacks`).
    pub profile: String,
}

/// A machine reached with `ssh`, where workers may run.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Host {
    /// What switchboard calls it: in messages, columns, socket names.
    pub name: String,
    /// The destination with any `ssh` options, split as a shell would:
    /// `dev@big1`, `-p 2222 dev@big1`, `-F ~/.ssh/work_config big1`.
    pub ssh: String,
    /// Its workers at once; `settings.maxParallel` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<usize>,
    /// Words tasks' `needs` and profiles' `capabilities` may ask for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Where its clone of the repository lives (`~/` is its home); its
    /// home when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
}

/// How ready tasks are ordered, and how a profile is picked for tasks that
/// name none (`needs` matched against profiles' `capabilities`).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Assignment {
    /// Plan order.
    #[default]
    Fifo,
    /// CRITICAL first, LOW last, then plan order.
    Priority,
    /// The longest remaining chain of effort first.
    CriticalPath,
    /// Plan order; a task without `agent.type` goes to the first profile
    /// whose `capabilities` cover its `needs` and that may start now.
    Capability,
    /// Plan order; a task without `agent.type` goes to the profiles that fit
    /// in turn.
    RoundRobin,
}

impl Assignment {
    pub fn as_str(self) -> &'static str {
        match self {
            Assignment::Fifo => "fifo",
            Assignment::Priority => "priority",
            Assignment::CriticalPath => "critical-path",
            Assignment::Capability => "capability",
            Assignment::RoundRobin => "round-robin",
        }
    }
    /// Tasks may leave `agent.type` out: a profile is picked by `needs`.
    pub fn picks_profiles(self) -> bool {
        matches!(self, Assignment::Capability | Assignment::RoundRobin)
    }
}

/// A spending cap in US dollars, over what agents reported.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Budget {
    pub max_usd: f64,
    /// Warn once spending reaches this share of `maxUsd`.
    #[serde(default = "defaults::warn_at")]
    pub warn_at: f64,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RateLimitSettings {
    /// The first back-off; doubles with each rate limit seen during or soon
    /// after the last, up to `maxBackoffMs`.
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            backoff_ms: 30_000,
            max_backoff_ms: 600_000,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_parallel: 8,
            integration_branch: "switchboard/integration".into(),
            workspace_dir: ".switchboard/workspaces".into(),
            heartbeat: HeartbeatSettings::default(),
            stall_after_ms: 60_000,
            restart: RestartSettings::default(),
            max_fallbacks: 2,
            halt: HaltSettings::default(),
            tmux: TmuxSettings::default(),
            remove_merged_worktrees: true,
            timeout_minutes: None,
            assignment: Assignment::default(),
            spawn_rate: None,
            budget: None,
            rate_limit: RateLimitSettings::default(),
            integration_check: None,
            claim_lease_ms: crate::engine::claims::DEFAULT_LEASE_MS,
            check_timeout_minutes: 30.0,
            hosts: Vec::new(),
            pool: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HeartbeatSettings {
    #[serde(default = "defaults::interval_ms")]
    pub interval_ms: u64,
    /// No beat for this long: LATE. Default 2 × interval.
    pub late_after_ms: Option<u64>,
    /// No beat for this long: MISSING. Default 5 × interval.
    pub missing_after_ms: Option<u64>,
    /// No beat for this long: DEAD, and crash handling starts. Default 3 × missing.
    pub dead_after_ms: Option<u64>,
}

impl Default for HeartbeatSettings {
    fn default() -> Self {
        HeartbeatSettings {
            interval_ms: defaults::interval_ms(),
            late_after_ms: None,
            missing_after_ms: None,
            dead_after_ms: None,
        }
    }
}

impl HeartbeatSettings {
    // Saturating: the validator computes these before it has refused a huge interval.
    pub fn late_ms(&self) -> u64 {
        self.late_after_ms
            .unwrap_or(self.interval_ms.saturating_mul(2))
    }
    pub fn missing_ms(&self) -> u64 {
        self.missing_after_ms
            .unwrap_or(self.interval_ms.saturating_mul(5))
    }
    pub fn dead_ms(&self) -> u64 {
        self.dead_after_ms
            .unwrap_or(self.missing_ms().saturating_mul(3))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RestartSettings {
    /// Restarts per agent profile before escalating to a fallback.
    pub max_restarts: u32,
    /// First restart delay; doubles each time up to `maxBackoffMs`.
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// An interactive agent whose turn ended with failing checks is told so
    /// in its session this many times before the attempt counts as failed.
    pub max_nudges: u32,
}

impl Default for RestartSettings {
    fn default() -> Self {
        RestartSettings {
            max_restarts: 3,
            backoff_ms: 1000,
            max_backoff_ms: 30_000,
            max_nudges: 2,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HaltSettings {
    /// SIGINT, then SIGTERM after this, then SIGKILL after twice this.
    pub grace_ms: u64,
}

impl Default for HaltSettings {
    fn default() -> Self {
        HaltSettings { grace_ms: 2000 }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TmuxSettings {
    /// A private tmux server (`tmux -L NAME`); the default server when absent.
    pub socket: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentProfile {
    /// Run with `sh -c` in the task's worktree. Filled by `preset` when
    /// absent.
    #[serde(default)]
    pub command: String,
    /// A real agent CLI switchboard knows how to run (`config/presets.yaml`):
    /// claude, codex, gemini, opencode or aider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// With a preset: `interactive` (the default) or `headless`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// With a preset: the model to ask for, passed the CLI's way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Other profile names, tried in order when this one keeps failing.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    #[serde(default)]
    pub prompt_rules: Vec<PromptRule>,
    /// This profile's attempts time out after this long (overrides settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<f64>,
    /// How the agent's screen says it is working, waiting or idle at its
    /// prompt (see [`ScreenRules`]).
    #[serde(default, skip_serializing_if = "ScreenRules::is_empty")]
    pub screen: ScreenRules,
    /// Typed into the agent's prompt the first time its screen reads idle:
    /// for agents that cannot be started with a prompt (aider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_prompt: Option<String>,
    /// How typed text (a nudge, an answer, `typePrompt`) is submitted:
    /// `with_enter` (the default) or `separate_enter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit: Option<Submit>,
    /// From the preset: its status hooks, installed in each worktree.
    #[serde(skip)]
    pub hooks: Option<super::presets::HookSpec>,
    /// With a preset: dialogs to skip by writing the agent's own config
    /// before each attempt (`[trust]`), outside the worktree, so opt-in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preaccept: Vec<String>,
    /// At most this many attempts of this profile at once (besides
    /// `settings.maxParallel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<usize>,
    /// What it can do, matched against tasks' `needs` (`assignment:
    /// capability` or `round-robin`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// What this profile's attempts may spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
}

/// When the pane shows `match`, either answer with `send` or flag the worker WAITING.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromptRule {
    #[serde(rename = "match")]
    pub pattern: String,
    #[serde(default)]
    pub send: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    #[serde(default)]
    pub title: String,
    /// Groups that must be done before this one opens.
    #[serde(default)]
    pub after: Vec<String>,
    /// This group's merges are checked with this command instead of
    /// `settings.integrationCheck`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_check: Option<String>,
    /// This group's tasks go to a pool of their own instead of
    /// `settings.pool`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolSettings>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum Priority {
    Critical,
    High,
    #[default]
    Medium,
    Low,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "CRITICAL",
            Priority::High => "HIGH",
            Priority::Medium => "MEDIUM",
            Priority::Low => "LOW",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Task {
    pub task_id: String,
    pub title: String,
    pub group: String,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub effort_hours: Option<f64>,
    /// Its profile; may be left out when `settings.assignment` picks one by
    /// `needs`.
    #[serde(default)]
    pub agent: TaskAgent,
    /// Capabilities a profile must have to run it (when it names no
    /// `agent.type`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    #[serde(default)]
    pub instruction: String,
    #[serde(default)]
    pub inputs: Vec<Input>,
    #[serde(default)]
    pub outputs: Vec<Output>,
    #[serde(default)]
    pub validation: Vec<Validation>,
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// This task's attempts time out after this long (overrides its profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<f64>,
    /// Run this instead of its profile's `command` (the profile's env,
    /// rules and timeout still apply; a fallback runs its own command), so
    /// six tasks don't need seven profiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TaskAgent {
    /// Empty when the task names no profile (one is picked by `needs`).
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl Task {
    /// The profile it names, if any.
    pub fn agent_type(&self) -> Option<&str> {
        Some(self.agent.kind.as_str()).filter(|k| !k.is_empty())
    }
    /// What its worktree and branch are named after: its profile, or `any`
    /// for a task whose profile is picked when it starts.
    pub fn place_kind(&self) -> &str {
        self.agent_type().unwrap_or("any")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub path: String,
    /// A Markdown heading of `path`; its section's text is copied into the instruction.
    #[serde(default)]
    pub section: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub path: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Validation {
    /// Every output of the task exists in its worktree.
    FileExists {
        #[serde(default)]
        description: Option<String>,
    },
    /// `run` exits 0 when run with `sh -c` in the worktree.
    Command {
        run: String,
        #[serde(default)]
        description: Option<String>,
    },
    /// The task branch has a commit whose message contains the task id.
    Commit {
        #[serde(default)]
        description: Option<String>,
    },
}

impl Validation {
    pub fn describe(&self) -> String {
        match self {
            Validation::FileExists { .. } => "file_exists: every output exists".into(),
            Validation::Command { run, .. } => format!("command: `{run}` exits 0"),
            Validation::Commit { .. } => "commit: a commit message names the task id".into(),
        }
    }
}

mod defaults {
    pub fn version() -> u32 {
        1
    }
    pub fn interval_ms() -> u64 {
        1000
    }
    pub fn warn_at() -> f64 {
        0.8
    }
}

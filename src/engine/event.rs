//! The journal's vocabulary: one typed [`Event`] per line of
//! `.switchboard/journal.jsonl`, wrapped in an [`Entry`] with its time and
//! task. The JSON on disk is the flat shape earlier engines wrote
//! (`{"ts":…,"ts_ms":…,"event":"state","task":"T1","attempt":1,"state":"running",…}`),
//! so their journals still replay.

use super::snapshot::{AttemptOutcome, HaltReport, Light, TaskState};
use crate::worker::protocol::ReportState;
use crate::worker::secret::SecretDigest;
use serde::{Deserialize, Serialize};

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Local wall-clock time, RFC 3339 with milliseconds.
    pub ts: String,
    /// The same instant as milliseconds since the Unix epoch (for arithmetic).
    pub ts_ms: u64,
    #[serde(flatten)]
    pub event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// The engine that wrote it (`.switchboard/engines/<n>`), where several
    /// engines share the journal; absent in journals of earlier engines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<u32>,
}

impl Entry {
    pub fn new(event: Event, now_ms: u64) -> Self {
        Entry {
            ts: format_ts(now_ms),
            ts_ms: now_ms,
            event,
            task: None,
            attempt: None,
            engine: None,
        }
    }

    /// The entry concerns `task`'s attempt `attempt` (0: none yet).
    pub fn task(mut self, task: &str, attempt: u32) -> Self {
        self.task = Some(task.to_string());
        self.attempt = (attempt > 0).then_some(attempt);
        self
    }
}

fn format_ts(ms: u64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_millis_opt(ms as i64) {
        chrono::LocalResult::Single(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
        _ => ms.to_string(),
    }
}

/// Everything the engine journals. Field names are the keys on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// An engine opened on the plan; `selection` is the task ids it runs
    /// (empty: a control room waiting for a person).
    RunStarted {
        selection: String,
    },
    RunFinished {
        summary: String,
    },
    /// The run was stopped by a signal or the control room's quit-and-halt.
    Interrupted {
        signal: String,
    },
    /// A task changed state (or the same state with a new reason).
    State {
        state: TaskState,
        profile: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An attempt's worktree and tmux session exist.
    Spawned {
        profile: String,
        session: String,
        pane: String,
        worktree: String,
        branch: String,
        /// The SHA-256 of the attempt's secret, so a new engine can check
        /// the hello of this worker before adopting it. Earlier engines
        /// wrote none: their workers are not adopted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_sha256: Option<SecretDigest>,
        /// The host it runs on (`settings.hosts`); none: this machine.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
    },
    /// A live worker of an earlier engine was taken over.
    Adopted {
        profile: String,
    },
    /// The agent said something about itself (`switchboard report`).
    Report {
        #[serde(with = "report_word")]
        state: ReportState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The agent process ended, as its shim saw it.
    Exit {
        how: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
    },
    Validation {
        check: String,
        ok: bool,
        detail: String,
    },
    /// `settings.integrationCheck` (or the group's) ran on the merge
    /// result, before the integration branch moved; failing, it did not.
    IntegrationCheck {
        ok: bool,
        command: String,
        /// How it ended and the last lines of its output.
        detail: String,
    },
    Merged {
        commit: String,
        branch: String,
    },
    Conflict {
        files: Vec<String>,
    },
    /// Early warning: the task's commits would conflict with `with` (the
    /// integration branch, or the task `with_task`).
    ConflictWarning {
        files: Vec<String>,
        with: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with_task: Option<String>,
    },
    GroupRun {
        group: String,
        prerequisites: String,
        blocked_by: String,
    },
    /// A person asked for the whole plan: `tasks` of it were selected.
    PlanRun {
        tasks: usize,
    },
    /// A light changed without a timeout: back to HEALTHY, STALLED, DEAD.
    Light {
        light: Light,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Heartbeat silence crossed a threshold (LATE, MISSING, DEAD).
    Timeout {
        light: Light,
        reason: String,
        #[serde(default)]
        profile: Option<String>,
        #[serde(default)]
        restart_count: Option<u32>,
        /// Always null: a timeout decides nothing yet (kept for the shape).
        #[serde(default)]
        next_profile: Option<String>,
    },
    /// The supervision chain after a failed attempt, or a person's restart.
    Restart(Supervision),
    Escalation(Supervision),
    Failure(Supervision),
    Halt(HaltReport),
    Resume,
    Warning {
        message: String,
    },
    /// A prompt rule typed its answer.
    PromptAnswered {
        #[serde(rename = "match")]
        pattern: String,
        line: String,
        sent: String,
    },
    /// A prompt rule without an answer flagged the worker WAITING.
    Prompt {
        #[serde(rename = "match")]
        pattern: String,
        line: String,
    },
    /// A person typed a line into the worker's pane (and pressed Enter).
    Typed {
        text: String,
    },
    /// What the agent reported it spent (`switchboard report usage`).
    Usage(crate::worker::protocol::Usage),
    /// An interactive agent went from busy to idle at its prompt: its turn
    /// is over, and the task's checks run.
    TurnFinished,
    /// Before the attempt started, switchboard set `setting` in the agent's
    /// own config `file` (outside the worktree) to skip a dialog, because
    /// the profile opted in (`preaccept`).
    Preaccepted {
        skips: String,
        file: String,
        setting: String,
    },
    /// The checks failed after a turn: the agent was told so in its session.
    Nudged {
        nudge: u32,
        check: String,
    },
    /// The agent's screen or hooks said it is rate limited or overloaded:
    /// its profile starts nothing new for `backoff_ms`.
    RateLimited {
        profile: String,
        backoff_ms: u64,
        line: String,
    },
    /// Spending reached `warnAt` of a budget (`scope`: `run` or a profile).
    BudgetWarning(BudgetNote),
    /// Spending reached a budget: no new start on it.
    BudgetExceeded(BudgetNote),
    /// A pool worker took the task: its worktree moved to the task's branch,
    /// and the task was typed into its live agent (`how: typed`) or its
    /// agent was started in its session (`started`). `saved`: where the
    /// previous task's uncommitted work was committed before the move.
    PoolDispatched {
        pool: String,
        worker: u32,
        how: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        saved: Option<String>,
    },
    /// A pool worker died: its session is replaced by a fresh one (its task
    /// goes through restart and escalation as any other).
    PoolWorkerReplaced {
        pool: String,
        worker: u32,
        reason: String,
    },
    /// This engine took over the task's claim (`.switchboard/claims/<TASK>`)
    /// from engine `from_engine`, which is gone: its lease ended, or this
    /// engine took its seat (the same engine number, after it died).
    ClaimTakenOver {
        from_engine: u32,
        from_pid: u32,
        from_host: String,
        /// When the old claim's lease ended (ms since the epoch).
        lease_ended_ms: u64,
        reason: String,
    },
    /// An event of a newer switchboard: kept in place, not understood.
    #[serde(other)]
    Unknown,
}

/// Where a budget stood when it was journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetNote {
    /// `run`, or the profile's name.
    pub scope: String,
    pub spent_usd: f64,
    pub max_usd: f64,
    /// Tasks that ran (on this scope) and reported no cost: not counted.
    pub unknown_tasks: usize,
}

impl BudgetNote {
    pub fn words(&self) -> String {
        let whose = if self.scope == "run" {
            "the run's budget".to_string()
        } else {
            format!("profile {}'s budget", self.scope)
        };
        let mut out = format!(
            "{whose}: ${:.2} of ${:.2} spent ({:.0} %)",
            self.spent_usd,
            self.max_usd,
            100.0 * self.spent_usd / self.max_usd
        );
        if self.unknown_tasks > 0 {
            let whose = if self.unknown_tasks == 1 {
                "task's"
            } else {
                "tasks'"
            };
            out.push_str(&format!(
                "; {} {whose} cost unknown (not reported, not counted)",
                self.unknown_tasks
            ));
        }
        out
    }
}

/// What the supervision chain decided, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Supervision {
    #[serde(default)]
    pub profile: Option<String>,
    pub reason: String,
    /// How the attempt ended; absent in journals of early engines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<AttemptOutcome>,
    #[serde(default)]
    pub restart_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Always written (null when there is none), as earlier engines did.
    #[serde(default)]
    pub next_profile: Option<String>,
}

/// Reports are journaled in capitals (`"state":"WAIT"`), as agents type them.
mod report_word {
    use crate::worker::protocol::ReportState;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(state: &ReportState, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(state.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ReportState, D::Error> {
        let word = String::deserialize(d)?;
        // Every state the CLI knows (`switchboard report <state>`).
        <ReportState as clap::ValueEnum>::value_variants()
            .iter()
            .copied()
            .find(|r| r.as_str().eq_ignore_ascii_case(&word))
            .ok_or_else(|| serde::de::Error::custom(format!("unknown report '{word}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn an_entry_is_flat_json_as_earlier_engines_wrote_it() {
        let e = Entry::new(
            Event::Report {
                state: ReportState::Wait,
                message: None,
            },
            0,
        )
        .task("T4", 1);
        let v: Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "report");
        assert_eq!(v["task"], "T4");
        assert_eq!(v["attempt"], 1);
        assert_eq!(v["state"], "WAIT");
        assert!(v["ts"].is_string());
    }

    #[test]
    fn lines_of_an_earlier_engine_read_as_typed_events() {
        let line = r#"{"ts":"x","ts_ms":5,"event":"restart","task":"T1","attempt":2,"delay_ms":500,"next_profile":"p","outcome":"crashed","profile":"p","reason":"exit 1","restart_count":1}"#;
        let e: Entry = serde_json::from_str(line).unwrap();
        assert_eq!(e.task.as_deref(), Some("T1"));
        let Event::Restart(s) = &e.event else {
            panic!("{e:?}")
        };
        assert_eq!(s.outcome, Some(AttemptOutcome::Crashed));
        assert_eq!(s.delay_ms, Some(500));
        let timeout = r#"{"ts":"x","ts_ms":5,"event":"timeout","task":"T1","attempt":2,"light":"LATE","reason":"no heartbeat for 2000 ms","profile":"p","restart_count":0,"next_profile":null}"#;
        let e: Entry = serde_json::from_str(timeout).unwrap();
        assert!(matches!(
            e.event,
            Event::Timeout {
                light: Light::Late,
                ..
            }
        ));
        let future = r#"{"ts":"x","ts_ms":5,"event":"teleported","task":"T1","where":"mars"}"#;
        let e: Entry = serde_json::from_str(future).unwrap();
        assert_eq!(e.event, Event::Unknown);
    }

    #[test]
    fn a_halt_carries_its_report_flat() {
        let report = HaltReport {
            halt_id: 3,
            total_workers: 1,
            acks_received: 1,
            acks_failed: 0,
            stopped: 1,
            workers: Vec::new(),
            all_acked: true,
            total_latency_ms: 12.5,
        };
        let e = Entry::new(Event::Halt(report.clone()), 9);
        let line = serde_json::to_string(&e).unwrap();
        assert!(line.contains(r#""halt_id":3"#), "{line}");
        let back: Entry = serde_json::from_str(&line).unwrap();
        assert_eq!(back.event, Event::Halt(report));
    }
}

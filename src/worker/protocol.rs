//! Wire messages between shims, the engine and control clients: JSON lines.
//!
//! One Unix socket serves both shims and control clients; the first line a
//! peer sends (`hello` or `command`) says which it is.

use super::secret::AttemptSecret;
use serde::{Deserialize, Serialize};

/// What an agent can say about itself (`switchboard report <state>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ReportState {
    Start,
    Done,
    Wait,
    Error,
    Help,
    Skip,
    /// Tokens and cost the agent used so far (`--input-tokens`,
    /// `--output-tokens`, `--cost-usd`); no change of state.
    Usage,
    /// The agent is at work (a hook saw a prompt or a tool call): a question
    /// it asked is answered.
    Busy,
    /// The agent's turn is over and it sits at its prompt: the task's checks
    /// run, as when its screen goes idle.
    Idle,
}

impl ReportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Start => "START",
            ReportState::Done => "DONE",
            ReportState::Wait => "WAIT",
            ReportState::Error => "ERROR",
            ReportState::Help => "HELP",
            ReportState::Skip => "SKIP",
            ReportState::Usage => "USAGE",
            ReportState::Busy => "BUSY",
            ReportState::Idle => "IDLE",
        }
    }
}

/// How an agent process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl ExitStatus {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    /// Killed by a signal, directly or through the agent's shell, which
    /// passes on its child's death by signal N as exit code 128+N.
    pub fn by_signal(&self) -> bool {
        self.signal.is_some() || self.code.is_some_and(|c| (129..=192).contains(&c))
    }

    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "unknown exit".into(),
        }
    }
}

/// The last signal the shim had to send to stop its agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StopSignal {
    /// The agent was not running (already exited).
    None,
    Sigint,
    Sigterm,
    Sigkill,
}

/// Shim → engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ShimMessage {
    /// First line of every connection, and again after a reconnect. The
    /// engine binds the connection to the attempt only when `secret` is the
    /// one it gave that attempt's shim; an older shim's hello has none.
    Hello {
        task: String,
        attempt: u32,
        shim_pid: u32,
        agent_pid: Option<u32>,
        pane_id: Option<String>,
        #[serde(default)]
        secret: AttemptSecret,
    },
    Heartbeat {
        seq: u64,
    },
    Report {
        state: ReportState,
        message: Option<String>,
        /// With `usage` (or any report): what the agent spent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
    },
    Exit {
        status: ExitStatus,
    },
    /// Sent as soon as a halt arrives (the acknowledgement) …
    HaltAck {
        halt_id: u64,
    },
    /// … and once the agent's process group is gone.
    Halted {
        halt_id: u64,
        stop_ms: u64,
        signal: StopSignal,
    },
}

/// Engine → shim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineMessage {
    Halt {
        halt_id: u64,
        grace_ms: u64,
    },
    /// The engine has recorded the agent's `exit`: the shim may end. Until it
    /// arrives the shim repeats its `exit` after every reconnect.
    Bye,
    /// A pool worker's live agent takes its next task: from now on the shim
    /// speaks for `task`'s attempt `attempt`, proving it with `secret` in a
    /// new hello on a new connection.
    Reassign {
        task: String,
        attempt: u32,
        secret: AttemptSecret,
    },
}

/// `switchboard report` → shim, over the shim's own socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentReport {
    pub state: ReportState,
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// What an agent spent, as it reports it: any part may be unknown. Unknown is
/// never counted as zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl Usage {
    pub fn is_empty(&self) -> bool {
        self.input_tokens.is_none() && self.output_tokens.is_none() && self.cost_usd.is_none()
    }

    /// `self` and `more` together; a part is known once either knows it.
    pub fn plus(self, more: Usage) -> Usage {
        let sum_u = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            // Saturating: the numbers are an agent's word, or a journal's.
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        };
        let sum_f = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        Usage {
            input_tokens: sum_u(self.input_tokens, more.input_tokens),
            output_tokens: sum_u(self.output_tokens, more.output_tokens),
            cost_usd: sum_f(self.cost_usd, more.cost_usd),
        }
    }

    /// `$0.42 12.3k/678 tok`: for a table cell or a header; `-` when
    /// nothing is known.
    pub fn short(&self) -> String {
        let n = |v: u64| match v {
            0..1_000 => v.to_string(),
            1_000..1_000_000 => format!("{:.1}k", v as f64 / 1e3),
            _ => format!("{:.1}M", v as f64 / 1e6),
        };
        let mut parts = Vec::new();
        if let Some(c) = self.cost_usd {
            parts.push(format!("${c:.2}"));
        }
        if self.input_tokens.is_some() || self.output_tokens.is_some() {
            let side = |v: Option<u64>| v.map_or("?".to_string(), n);
            let (i, o) = (side(self.input_tokens), side(self.output_tokens));
            parts.push(format!("{i}/{o} tok"));
        }
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join(" ")
        }
    }

    /// `$0.42, 12,345 in / 678 out`, or what is known of it.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.cost_usd {
            parts.push(format!("${c:.2}"));
        }
        match (self.input_tokens, self.output_tokens) {
            (Some(i), Some(o)) => parts.push(format!("{i} in / {o} out tokens")),
            (Some(i), None) => parts.push(format!("{i} input tokens")),
            (None, Some(o)) => parts.push(format!("{o} output tokens")),
            (None, None) => {}
        }
        if parts.is_empty() {
            "not reported".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Shim → `switchboard report`: one line per report, once the shim holds it
/// (queued for the engine, delivered even if the engine is briefly away).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAck {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ReportAck {
    pub fn accepted() -> Self {
        ReportAck {
            ok: true,
            error: None,
        }
    }
    pub fn rejected(error: impl Into<String>) -> Self {
        ReportAck {
            ok: false,
            error: Some(error.into()),
        }
    }
}

/// Environment variables a worker's processes see.
pub mod env {
    /// The engine's socket (shims connect here).
    pub const SOCKET: &str = "SWITCHBOARD_SOCKET";
    pub const TASK: &str = "SWITCHBOARD_TASK";
    pub const ATTEMPT: &str = "SWITCHBOARD_ATTEMPT";
    /// The attempt's secret, for the shim's hello; kept from the agent.
    pub const SECRET: &str = "SWITCHBOARD_SECRET";
    /// The shim's own socket, where `switchboard report` talks.
    pub const REPORT_SOCKET: &str = "SWITCHBOARD_REPORT_SOCKET";
    /// Newline-separated output paths, for agents (the sim agent) that want them.
    pub const OUTPUTS: &str = "SWITCHBOARD_OUTPUTS";
    pub const TITLE: &str = "SWITCHBOARD_TITLE";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_tagged_json() {
        let m = ShimMessage::Report {
            state: ReportState::Wait,
            message: Some("which db?".into()),
            usage: None,
        };
        let line = serde_json::to_string(&m).unwrap();
        assert_eq!(
            line,
            r#"{"type":"report","state":"wait","message":"which db?"}"#
        );
        assert_eq!(serde_json::from_str::<ShimMessage>(&line).unwrap(), m);
    }

    #[test]
    fn engine_messages_are_tagged_too() {
        let bye = serde_json::to_string(&EngineMessage::Bye).unwrap();
        assert_eq!(bye, r#"{"type":"bye"}"#);
        let halt: EngineMessage =
            serde_json::from_str(r#"{"type":"halt","halt_id":7,"grace_ms":500}"#).unwrap();
        assert_eq!(
            halt,
            EngineMessage::Halt {
                halt_id: 7,
                grace_ms: 500
            }
        );
    }

    /// Found by the journal fuzz property: two reports of u64::MAX tokens
    /// overflowed their sum.
    #[test]
    fn usage_sums_saturate() {
        let huge = Usage {
            input_tokens: Some(u64::MAX),
            output_tokens: None,
            cost_usd: None,
        };
        assert_eq!(huge.plus(huge).input_tokens, Some(u64::MAX));
    }

    #[test]
    fn report_ack_omits_a_missing_error() {
        let line = serde_json::to_string(&ReportAck::accepted()).unwrap();
        assert_eq!(line, r#"{"ok":true}"#);
        assert_eq!(
            serde_json::from_str::<ReportAck>(&line).unwrap(),
            ReportAck::accepted()
        );
    }
}

//! The tokens of one codex turn, read from the thread's session file
//! ("rollout", `<sessions>/YYYY/MM/DD/rollout-<time>-<thread>.jsonl`):
//! codex's `notify` payload names the thread and the turn but carries no
//! usage. Where the file lives and which payload fields name what is the
//! preset's (`hooks.usage.rollout` in `config/presets.yaml`).

use super::protocol::Usage;
use crate::plan::presets::RolloutSpec;
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a turn's end waits for codex to write it to the rollout.
const ROLLOUT_WAIT: Duration = Duration::from_secs(3);

/// What a rollout says of one turn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TurnTokens {
    /// The turn's tokens; `None` when no model call of it is recorded.
    pub usage: Option<Usage>,
    /// Whether its `task_complete` is written (later lines add nothing).
    pub complete: bool,
}

/// The tokens of the turn `payload` names, its rollout found by `spec`
/// with `var` as the environment. codex may notify before the turn's last
/// lines reach the file: wait for its `task_complete`, a little while. No
/// file at all (codex writes it from the thread's first turn on): none.
pub fn turn_usage(
    spec: &RolloutSpec,
    payload: &Value,
    var: &impl Fn(&str) -> Option<String>,
) -> Option<Usage> {
    let thread = payload.get(&spec.thread)?.as_str()?;
    let turn = payload.get(&spec.turn)?.as_str()?;
    let sessions = spec
        .dir
        .iter()
        .find_map(|d| crate::engine::preaccept::expand(d, var))?;
    let deadline = Instant::now() + ROLLOUT_WAIT;
    let mut seen = TurnTokens::default();
    loop {
        let file = find(Path::new(&sessions), thread)?;
        if let Ok(f) = std::fs::File::open(file) {
            seen = turn_tokens(std::io::BufReader::new(f), turn);
        }
        if seen.complete || Instant::now() >= deadline {
            return seen.usage;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The rollout of `thread` under `sessions` (its `YYYY/MM/DD` folders,
/// newest first).
pub fn find(sessions: &Path, thread: &str) -> Option<PathBuf> {
    let suffix = format!("-{thread}.jsonl");
    let sorted = |dir: &Path| -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        paths.sort_unstable_by(|a, b| b.cmp(a));
        paths
    };
    for year in sorted(sessions) {
        for month in sorted(&year) {
            for day in sorted(&month) {
                let hit = sorted(&day).into_iter().find(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("rollout-") && n.ends_with(&suffix))
                });
                if hit.is_some() {
                    return hit;
                }
            }
        }
    }
    None
}

/// The tokens of turn `turn` in a rollout: the thread's running total
/// (`token_count` events' `info.total_token_usage`) at the turn's last
/// model call, minus the total before its `task_started`. Differences of
/// totals, not sums of `last_token_usage`: a total repeated by a later
/// event counts once.
pub fn turn_tokens(reader: impl BufRead, turn: &str) -> TurnTokens {
    let mut before = Totals::default();
    let mut during: Option<Totals> = None;
    let mut started = false;
    let mut complete = false;
    for line in reader.lines().map_while(Result::ok) {
        let Ok(record) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if record.get("type").and_then(Value::as_str) != Some("event_msg") {
            continue;
        }
        let payload = &record["payload"];
        let of_turn = payload["turn_id"].as_str() == Some(turn);
        match payload["type"].as_str() {
            Some("task_started") if of_turn => started = true,
            Some("task_complete") if of_turn && started => {
                complete = true;
                break;
            }
            Some("token_count") => {
                let Some(total) = Totals::of(&payload["info"]["total_token_usage"]) else {
                    continue;
                };
                if started {
                    during = Some(total);
                } else {
                    before = total;
                }
            }
            _ => {}
        }
    }
    TurnTokens {
        usage: during.map(|end| Usage {
            input_tokens: Some(end.input.saturating_sub(before.input)),
            output_tokens: Some(end.output.saturating_sub(before.output)),
            cost_usd: None,
        }),
        complete,
    }
}

/// A running total of a thread. codex's `input_tokens` include the cached
/// ones and its `output_tokens` the reasoning ones, as OpenAI counts them.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    input: u64,
    output: u64,
}

impl Totals {
    fn of(usage: &Value) -> Option<Totals> {
        Some(Totals {
            input: usage.get("input_tokens")?.as_u64()?,
            output: usage.get("output_tokens")?.as_u64()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sessions() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agents/codex-0.171.0/sessions")
    }

    fn spec() -> RolloutSpec {
        crate::plan::presets::all()["codex"]
            .hooks
            .clone()
            .and_then(|h| h.usage)
            .and_then(|u| u.rollout)
            .expect("codex reads a rollout")
    }

    /// The interactive and the exec run of the real-codex test: one turn
    /// each of three model calls of 100 in / 20 out (the scripted server's).
    const RUNS: [(&str, &str); 2] = [
        (
            "01a2370a-132d-7082-8d19-d4fee2391d64",
            "01a2370a-139c-7372-8ff9-1672a337679c",
        ),
        (
            "01a2370a-1035-7c40-8abb-c44b20cb30e7",
            "01a2370a-1058-7350-8b92-904d459b959a",
        ),
    ];

    #[test]
    fn a_notified_turns_tokens_are_read_from_its_rollout() {
        let spec = spec();
        let home = sessions();
        let home = home.to_str().unwrap();
        let var = |name: &str| {
            (name == "CODEX_HOME").then(|| home.trim_end_matches("/sessions").to_string())
        };
        for (thread, turn) in RUNS {
            let payload =
                json!({"type": "agent-turn-complete", "thread-id": thread, "turn-id": turn});
            let usage = turn_usage(&spec, &payload, &var).expect("the turn's tokens");
            assert_eq!(
                (usage.input_tokens, usage.output_tokens, usage.cost_usd),
                (Some(300), Some(60), None),
                "{thread}"
            );
        }
        let unknown = json!({"thread-id": "nope", "turn-id": RUNS[0].1});
        assert_eq!(
            turn_usage(&spec, &unknown, &|_| None),
            None,
            "no variable set"
        );
        assert_eq!(find(&sessions(), "nope"), None);
    }

    #[test]
    fn a_later_turn_counts_only_what_it_added() {
        let line = |v: Value| format!("{}\n", json!({"type": "event_msg", "payload": v}));
        let count = |i: u64, o: u64| {
            line(json!({"type": "token_count", "info": {
                "total_token_usage": {"input_tokens": i, "output_tokens": o},
                "last_token_usage": {"input_tokens": 1, "output_tokens": 1}}}))
        };
        let started = |t: &str| line(json!({"type": "task_started", "turn_id": t}));
        let done = |t: &str| line(json!({"type": "task_complete", "turn_id": t}));
        let text = [
            started("t1"),
            count(100, 20),
            done("t1"),
            started("t2"),
            count(250, 30),
            count(250, 30),
            count(400, 45),
            done("t2"),
            started("t3"),
            count(500, 50),
        ]
        .concat();
        let t2 = turn_tokens(text.as_bytes(), "t2");
        assert!(t2.complete);
        let u = t2.usage.unwrap();
        assert_eq!((u.input_tokens, u.output_tokens), (Some(300), Some(25)));
        let t3 = turn_tokens(text.as_bytes(), "t3");
        assert!(!t3.complete, "not written yet");
        assert_eq!(t3.usage.unwrap().output_tokens, Some(5));
        let none = turn_tokens(started("t4").as_bytes(), "t4");
        assert_eq!(none, TurnTokens::default(), "no model call: not reported");
    }
}

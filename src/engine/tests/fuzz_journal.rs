//! Fuzz properties of the journal on disk. Whatever the file holds (garbage,
//! torn lines, invalid UTF-8, entries of every kind with hostile values),
//! reading it, replaying it, folding it into a snapshot, the execution log,
//! the headless summary, and a new engine started on it (then asked to halt
//! and resume) neither panic nor hang; and an entry appended after any
//! content reads back whole.

use crate::engine::command::Command;
use crate::engine::event::{Entry, Event, Supervision};
use crate::engine::fixture::{Fixture, Start};
use crate::engine::snapshot::{AttemptOutcome, Light, TaskState};
use crate::engine::{exec_log, history, journal, words};
use crate::fuzz::{config, hostile_text, within};
use crate::worker::protocol::{EngineMessage, Usage};
use crate::worker::secret::AttemptSecret;
use proptest::prelude::*;
use serde_json::{Value, json};

const RECORDED: &str = include_str!("../../../tests/fixtures/journal/mid-run.jsonl");
const PLAN: &str = include_str!("../../../tests/fixtures/journal/mid-run.plan.yaml");

/// Up to three lines of each kind the recorded run has (so that a rare
/// kind is drawn as often as `state`), and one of each kind it lacks.
fn templates() -> Vec<Value> {
    let mut seen = std::collections::HashMap::new();
    let mut lines: Vec<Value> = RECORDED
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            let n = seen.entry(v["event"].to_string()).or_insert(0);
            *n += 1;
            *n <= 3
        })
        .collect();
    let supervision = Supervision {
        profile: Some("generalist".into()),
        reason: "no".into(),
        outcome: Some(AttemptOutcome::Crashed),
        restart_count: Some(1),
        delay_ms: Some(500),
        next_profile: None,
    };
    let more = [
        Event::Light {
            light: Light::Dead,
            reason: Some("gone".into()),
        },
        Event::Timeout {
            light: Light::Late,
            reason: "silent".into(),
            profile: Some("generalist".into()),
            restart_count: Some(0),
            next_profile: None,
        },
        Event::Adopted {
            profile: "generalist".into(),
        },
        Event::ConflictWarning {
            files: vec!["a".into()],
            with: "T2".into(),
            with_task: Some("T2".into()),
        },
        Event::GroupRun {
            group: "GROUP_A".into(),
            prerequisites: "-".into(),
            blocked_by: "-".into(),
        },
        Event::PlanRun { tasks: 3 },
        Event::Warning {
            message: "w".into(),
        },
        Event::Prompt {
            pattern: "?".into(),
            line: "Proceed?".into(),
        },
        Event::PromptAnswered {
            pattern: "?".into(),
            line: "Proceed?".into(),
            sent: "y".into(),
        },
        Event::Usage(Usage {
            input_tokens: Some(1_000),
            output_tokens: Some(200),
            cost_usd: Some(0.05),
        }),
        Event::TurnFinished,
        Event::Typed {
            text: "use postgres".into(),
        },
        Event::Preaccepted {
            skips: "a question".into(),
            file: "/home/.agent.json".into(),
            setting: "projects[\"/w\"].trusted = true".into(),
        },
        Event::Nudged {
            nudge: 1,
            check: "npm test".into(),
        },
        Event::Spawned {
            profile: "generalist".into(),
            session: "sb-x-T1".into(),
            pane: "%7".into(),
            worktree: "/tmp/w".into(),
            branch: "agent/T1/generalist".into(),
            secret_sha256: Some(AttemptSecret::new("0123").digest()),
            host: Some("big1".into()),
        },
        Event::Escalation(supervision.clone()),
        Event::Failure(supervision),
        Event::Resume,
        Event::Interrupted {
            signal: "SIGINT".into(),
        },
        Event::RunFinished {
            summary: "done".into(),
        },
    ];
    for event in more {
        let entry = Entry::new(event, 1_700_000_000_500).task("T1", 2);
        lines.push(serde_json::to_value(entry).expect("an entry is JSON"));
    }
    lines
}

/// The words the journal's enums are written with, and other tags.
const WORDS: [&str; 16] = [
    "running",
    "done",
    "failed",
    "pending",
    "halted",
    "merged",
    "state",
    "halt",
    "DEAD",
    "LATE",
    "HEALTHY",
    "crashed",
    "WAIT",
    "T1",
    "T99",
    "teleported",
];

/// A JSON value to put where the journal has another: hostile text, numbers
/// at their types' edges, the wrong type, a known word in the wrong place.
fn hostile_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => hostile_text().prop_map(Value::from),
        2 => prop::sample::select(WORDS.to_vec()).prop_map(Value::from),
        2 => prop_oneof![
            Just(0u64),
            Just(u64::from(u32::MAX)),
            Just(u64::from(u32::MAX) + 1),
            Just(u64::MAX),
            any::<u64>(),
        ]
        .prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        1 => prop_oneof![Just(json!(null)), Just(json!(true)), Just(json!([1, "a"])), Just(json!({"a": {}}))],
    ]
}

/// One line of the file.
#[derive(Debug, Clone)]
enum Line {
    /// A template with some of its fields set to other values.
    Entry {
        template: prop::sample::Index,
        edits: Vec<(prop::sample::Index, Value)>,
    },
    /// A template cut short, as by a crash mid-write.
    Torn {
        template: prop::sample::Index,
        at: prop::sample::Index,
    },
    Bytes(Vec<u8>),
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        6 => (any::<prop::sample::Index>(), prop::collection::vec((any::<prop::sample::Index>(), hostile_json()), 0..3))
            .prop_map(|(template, edits)| Line::Entry { template, edits }),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(template, at)| Line::Torn { template, at }),
        1 => prop::collection::vec(any::<u8>(), 0..80).prop_map(Line::Bytes),
    ]
}

/// The file's bytes: the lines, with or without a last newline.
fn file(lines: &[Line], templates: &[Value], last_newline: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        if n > 0 {
            bytes.push(b'\n');
        }
        match line {
            Line::Entry { template, edits } => {
                let mut value = template.get(templates).clone();
                if let Value::Object(map) = &mut value {
                    for (key, new) in edits {
                        let keys: Vec<String> = map.keys().cloned().collect();
                        map.insert(key.get(&keys).clone(), new.clone());
                    }
                }
                bytes.extend(value.to_string().into_bytes());
            }
            Line::Torn { template, at } => {
                let text = template.get(templates).to_string();
                bytes.extend(&text.as_bytes()[..at.index(text.len())]);
            }
            Line::Bytes(b) => bytes.extend(b),
        }
    }
    if last_newline && !bytes.is_empty() {
        bytes.push(b'\n');
    }
    bytes
}

/// Everything that reads a journal, on the file at `path`.
fn read_it_all(path: &std::path::Path, now_ms: u64) {
    let entries = journal::read(path).expect("a readable file");
    let plan = crate::engine::fixture::plan(PLAN);
    let replay = journal::replay(&entries);
    for id in &replay.merged {
        let _ = plan.task_idx(id);
    }
    let snap = history::snapshot(&plan, "fuzz.yaml", &entries, now_ms);
    let _ = crate::headless::summary(&snap);
    let _ = exec_log::render(&plan, &entries);
    for e in &entries {
        let _ = words::describe(e);
    }

    // A new engine on it: two tasks selected, time passing, a halt and a resume.
    let mut fx = Fixture::start(
        PLAN,
        Start {
            select: vec!["T1", "T2"],
            journal: entries.clone(),
            ..Default::default()
        },
    );
    fx.advance(5_000);
    let _ = fx.request(Command::Status);
    let _halt = fx.request_later(Command::Halt);
    fx.advance(10_000);
    let _ = fx.request(Command::Resume);
    fx.advance(5_000);

    // Whatever the file ended with, an entry appended after it reads back.
    let (mut j, _) = journal::Journal::open(path).expect("opens");
    let probe = Entry::new(
        Event::State {
            state: TaskState::Pending,
            profile: "probe".into(),
            reason: None,
        },
        1,
    )
    .task("T1", 1);
    j.append(&probe).expect("appends");
    let after = journal::read(path).expect("a readable file");
    assert_eq!(after.last(), Some(&probe), "the appended entry reads back");
    assert_eq!(
        after.len(),
        entries.len() + 1,
        "and nothing before it was lost"
    );
}

// Each case starts an engine on the file: few cases by default.
proptest! {
    #![proptest_config(config(12))]

    #[test]
    fn fuzz_journal_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096), now_ms in any::<u64>()) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.jsonl");
        std::fs::write(&path, bytes).expect("write");
        within(move || read_it_all(&path, now_ms));
    }
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn fuzz_journal_hostile_entries(
        lines in prop::collection::vec(line(), 0..60),
        last_newline in any::<bool>(),
        now_ms in prop_oneof![Just(1_700_000_100_000u64), any::<u64>()],
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.jsonl");
        std::fs::write(&path, file(&lines, &templates(), last_newline)).expect("write");
        within(move || read_it_all(&path, now_ms));
    }
}

/// Inputs the properties above once failed on, kept as plain tests.
mod regressions {
    use super::*;

    /// The next attempt was `last + 1`, which overflowed.
    #[test]
    fn a_journaled_attempt_of_u32_max_does_not_overflow_the_next() {
        let line = r#"{"ts":"x","ts_ms":1,"event":"state","task":"T1","attempt":4294967295,"profile":"database-engineer","state":"assigned"}"#;
        let entries = vec![serde_json::from_str::<Entry>(line).expect("an entry")];
        let fx = Fixture::start(
            PLAN,
            Start {
                select: vec!["T1"],
                journal: entries,
                ..Default::default()
            },
        );
        assert_eq!(fx.snapshot_task("T1").attempt, u32::MAX);
    }

    /// The next halt was `last + 1`, which overflowed, at start and at each halt.
    #[test]
    fn a_journaled_halt_of_u64_max_does_not_overflow_the_next() {
        let line = r#"{"ts":"x","ts_ms":1,"event":"halt","halt_id":18446744073709551615,"total_workers":0,"acks_received":0,"acks_failed":0,"stopped":0,"workers":[],"all_acked":true,"total_latency_ms":0.0}"#;
        let entries = vec![serde_json::from_str::<Entry>(line).expect("an entry")];
        let mut fx = Fixture::start(
            PLAN,
            Start {
                select: vec!["T1"],
                journal: entries,
                ..Default::default()
            },
        );
        for attempt in [1, 2] {
            fx.hello("T1", attempt);
            let _halt = fx.request_later(Command::Halt);
            let told = fx.told("T1");
            assert!(
                matches!(
                    told.as_slice(),
                    [EngineMessage::Halt {
                        halt_id: u64::MAX,
                        ..
                    }]
                ),
                "{told:?}"
            );
            fx.halted("T1", u64::MAX);
            let _ = fx.request(Command::Resume);
        }
    }
}

//! Fuzz properties of the wire: every line a peer can send. Arbitrary and
//! mutated lines parse (or not) as each message type without a panic; the
//! engine socket's reader, given any lines, answers every control line and
//! lets go of the connection once the peer has; and the engine, given any
//! sequence of hellos, messages, hang-ups and commands with hostile values
//! (forged tasks and attempts, absurd pids and ids), keeps running.

use super::PLAN;
use crate::engine::command::{Command, Reply};
use crate::engine::effect::Input;
use crate::engine::fixture::Fixture;
use crate::engine::link::Request;
use crate::engine::os::Clock;
use crate::engine::socket::{self, ConnId, SocketEvent};
use crate::fuzz::{config, hostile_text, within};
use crate::worker::protocol::{
    AgentReport, EngineMessage, ExitStatus, ReportAck, ReportState, ShimMessage, StopSignal, Usage,
};
use crate::worker::secret::AttemptSecret;
use proptest::prelude::*;
use serde_json::Value;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Parse `line` as everything a peer may send or be sent.
fn parse_as_everything(line: &str) {
    let _ = serde_json::from_str::<ShimMessage>(line);
    let _ = serde_json::from_str::<EngineMessage>(line);
    let _ = serde_json::from_str::<Command>(line);
    let _ = serde_json::from_str::<Reply>(line);
    let _ = serde_json::from_str::<AgentReport>(line);
    let _ = serde_json::from_str::<ReportAck>(line);
}

/// One valid line of each message a peer sends.
fn templates() -> Vec<Value> {
    let shim = [
        ShimMessage::Hello {
            task: "T1".into(),
            attempt: 1,
            shim_pid: 100,
            agent_pid: Some(101),
            pane_id: Some("%1".into()),
            secret: AttemptSecret::new("0123456789abcdef0123456789abcdef"),
        },
        ShimMessage::Heartbeat { seq: 3 },
        ShimMessage::Report {
            state: ReportState::Wait,
            message: Some("which db?".into()),
            usage: None,
        },
        ShimMessage::Report {
            state: ReportState::Usage,
            message: None,
            usage: Some(Usage {
                input_tokens: Some(12_345),
                output_tokens: Some(678),
                cost_usd: Some(0.42),
            }),
        },
        ShimMessage::Exit {
            status: ExitStatus {
                code: Some(0),
                signal: None,
            },
        },
        ShimMessage::HaltAck { halt_id: 1 },
        ShimMessage::Halted {
            halt_id: 1,
            stop_ms: 4,
            signal: StopSignal::Sigterm,
        },
    ];
    let commands = [
        Command::Spawn {
            task: "T1".into(),
            force: true,
        },
        Command::RunGroup { group: "A".into() },
        Command::RunAll,
        Command::Kill {
            task: "T1".into(),
            keep_dependents: false,
        },
        Command::Restart { task: "T2".into() },
        Command::Halt,
        Command::Resume,
        Command::Status,
        Command::PaneTail {
            task: "T1".into(),
            lines: 20,
        },
        Command::TaskDetail {
            task: "T1".into(),
            log_lines: 20,
        },
        Command::Type {
            task: "T1".into(),
            text: "yes".into(),
        },
        Command::Shutdown { halt: false },
    ];
    let mut out: Vec<Value> = shim
        .iter()
        .map(|m| serde_json::to_value(m).expect("JSON"))
        .collect();
    out.extend(
        commands
            .iter()
            .map(|c| serde_json::to_value(c).expect("JSON")),
    );
    out
}

/// A JSON value to put in place of another.
fn hostile_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => hostile_text().prop_map(Value::from),
        2 => prop_oneof![
            Just(0u64),
            Just(1u64),
            Just(u64::from(u32::MAX)),
            Just(u64::from(u32::MAX) + 1),
            Just(1u64 << 31),
            Just(u64::MAX),
        ]
        .prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        1 => prop::sample::select(vec![
            "hello", "heartbeat", "report", "exit", "halt", "bye", "status", "wait", "SIGKILL",
        ])
        .prop_map(Value::from),
        1 => prop_oneof![
            Just(Value::Null),
            Just(Value::Bool(true)),
            Just(serde_json::json!([])),
            Just(serde_json::json!({"code": 1})),
        ],
    ]
}

/// A line: a template with fields replaced, or any text.
fn wire_line() -> impl Strategy<Value = String> {
    let edited = (
        any::<prop::sample::Index>(),
        prop::collection::vec((any::<prop::sample::Index>(), hostile_json()), 0..3),
    )
        .prop_map(|(template, edits)| {
            let all = templates();
            let mut value = template.get(&all).clone();
            if let Value::Object(map) = &mut value {
                for (key, new) in edits {
                    let keys: Vec<String> = map.keys().cloned().collect();
                    map.insert(key.get(&keys).clone(), new);
                }
            }
            value.to_string()
        });
    prop_oneof![
        3 => edited,
        1 => hostile_text(),
        1 => any::<String>(),
    ]
}

/// What a fake engine heard from one connection.
#[derive(Debug, Default)]
struct Heard {
    hello: bool,
    messages: usize,
    closed: usize,
}

/// Run the socket's reader on one connection whose peer writes `bytes`
/// and then closes its side; the replies it got, and what the engine heard.
fn converse(bytes: Vec<u8>) -> (Vec<String>, Heard) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let (ours, theirs) = tokio::net::UnixStream::pair().expect("a socket pair");
        let (events_tx, mut events) = mpsc::channel::<SocketEvent>(16);
        let (requests_tx, mut requests) = mpsc::channel::<Request>(16);
        let clock: Arc<dyn Clock> = Arc::new(crate::engine::fixture::FakeClock(0.into()));
        let reader = tokio::spawn(socket::handle(theirs, 1, events_tx, requests_tx, clock));
        // The engine's side: every request answered, every event counted.
        let engine = tokio::spawn(async move {
            let mut heard = Heard::default();
            let mut shim_tx = None;
            loop {
                tokio::select! {
                    Some(r) = requests.recv() => {
                        if let Some(reply) = r.reply {
                            let _ = reply.send(Reply::Ok);
                        }
                    }
                    event = events.recv() => match event {
                        Some(SocketEvent::ShimHello { tx, .. }) => {
                            heard.hello = true;
                            let _ = tx.send(EngineMessage::Bye);
                            shim_tx = Some(tx);
                        }
                        Some(SocketEvent::Shim { .. }) => heard.messages += 1,
                        Some(SocketEvent::ShimClosed { .. }) => heard.closed += 1,
                        None => break,
                    },
                }
            }
            drop(shim_tx);
            heard
        });
        let (read, mut write) = ours.into_split();
        let writer = tokio::spawn(async move {
            let _ = write.write_all(&bytes).await;
            let _ = write.shutdown().await;
        });
        let mut replies = Vec::new();
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            replies.push(line);
        }
        reader.await.expect("the reader ends without a panic");
        let _ = writer.await;
        let heard = engine.await.expect("the fake engine ends");
        (replies, heard)
    })
}

/// A hello line for the first line of a shim's connection.
const HELLO: &str =
    r#"{"type":"hello","task":"T1","attempt":1,"shim_pid":100,"agent_pid":101,"pane_id":"%1"}"#;

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn fuzz_wire_lines_parse_or_not(line in wire_line()) {
        parse_as_everything(&line);
    }

    #[test]
    fn fuzz_wire_any_bytes_parse_or_not(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        parse_as_everything(&String::from_utf8_lossy(&bytes));
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// A control client: each UTF-8 line gets one reply; the reader stops at
    /// the first line that is not UTF-8 or when the peer closes.
    #[test]
    fn fuzz_wire_socket_control_lines(
        lines in prop::collection::vec(wire_line(), 1..12),
        bad in prop::option::of((any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 1..8))),
    ) {
        let mut lines: Vec<String> = lines.iter().map(|l| l.replace(['\n', '\r'], " ")).collect();
        // A first line that passes for a hello makes the connection a shim's.
        if matches!(
            serde_json::from_str::<ShimMessage>(&lines[0]),
            Ok(ShimMessage::Hello { .. })
        ) {
            lines.insert(0, r#"{"cmd":"status"}"#.into());
        }
        let mut text: Vec<Vec<u8>> = lines.into_iter().map(String::into_bytes).collect();
        let mut answered = text.len();
        if let Some((at, junk)) = bad {
            let at = at.index(text.len());
            let mut line: Vec<u8> = junk.into_iter().map(|b| if b == b'\n' { b' ' } else { b }).collect();
            line.push(0xff);
            text.insert(at, line);
            answered = at;
        }
        let bytes = text.into_iter().flat_map(|mut l| { l.push(b'\n'); l }).collect();
        let (replies, heard) = within(move || converse(bytes));
        prop_assert_eq!(replies.len(), answered);
        prop_assert!(!heard.hello);
    }

    /// A shim: after its hello, any lines; the engine hears the hello, at
    /// most one message a line, and exactly one hang-up.
    #[test]
    fn fuzz_wire_socket_shim_lines(
        lines in prop::collection::vec(wire_line(), 0..12),
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let n = lines.len();
        let mut bytes = HELLO.as_bytes().to_vec();
        for line in lines {
            bytes.push(b'\n');
            bytes.extend(line.replace(['\n', '\r'], " ").into_bytes());
        }
        bytes.push(b'\n');
        bytes.extend(tail);
        let (replies, heard) = within(move || converse(bytes));
        prop_assert!(heard.hello);
        prop_assert!(heard.messages <= n + 1);
        prop_assert_eq!(heard.closed, 1);
        // The engine's bye, unless the reader let go before it was written.
        prop_assert!(replies.len() <= 1, "{replies:?}");
        prop_assert!(replies.iter().all(|r| r == r#"{"type":"bye"}"#), "{replies:?}");
    }
}

/// Something that happens to the engine.
#[derive(Debug, Clone)]
enum Act {
    /// A connection (0..4) says hello; with the secret the engine gave
    /// that attempt when the flag is set (else the drawn one: a forgery).
    Hello(usize, ShimMessage, bool),
    /// A connection says something else.
    Say(usize, ShimMessage),
    HangUp(usize),
    Command(Command),
    Advance(u64),
}

fn task_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["T1", "T2", "T3"]).prop_map(str::to_string),
        1 => hostile_text(),
    ]
}

fn number<T: Arbitrary + Copy + std::fmt::Debug + 'static>(
    small: Vec<T>,
) -> impl Strategy<Value = T> {
    prop_oneof![3 => prop::sample::select(small), 1 => any::<T>()]
}

fn usage() -> impl Strategy<Value = Usage> {
    let tokens = || prop::option::of(number(vec![0u64, 1, 1_000, u64::MAX]));
    let cost = prop::option::of(prop_oneof![
        3 => 0.0f64..100.0,
        1 => any::<f64>(),
        1 => prop::sample::select(vec![f64::MAX, f64::INFINITY, f64::NAN, -1.0]),
    ]);
    (tokens(), tokens(), cost).prop_map(|(input_tokens, output_tokens, cost_usd)| Usage {
        input_tokens,
        output_tokens,
        cost_usd,
    })
}

fn shim_message() -> impl Strategy<Value = ShimMessage> {
    let state = prop::sample::select(<ReportState as clap::ValueEnum>::value_variants().to_vec());
    let signal = prop::sample::select(vec![
        StopSignal::None,
        StopSignal::Sigint,
        StopSignal::Sigterm,
        StopSignal::Sigkill,
    ]);
    prop_oneof![
        (
            task_name(),
            number(vec![0u32, 1, 2, 3, u32::MAX]),
            number(vec![0u32, 1, 1001, u32::MAX, 1 << 31]),
            prop::option::of(number(vec![0u32, 1, 2001, u32::MAX])),
            prop::option::of(prop_oneof![
                Just("%1".to_string()),
                Just("%99".to_string()),
                hostile_text()
            ]),
            hostile_text(),
        )
            .prop_map(|(task, attempt, shim_pid, agent_pid, pane_id, secret)| {
                ShimMessage::Hello {
                    task,
                    attempt,
                    shim_pid,
                    agent_pid,
                    pane_id,
                    secret: AttemptSecret::new(secret),
                }
            }),
        number(vec![0u64, 1, u64::MAX]).prop_map(|seq| ShimMessage::Heartbeat { seq }),
        (
            state,
            prop::option::of(hostile_text()),
            prop::option::of(usage())
        )
            .prop_map(|(state, message, usage)| ShimMessage::Report {
                state,
                message,
                usage
            }),
        (
            prop::option::of(number(vec![0i32, 1, 137, -1, i32::MIN])),
            prop::option::of(number(vec![9i32, 15, 0, -1])),
        )
            .prop_map(|(code, signal)| ShimMessage::Exit {
                status: ExitStatus { code, signal },
            }),
        number(vec![0u64, 1, 2, u64::MAX]).prop_map(|halt_id| ShimMessage::HaltAck { halt_id }),
        (number(vec![0u64, 1, 2, u64::MAX]), any::<u64>(), signal).prop_map(
            |(halt_id, stop_ms, signal)| ShimMessage::Halted {
                halt_id,
                stop_ms,
                signal,
            }
        ),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (task_name(), any::<bool>()).prop_map(|(task, force)| Command::Spawn { task, force }),
        prop_oneof![Just("A".to_string()), Just("B".to_string()), hostile_text()]
            .prop_map(|group| Command::RunGroup { group }),
        Just(Command::RunAll),
        (task_name(), any::<bool>()).prop_map(|(task, keep_dependents)| Command::Kill {
            task,
            keep_dependents
        }),
        task_name().prop_map(|task| Command::Restart { task }),
        Just(Command::Halt),
        Just(Command::Resume),
        Just(Command::Status),
        (task_name(), number(vec![0u32, 1, 50, u32::MAX]))
            .prop_map(|(task, lines)| Command::PaneTail { task, lines }),
        (task_name(), number(vec![0u32, 1, 50, u32::MAX]))
            .prop_map(|(task, log_lines)| Command::TaskDetail { task, log_lines }),
        (task_name(), hostile_text()).prop_map(|(task, text)| Command::Type { task, text }),
        any::<bool>().prop_map(|halt| Command::Shutdown { halt }),
    ]
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        2 => (0usize..4, shim_message(), any::<bool>()).prop_map(|(c, m, own)| Act::Hello(c, m, own)),
        4 => (0usize..4, shim_message()).prop_map(|(c, m)| Act::Say(c, m)),
        1 => (0usize..4).prop_map(Act::HangUp),
        2 => command().prop_map(Act::Command),
        2 => prop_oneof![0u64..2_000, 2_000u64..60_000].prop_map(Act::Advance),
    ]
}

/// The engine of the fixture plan, all three tasks selected, through `acts`.
fn play(acts: Vec<Act>) {
    let mut fx = Fixture::new(PLAN, &["T1", "T2", "T3"]);
    // Far from the fixture's own connection ids.
    let conn = |c: usize| 1_000 + c as ConnId;
    let mut inboxes = Vec::new();
    for act in acts {
        match act {
            Act::Hello(c, mut hello, own) => {
                if let ShimMessage::Hello {
                    task,
                    attempt,
                    secret,
                    ..
                } = &mut hello
                    && own
                    && let Some(given) = fx.given_secret(task, *attempt)
                {
                    *secret = given;
                }
                let (tx, rx) = mpsc::unbounded_channel();
                // Some shims stop listening: a send to them must not matter.
                if c % 2 == 0 {
                    inboxes.push(rx);
                }
                fx.input(Input::Socket(SocketEvent::ShimHello {
                    conn: conn(c),
                    hello,
                    tx,
                }));
            }
            Act::Say(c, msg) => {
                let at_us = fx.clock.mono_us();
                fx.input(Input::Socket(SocketEvent::Shim {
                    conn: conn(c),
                    msg,
                    at_us,
                }));
            }
            Act::HangUp(c) => fx.input(Input::Socket(SocketEvent::ShimClosed { conn: conn(c) })),
            Act::Command(command) => {
                let (tx, _rx) = tokio::sync::oneshot::channel();
                fx.input(Input::Request(Request {
                    command,
                    reply: Some(tx),
                }));
            }
            Act::Advance(ms) => fx.advance(ms),
        }
    }
    fx.advance(120_000);
    let _ = fx.snapshot();
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn fuzz_wire_engine_hears_anything(acts in prop::collection::vec(act(), 0..40)) {
        within(move || play(acts));
    }
}

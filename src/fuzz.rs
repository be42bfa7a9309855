//! Support for the fuzz properties (every test named `fuzz_…`): how many
//! cases each runs, a time bound per case, and the hostile values their
//! generators draw from. The properties live beside what they attack:
//! `plan/fuzz.rs`, `engine/tests/fuzz_journal.rs`, `engine/tests/fuzz_wire.rs`,
//! `engine/tests/fuzz_run.rs`.

use proptest::prelude::*;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

/// Longer than any case should take even in a debug build on a busy machine:
/// a case over it is a hang, or a blow-up that amounts to one.
pub const CASE_LIMIT: Duration = Duration::from_secs(10);

/// `default_cases` per property, so that `cargo test` stays quick;
/// `PROPTEST_CASES` raises it for a long run (README, "Fuzzing").
pub fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Run `f` on a thread of its own and fail when it takes longer than
/// [`CASE_LIMIT`]. A panic in `f` is passed on as it is.
pub fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(CASE_LIMIT) {
        Ok(value) => {
            let _ = worker.join();
            value
        }
        // The thread is left running: there is no stopping it from outside.
        Err(RecvTimeoutError::Timeout) => panic!("a case took over {CASE_LIMIT:?}: a hang?"),
        Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => panic!("the case ended without a result"),
        },
    }
}

/// A character that makes trouble somewhere: C0 and C1 controls (ESC, BEL,
/// NUL, newlines), YAML and JSON syntax, backticks, bidi and zero-width
/// marks, astral characters; or any character at all.
pub fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        2 => prop::char::range('\0', '\u{1f}'),
        1 => prop::char::range('\u{7f}', '\u{9f}'),
        3 => prop::sample::select(vec![
            ':', '#', '&', '*', '!', '|', '>', '%', '@', '`', '\'', '"', '{', '}', '[', ']',
            ',', '-', '?', '\\', ' ', '\t', '\n', '\r', '.', '/', '$', ';',
        ]),
        1 => prop::sample::select(vec![
            '\u{202e}', '\u{200b}', '\u{feff}', '\u{2028}', '\u{85}', 'é', '日', '🦀',
            '\u{10ffff}', '\u{fffd}',
        ]),
    ]
}

/// Text to put where a plan, a journal line or a shim's message has a
/// string: mostly harmless-looking ids (so the checks behind the id checks
/// run too), hostile characters, nothing at all, or a huge run.
pub fn hostile_text() -> BoxedStrategy<String> {
    prop_oneof![
        5 => "[A-Za-z][A-Za-z0-9_.-]{0,10}",
        4 => prop::collection::vec(hostile_char(), 0..24).prop_map(String::from_iter),
        2 => prop::collection::vec(piece(), 1..8).prop_map(|p| p.concat()),
        1 => Just(String::new()),
        1 => (hostile_char(), 1_000usize..40_000).prop_map(|(c, n)| c.to_string().repeat(n)),
    ]
    // Boxed: value trees of composed strategies live on the stack, and a
    // plan's worth of them overflows a test thread's in a debug build.
    .boxed()
}

/// A character, or a run that means something to a reader of the text:
/// a Markdown list item or heading, a terminal escape, YAML and shell syntax.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => hostile_char().prop_map(String::from),
        1 => prop::sample::select(vec![
            "\n- `x.txt`", "\n## Outputs\n", "\n# T1: x\n", "```", "\u{1b}[31m",
            "\u{1b}]0;title\u{7}", "\u{1b}[2J", "\n---\n", "- ", ": ", " #", "&a ", "*a",
            "!!binary ", "$(", "${HOME}", "..", "/", "\r\n", "{{", "\"}",
        ])
        .prop_map(str::to_string),
    ]
}

/// Bytes close to `seed`: a few random edits (a byte replaced, inserted or
/// deleted, a span repeated or cut), so parsers get past their first line.
pub fn mutated(seed: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        0usize..4,
        any::<prop::sample::Index>(),
        any::<u8>(),
        1usize..64,
    );
    prop::collection::vec(edit, 1..8).prop_map(move |edits| {
        let mut bytes = seed.to_vec();
        for (kind, at, byte, len) in edits {
            let at = at.index(bytes.len() + 1);
            let end = (at + len).min(bytes.len());
            match kind {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                2 => {
                    bytes.drain(at..end);
                }
                _ => {
                    let span = bytes[at..end].to_vec();
                    bytes.splice(at..at, span);
                }
            }
        }
        bytes
    })
}

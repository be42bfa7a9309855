//! A run recorded from the real binary (`cargo run --example record_journal`
//! writes `tests/fixtures/journal/`), replayed into snapshots for the engine's
//! history tests and the screen tests. Test support: built for tests and with
//! the `fixtures` feature only.

use crate::engine::event::{Entry, Event};
use crate::engine::history;
use crate::engine::snapshot::Snapshot;

const RECORDED_JOURNAL: &str = include_str!("../tests/fixtures/journal/mid-run.jsonl");
const RECORDED_PLAN: &str = include_str!("../tests/fixtures/journal/mid-run.plan.yaml");

/// The plan the journal was recorded with: the demo plan, bent.
pub fn recorded_plan() -> crate::plan::ValidPlan {
    let parsed = crate::plan::load::parse("mid-run.plan.yaml", RECORDED_PLAN.as_bytes())
        .expect("the recorded plan parses");
    let (plan, _) = crate::plan::validate::validate("mid-run.plan.yaml", RECORDED_PLAN, parsed)
        .expect("the recorded plan is valid");
    plan
}

/// The recorded journal's entries, whole (it ends with a halt).
pub fn recorded_entries() -> Vec<Entry> {
    RECORDED_JOURNAL
        .lines()
        .map(|l| serde_json::from_str(l).expect("a journal line"))
        .collect()
}

/// The recorded journal, whole (it ends with a halt) or cut before the halt.
fn recorded(before_halt: bool) -> Snapshot {
    let plan = recorded_plan();
    let mut entries = recorded_entries();
    if before_halt {
        // The halt is journaled when it completes; what it caused (exits,
        // halted states) came within its latency before that.
        let halt_began = entries
            .iter()
            .find_map(|e| match &e.event {
                Event::Halt(report) => Some(e.ts_ms - report.total_latency_ms.ceil() as u64 - 1),
                _ => None,
            })
            .unwrap_or(u64::MAX);
        entries.retain(|e| e.ts_ms < halt_began);
    }
    let now = entries.last().map_or(0, |e| e.ts_ms) + 100;
    let mut snap = history::snapshot(&plan, "dispatcher", &entries, now);
    // The recorder ran with --tmux-socket, which no journal line names.
    snap.tmux_socket = Some("switchboard-demo".into());
    snap
}

/// The demo plan 14 s into a recorded run of GROUP_B (with its dependencies):
/// GROUP_A merged, one task merged, one failed after a restart, one in
/// conflict, one waiting for an answer, one running on its fallback after two
/// crashes.
pub fn recorded_mid_run() -> Snapshot {
    recorded(true)
}

/// The same run just after its halt, with the halt's report.
pub fn recorded_halted() -> Snapshot {
    recorded(false)
}

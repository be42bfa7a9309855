//! The journal on disk, replayed by a new engine: inputs the fuzz
//! properties failed on.

use crate::engine::command::Command;
use crate::engine::event::Entry;
use crate::engine::fixture::{Fixture, Start};
use crate::worker::protocol::EngineMessage;

const PLAN: &str = include_str!("../../../tests/fixtures/journal/mid-run.plan.yaml");

/// Inputs a fuzz property failed on, kept as plain tests.
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

//! Fuzz property of the engine on any plan that passes the validator, with
//! its settings at their edges (one worker or usize::MAX, heartbeats a
//! millisecond or a year apart, a year of backoff, timeouts of 1e300
//! minutes) and hostile text everywhere: its workers say hello, report,
//! exit well or badly, hang up or go silent, while time passes in steps or
//! jumps (a suspended machine). The engine must neither panic nor hang.

use crate::engine::fixture::{Fixture, Start};
use crate::fuzz::{config, within};
use crate::plan::fuzz::sound_plan;
use crate::worker::protocol::ReportState;
use proptest::prelude::*;

/// What the current worker of a task does next.
#[derive(Debug, Clone, Copy)]
enum Turn {
    /// Hello, start, then exit with this code.
    Exit(i32),
    /// Hello, then a question.
    Ask,
    /// Hello, then the connection drops.
    HangUp,
    /// Nothing: the heartbeat will tell.
    Silent,
}

fn turn() -> impl Strategy<Value = Turn> {
    prop_oneof![
        4 => prop_oneof![Just(0), Just(1), Just(137), any::<i32>()].prop_map(Turn::Exit),
        1 => Just(Turn::Ask),
        1 => Just(Turn::HangUp),
        1 => Just(Turn::Silent),
    ]
}

/// Time passing: a step the engine sees all of, or a jump it sleeps through.
#[derive(Debug, Clone, Copy)]
enum Time {
    Step(u64),
    Jump(u64),
}

fn time() -> impl Strategy<Value = Time> {
    prop_oneof![
        4 => (0u64..30_000).prop_map(Time::Step),
        1 => prop_oneof![Just(3_600_000u64), Just(86_400_000), Just(400 * 86_400_000)]
            .prop_map(Time::Jump),
    ]
}

fn play(yaml: String, turns: Vec<(prop::sample::Index, Turn, Time)>) {
    // The size limits refuse some huge texts: such a plan never starts.
    let Ok((valid, _)) = crate::plan::check("fuzz.yaml", yaml.as_bytes()) else {
        return;
    };
    let ids: Vec<&'static str> = valid
        .plan
        .tasks
        .iter()
        .map(|t| &*Box::leak(t.task_id.clone().into_boxed_str()))
        .collect();
    let mut fx = Fixture::start(
        &yaml,
        Start {
            select: ids.clone(),
            ..Default::default()
        },
    );
    for (pick, turn, time) in turns {
        let id = ids[pick.index(ids.len())];
        let view = fx.snapshot_task(id);
        if view.attempt > 0 && view.state.is_active() {
            match turn {
                Turn::Exit(code) => {
                    fx.hello(id, view.attempt);
                    fx.report(id, ReportState::Start, None);
                    fx.exit(id, code);
                }
                Turn::Ask => {
                    fx.hello(id, view.attempt);
                    fx.report(id, ReportState::Wait, Some("which database?"));
                }
                Turn::HangUp => {
                    fx.hello(id, view.attempt);
                    fx.hang_up(id);
                }
                Turn::Silent => {}
            }
        }
        match time {
            Time::Step(ms) => fx.advance(ms),
            Time::Jump(ms) => fx.pause(ms),
        }
    }
    let _ = fx.snapshot();
}

proptest! {
    #![proptest_config(config(16))]

    #[test]
    fn fuzz_engine_runs_any_sound_plan(
        plan in sound_plan(),
        turns in prop::collection::vec((any::<prop::sample::Index>(), turn(), time()), 0..30),
    ) {
        // (A plan without tasks is refused: nothing to run.)
        let Ok(yaml) = serde_norway::to_string(&plan) else {
            return Ok(());
        };
        within(move || play(yaml, turns));
    }
}

//! The light ladder, and a paused engine (Ctrl-Z) that must not judge its
//! workers by the time it was stopped.

use super::PLAN;
use crate::engine::event::Event;
use crate::engine::fixture::Fixture;
use crate::engine::snapshot::{Light, TaskState};

fn timeouts(fx: &Fixture, task: &str) -> Vec<Light> {
    fx.events(task)
        .into_iter()
        .filter_map(|e| match e {
            Event::Timeout { light, .. } => Some(*light),
            _ => None,
        })
        .collect()
}

#[test]
fn silence_climbs_the_ladder_and_a_beat_brings_it_back() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    assert_eq!(fx.light("T1"), Light::Healthy);
    fx.advance(1999);
    assert_eq!(fx.light("T1"), Light::Healthy);
    fx.advance(1);
    assert_eq!(fx.light("T1"), Light::Late);
    fx.advance(3000);
    assert_eq!(fx.light("T1"), Light::Missing);
    fx.beat("T1");
    assert_eq!(fx.light("T1"), Light::Healthy);
    assert!(fx.events("T1").iter().any(|e| matches!(
        e,
        Event::Light {
            light: Light::Healthy,
            ..
        }
    )));
    fx.advance(14_999);
    assert_eq!(fx.light("T1"), Light::Missing);
    fx.advance(1);
    // DEAD: the worker is killed and the task restarts after its backoff.
    assert_eq!(
        timeouts(&fx, "T1"),
        [
            Light::Late,
            Light::Missing,
            Light::Late,
            Light::Missing,
            Light::Dead
        ]
    );
    assert_eq!(fx.state("T1"), TaskState::Pending);
    assert_eq!(fx.light("T1"), Light::Idle);
    fx.advance(1000);
    assert_eq!(fx.snapshot_task("T1").attempt, 2);
}

#[test]
fn the_engine_sleeps_until_the_next_threshold() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    let now = fx.now();
    // The pane poll (every 500 ms) is the nearest thing due; with no worker
    // the engine has nothing to wake for.
    assert_eq!(fx.core.next_wakeup_ms(), Some(now));
    fx.advance(0);
    let next = fx.core.next_wakeup_ms().expect("a wakeup");
    assert!(next > now && next <= now + 500, "{next} vs {now}");
    let mut idle = Fixture::new(PLAN, &[]);
    assert_eq!(idle.core.next_wakeup_ms(), None);
    idle.advance(60_000);
    assert!(idle.os.calls().is_empty());
}

/// Regression: a control room stopped with Ctrl-Z for longer than the DEAD
/// threshold comes back to restart its workers' clocks, not to kill them.
#[test]
fn a_paused_engine_restarts_its_heartbeat_clocks() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2"]);
    fx.hello("T1", 1);
    fx.hello("T2", 1);
    fx.pause(60_000);
    assert_eq!(fx.light("T1"), Light::Healthy);
    assert_eq!(fx.state("T2"), TaskState::Running);
    let warned = fx.run_events().into_iter().any(|e| {
        matches!(e, Event::Warning { message } if message.contains("paused for 60.0 s") && message.contains("2 workers"))
    });
    assert!(warned, "{:?}", fx.run_events());
    // Silence after the pause still counts.
    fx.advance(2000);
    assert_eq!(fx.light("T1"), Light::Late);
}

#[test]
fn a_pane_silent_past_the_stall_threshold_is_stalled_until_it_speaks() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    let start = (fx.now() / 1000) as i64;
    fx.show_pane("T1", start, "compiling");
    for _ in 0..31 {
        fx.advance(1000);
        fx.beat("T1");
    }
    assert_eq!(fx.light("T1"), Light::Stalled);
    let now = (fx.now() / 1000) as i64;
    fx.show_pane("T1", now, "compiled");
    fx.advance(500);
    assert_eq!(fx.light("T1"), Light::Healthy);
}

//! The halt cascade's accounting: acks, a shim that never answers, and the
//! tmux fallback.

use super::PLAN;
use crate::engine::command::{Command, Reply};
use crate::engine::event::Event;
use crate::engine::fixture::{Call, Fixture};
use crate::engine::snapshot::{RunPhase, TaskState};
use crate::worker::protocol::EngineMessage;

#[test]
fn every_worker_hears_the_halt_and_the_report_proves_it() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2"]);
    fx.hello("T1", 1);
    fx.hello("T2", 1);
    let mut reply = fx.request_later(Command::Halt);
    assert_eq!(fx.core.phase(), RunPhase::Halting);
    for t in ["T1", "T2"] {
        assert_eq!(
            fx.told(t),
            [EngineMessage::Halt {
                halt_id: 1,
                grace_ms: 500
            }]
        );
    }
    fx.advance(30);
    fx.halted("T1", 1);
    assert!(reply.try_recv().is_err(), "T2 has not answered yet");
    fx.advance(12);
    fx.halted("T2", 1);
    let Ok(Reply::Halt(report)) = reply.try_recv() else {
        panic!("no halt report")
    };
    assert!(report.all_acked);
    assert_eq!(
        (report.total_workers, report.acks_received, report.stopped),
        (2, 2, 2)
    );
    assert_eq!(report.workers[0].ack_ms, Some(30.0));
    assert_eq!(report.total_latency_ms, 42.0);
    assert_eq!(fx.core.phase(), RunPhase::Halted);
    assert_eq!(fx.state("T1"), TaskState::Halted);
    assert!(
        fx.run_events()
            .iter()
            .any(|e| matches!(e, Event::Halt(r) if r.halt_id == 1))
    );
    // Nothing starts while halted; resume starts the halted tasks again.
    fx.advance(5000);
    assert_eq!(fx.request(Command::Resume), Reply::Ok);
    assert_eq!(fx.state("T1"), TaskState::Running);
    assert_eq!(fx.snapshot_task("T1").attempt, 2);
}

#[test]
fn a_shim_that_never_acks_is_stopped_through_tmux() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2"]);
    fx.hello("T1", 1);
    fx.hello("T2", 1);
    let mut reply = fx.request_later(Command::Halt);
    fx.halted("T1", 1);
    fx.advance(199);
    assert!(
        !fx.os
            .calls()
            .iter()
            .any(|c| matches!(c, Call::SendKeys { .. }))
    );
    fx.advance(1);
    let calls = fx.os.calls();
    assert!(
        calls.contains(&Call::SendKeys {
            pane: fx.snapshot_task("T2").pane_id.unwrap_or_default(),
            keys: vec!["C-c".into()],
        }) || calls.iter().any(|c| matches!(c, Call::SendKeys { .. }))
    );
    assert!(calls.contains(&Call::KillSession {
        session: "sb-fake-T2".into()
    }));
    let Ok(Reply::Halt(report)) = reply.try_recv() else {
        panic!("no halt report")
    };
    assert!(!report.all_acked);
    assert_eq!(
        (report.acks_received, report.acks_failed, report.stopped),
        (1, 1, 2)
    );
    let t2 = report.workers.iter().find(|w| w.task == "T2").expect("T2");
    assert_eq!((t2.acked, t2.signal.as_str()), (false, "tmux"));
    assert_eq!(t2.stop_ms, Some(200.0));
}

/// Regression: the halt's clock starts before the first send, so a shim
/// that answers at once shows 0 ms, never a negative or a later start.
#[test]
fn an_immediate_ack_reads_zero() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    let mut reply = fx.request_later(Command::Halt);
    fx.halted("T1", 1);
    let Ok(Reply::Halt(report)) = reply.try_recv() else {
        panic!("no halt report")
    };
    assert_eq!(report.workers[0].ack_ms, Some(0.0));
}

#[test]
fn halting_twice_and_halting_nothing_are_refused() {
    let mut fx = Fixture::new(PLAN, &[]);
    assert!(matches!(fx.request(Command::Halt), Reply::Error { .. }));
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    let _report = fx.request_later(Command::Halt);
    fx.halted("T1", 1);
    let Reply::Error { message } = fx.request(Command::Halt) else {
        panic!("a second halt")
    };
    assert!(message.contains("already halted"));
}

/// Numbers keep counting across engines.
#[test]
fn a_task_still_spawning_is_halted_too() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2"]);
    fx.hello("T1", 1);
    // T2's shim never connected: it has no connection to hear the halt.
    let mut reply = fx.request_later(Command::Halt);
    fx.halted("T1", 1);
    fx.flush();
    let Ok(Reply::Halt(report)) = reply.try_recv() else {
        panic!("no halt report")
    };
    assert_eq!(report.total_workers, 2);
    assert_eq!(fx.state("T2"), TaskState::Halted);
}

/// Regression: a halt that begins while the engine drains for a quit must
/// not make the drain deadline a wakeup that is always due.
#[test]
fn a_halt_during_the_shutdown_drain_does_not_spin() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2"]);
    fx.hello("T1", 1);
    fx.hello("T2", 1);
    // T1's shim is let go while its agent runs: the quit waits for its exit.
    assert_eq!(
        fx.request(Command::Kill {
            task: "T1".into(),
            keep_dependents: false,
        }),
        Reply::Ok
    );
    assert_eq!(fx.request(Command::Shutdown { halt: false }), Reply::Ok);
    assert_eq!(fx.core.ready_to_close(), None, "T1's shim drains");
    let _report = fx.request_later(Command::Halt);
    // T2 acknowledges but its agent does not stop: the halt runs on.
    fx.shim_says(
        "T2",
        crate::worker::protocol::ShimMessage::HaltAck { halt_id: 1 },
    );
    fx.advance(2500);
    let due = fx.core.next_wakeup_ms().expect("the halt's deadline");
    assert!(due > fx.now(), "due {due} is already past at {}", fx.now());
}

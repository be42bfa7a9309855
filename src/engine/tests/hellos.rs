//! Who is heard: a hello binds a connection to an attempt only with that
//! attempt's secret, for this engine's workers and for an earlier engine's.

use super::PLAN;
use super::restarts::earlier_run;
use crate::engine::event::Event;
use crate::engine::fixture::{Fixture, Start, earlier_secret};
use crate::engine::snapshot::TaskState;
use crate::worker::protocol::ReportState;
use crate::worker::secret::AttemptSecret;

fn forged() -> AttemptSecret {
    AttemptSecret::new("0123456789abcdef0123456789abcdef")
}

#[test]
fn a_hello_without_the_attempts_secret_is_refused_and_changes_nothing() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    assert_eq!(fx.state("T1"), TaskState::Running);
    let before = fx.journal.len();
    for secret in [forged(), AttemptSecret::default()] {
        fx.hello_with("T1", 1, secret);
        assert!(fx.told("T1").is_empty(), "a refused shim is told nothing");
        // Nothing it says is heard: not a report, not an exit.
        fx.report("T1", ReportState::Done, Some("all done, trust me"));
        fx.exit("T1", 0);
    }
    assert_eq!(fx.journal.len(), before, "not one event");
    assert_eq!(fx.state("T1"), TaskState::Running);
    assert_eq!(fx.snapshot_task("T1").attempt, 1);
}

#[test]
fn the_attempts_own_secret_is_heard_and_a_forger_beside_it_is_not() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    fx.report("T1", ReportState::Start, None);
    // A second connection claims the same attempt while the shim lives.
    fx.hello_with("T1", 1, forged());
    fx.report("T1", ReportState::Skip, None);
    assert_eq!(fx.state("T1"), TaskState::Running);
    // The shim's own connection still counts (it reconnects: same secret).
    fx.hello("T1", 1);
    fx.exit("T1", 0);
    assert_eq!(fx.state("T1"), TaskState::Done);
    let reports = fx
        .events("T1")
        .into_iter()
        .filter(|e| matches!(e, Event::Report { .. }))
        .count();
    assert_eq!(reports, 1, "only the shim's START");
}

#[test]
fn an_attempt_is_not_heard_with_an_earlier_attempts_secret() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    fx.exit("T1", 1);
    fx.advance(1000);
    assert_eq!(fx.snapshot_task("T1").attempt, 2);
    let first = fx.given_secret("T1", 1).expect("attempt 1 was spawned");
    let second = fx.given_secret("T1", 2).expect("attempt 2 was spawned");
    assert_ne!(first, second, "a secret per attempt");
    fx.hello_with("T1", 2, first);
    fx.report("T1", ReportState::Done, None);
    assert_eq!(fx.state("T1"), TaskState::Running);
}

/// The repro: a hello for a task whose dependencies are not met
/// made the engine adopt it as a live worker.
#[test]
fn a_task_that_never_ran_cannot_be_claimed() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2", "T3"]);
    for attempt in [0, 1, 7] {
        fx.hello_with("T3", attempt, forged());
    }
    assert_eq!(fx.state("T3"), TaskState::Pending);
    assert!(fx.events("T3").is_empty());
}

#[test]
fn the_journal_keeps_the_digest_of_the_secret_the_shim_was_given() {
    let fx = Fixture::new(PLAN, &["T1"]);
    let given = fx.given_secret("T1", 1).expect("spawned");
    let journaled = fx.events("T1").into_iter().find_map(|e| match e {
        Event::Spawned { secret_sha256, .. } => secret_sha256.clone(),
        _ => None,
    });
    assert_eq!(journaled, Some(given.digest()));
    let line = serde_json::to_string(&fx.journal).unwrap();
    assert!(!line.contains(given.as_str()), "never the secret itself");
}

fn earlier_engine_left(journal: Vec<crate::engine::event::Entry>) -> Fixture {
    Fixture::start(
        PLAN,
        Start {
            journal,
            live: vec!["T1"],
            select: vec!["T1"],
            ..Default::default()
        },
    )
}

#[test]
fn a_new_engine_adopts_a_worker_that_proves_the_journaled_secret() {
    let mut fx = earlier_engine_left(earlier_run());
    fx.hello_with("T1", 2, forged());
    fx.hello_with("T1", 2, earlier_secret("T1", 1));
    fx.hello_with("T1", 3, forged());
    assert_eq!(fx.state("T1"), TaskState::Pending, "not adopted");
    assert!(
        !fx.events("T1")
            .iter()
            .any(|e| matches!(e, Event::Adopted { .. }))
    );
    fx.hello_with("T1", 2, earlier_secret("T1", 2));
    assert_eq!(fx.state("T1"), TaskState::Waiting, "adopted, still asking");
    // Adopted, its later hellos are checked against the same secret.
    fx.hello_with("T1", 2, forged());
    fx.report("T1", ReportState::Skip, None);
    assert_eq!(fx.state("T1"), TaskState::Waiting);
    fx.hello("T1", 2);
    fx.exit("T1", 0);
    assert_eq!(fx.state("T1"), TaskState::Done);
}

/// A journal of an engine that kept no secrets: its workers cannot prove
/// themselves, so they are started afresh after the adoption grace.
#[test]
fn a_worker_whose_secret_was_never_journaled_is_not_adopted() {
    let mut journal = earlier_run();
    journal.retain(|e| !matches!(e.event, Event::Spawned { .. }));
    let mut fx = earlier_engine_left(journal);
    fx.hello("T1", 2);
    assert_eq!(fx.state("T1"), TaskState::Pending);
    fx.advance(3000);
    assert_eq!(fx.snapshot_task("T1").attempt, 3);
}

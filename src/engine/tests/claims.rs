//! Claims across engines, through the fixture: this engine is engine 1
//! (pid 100); other engines are played by the claims "on disk" and the
//! journal lines they write ([`crate::engine::fake_claims::FakeClaims`]).

use super::{PLAN, spawns};
use crate::engine::claims::{Claim, ClaimStart, DEFAULT_LEASE_MS};
use crate::engine::command::{Command, Reply};
use crate::engine::event::{Entry, Event};
use crate::engine::fake_claims::engine;
use crate::engine::fixture::{Fixture, Start, T0};
use crate::engine::snapshot::{RunPhase, TaskState};
use crate::engine::tasks::TaskIdx;
use crate::worker::protocol::EngineMessage;

fn claims(lease_ms: u64, foreign: Vec<(usize, Claim)>) -> ClaimStart {
    ClaimStart {
        me: engine(1, 100),
        lease_ms,
        journal_offset: 0,
        held: Vec::new(),
        taken_over: Vec::new(),
        foreign: foreign
            .into_iter()
            .map(|(t, c)| (TaskIdx(t), Some(c)))
            .collect(),
        others: 1,
    }
}

/// Engine 2 (pid 4711) holds `task` until the lease from T0 ends.
fn engine2(task: &str) -> Claim {
    Claim {
        task: task.into(),
        owner: engine(2, 4711),
        claimed_ms: T0,
        expires_ms: T0 + DEFAULT_LEASE_MS,
    }
}

fn state(task: &str, attempt: u32, state: TaskState, at: u64) -> Entry {
    let event = Event::State {
        state,
        profile: "dev".into(),
        reason: None,
    };
    Entry::new(event, at).task(task, attempt)
}

/// What engine 2 journals when it runs `task` to its merge.
fn ran_there(fx: &Fixture, task: &str) {
    let at = fx.now();
    for s in [TaskState::Assigned, TaskState::Running, TaskState::Merging] {
        fx.os.claims.write(2, state(task, 1, s, at));
    }
    let merged = Event::Merged {
        commit: "c0ffee".into(),
        branch: "switchboard/integration".into(),
    };
    fx.os.claims.write(2, Entry::new(merged, at).task(task, 1));
    fx.os.claims.write(2, state(task, 1, TaskState::Done, at));
}

fn select(claims: ClaimStart) -> Start {
    Start {
        select: vec!["T1", "T2", "T3"],
        claims: Some(claims),
        ..Default::default()
    }
}

#[test]
fn a_task_is_claimed_before_it_starts_and_let_go_of_when_it_is_done() {
    let mut fx = Fixture::start(PLAN, select(claims(DEFAULT_LEASE_MS, Vec::new())));
    assert_eq!(fx.state("T1"), TaskState::Running);
    assert_eq!(fx.os.claims.holder("T1"), Some(engine(1, 100)));
    assert!(
        fx.journal.iter().all(|e| e.engine == Some(1)),
        "each line says which engine wrote it"
    );
    fx.run_through("T1");
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert_eq!(fx.os.claims.holder("T1"), None);
    assert_eq!(*fx.os.claims.released.lock().unwrap(), ["T1"]);
    assert_eq!(
        fx.os.claims.holder("T2"),
        Some(engine(1, 100)),
        "T2 runs on"
    );
}

#[test]
fn another_engines_task_waits_here_and_its_merge_there_lets_its_dependents_run() {
    let start = select(claims(DEFAULT_LEASE_MS, vec![(0, engine2("T1"))]));
    let mut fx = Fixture::start(PLAN, start);
    assert!(spawns(&fx, "T1").is_empty());
    assert_eq!(fx.state("T2"), TaskState::Running);
    let t1 = fx.snapshot_task("T1");
    assert_eq!(
        t1.agent_state.as_deref(),
        Some("claimed by engine 2 (pid 4711)")
    );
    let refused = fx.request(Command::Kill {
        task: "T1".into(),
        keep_dependents: false,
    });
    assert!(
        matches!(&refused, Reply::Error { message } if message.contains("claimed by engine 2 (pid 4711)")),
        "{refused:?}"
    );
    // Engine 2 runs T1 to its merge and lets go of it.
    ran_there(&fx, "T1");
    fx.os.claims.claims.lock().unwrap().remove("T1");
    fx.advance(600);
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert!(spawns(&fx, "T1").is_empty(), "run once: there");
    assert!(
        !fx.journal.iter().any(|e| e.task.as_deref() == Some("T1")),
        "this engine journaled nothing of it"
    );
    fx.run_through("T2");
    assert_eq!(
        fx.state("T3"),
        TaskState::Running,
        "T1 merged there, T2 here"
    );
    fx.run_through("T3");
    assert_eq!(fx.core.phase(), RunPhase::Finished);
}

#[test]
fn a_task_whose_engine_is_gone_is_taken_over_once_its_lease_is_over() {
    let start = select(claims(DEFAULT_LEASE_MS, vec![(0, engine2("T1"))]));
    let mut fx = Fixture::start(PLAN, start);
    // Engine 2 started T1, then died (its pid is gone).
    fx.os
        .claims
        .write(2, state("T1", 1, TaskState::Assigned, T0));
    fx.os
        .claims
        .write(2, state("T1", 1, TaskState::Running, T0));
    fx.os.claims.claims.lock().unwrap().get_mut("T1").unwrap().1 = false;
    fx.advance(30_000);
    assert_eq!(fx.state("T1"), TaskState::Running, "engine 2's, as it said");
    assert!(spawns(&fx, "T1").is_empty(), "its lease is not over yet");
    fx.advance(31_000);
    let taken = fx.events("T1").into_iter().find_map(|e| match e {
        Event::ClaimTakenOver {
            from_engine,
            from_pid,
            reason,
            ..
        } => Some((*from_engine, *from_pid, reason.clone())),
        _ => None,
    });
    let (from, pid, reason) = taken.expect("the takeover is journaled");
    assert_eq!((from, pid), (2, 4711));
    assert!(reason.contains("lease ended"), "{reason}");
    assert_eq!(fx.os.claims.holder("T1"), Some(engine(1, 100)));
    assert_eq!(
        spawns(&fx, "T1"),
        [(2, "dev".to_string())],
        "attempts go on"
    );
    assert_eq!(fx.state("T1"), TaskState::Running);
}

#[test]
fn a_claim_won_after_its_holder_finished_the_task_does_not_run_it_again() {
    // Engine 2 ran T1 to its end and let go of it before this engine looked.
    let mut start = select(claims(DEFAULT_LEASE_MS, Vec::new()));
    for s in [TaskState::Assigned, TaskState::Done] {
        start.other_lines.push((2, state("T1", 1, s, T0)));
    }
    let fx = Fixture::start(PLAN, start);
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert!(spawns(&fx, "T1").is_empty());
    assert_eq!(fx.os.claims.holder("T1"), None, "let go of again");
    assert_eq!(fx.state("T2"), TaskState::Running);
}

#[test]
fn held_claims_are_renewed_and_one_taken_over_meanwhile_stops_its_worker_here() {
    let mut fx = Fixture::start(PLAN, select(claims(6_000, Vec::new())));
    fx.hello("T1", 1);
    fx.advance(2_100);
    let renewed = fx.os.claims.renewals.lock().unwrap().clone();
    assert_eq!(renewed, [vec!["T1".to_string(), "T2".to_string()]]);
    // Engine 3 thought this one gone and took T1 over.
    fx.os.claims.hold("T1", engine(3, 300), T0 + 99_000, true);
    fx.advance(5_000);
    assert!(
        fx.told("T1")
            .iter()
            .any(|m| matches!(m, EngineMessage::Halt { .. })),
        "its agent is stopped"
    );
    let t1 = fx.snapshot_task("T1");
    assert_eq!(
        t1.agent_state.as_deref(),
        Some("claimed by engine 3 (pid 300)")
    );
    assert_eq!(spawns(&fx, "T1").len(), 1, "not started again here");
}

#[test]
fn a_task_its_engine_halted_and_let_go_of_runs_here() {
    let start = select(claims(DEFAULT_LEASE_MS, vec![(0, engine2("T1"))]));
    let mut fx = Fixture::start(PLAN, start);
    for s in [TaskState::Assigned, TaskState::Running, TaskState::Halted] {
        fx.os.claims.write(2, state("T1", 1, s, T0));
    }
    fx.advance(600);
    assert!(
        spawns(&fx, "T1").is_empty(),
        "still engine 2's: its claim stays"
    );
    // Engine 2 closes (its halted tasks' claims go with it).
    fx.os.claims.claims.lock().unwrap().remove("T1");
    fx.advance(600);
    assert_eq!(spawns(&fx, "T1"), [(2, "dev".to_string())]);
    assert_eq!(fx.os.claims.holder("T1"), Some(engine(1, 100)));
    assert!(
        fx.events("T1")
            .iter()
            .all(|e| !matches!(e, Event::ClaimTakenOver { .. }))
    );
}

//! The rules of claims and the core's book of them, on plain data.

use super::*;
use crate::engine::event::Event;
use crate::engine::fake_claims::engine;
use crate::engine::fold::TaskRecord;
use crate::engine::schedule::Slot;
use crate::engine::snapshot::TaskState;

fn claim(owner: EngineTag, expires_ms: u64) -> Claim {
    Claim {
        task: "T1".into(),
        owner,
        claimed_ms: 0,
        expires_ms,
    }
}

#[test]
fn a_live_owner_on_this_host_keeps_its_claim_whatever_its_lease() {
    let me = engine(1, 100);
    let theirs = claim(engine(2, 200), 1_000);
    assert_eq!(takeover(&theirs, &me, 500, true), None);
    assert_eq!(
        takeover(&theirs, &me, 90_000, true),
        None,
        "lease long over"
    );
    assert_eq!(
        takeover(&claim(me.clone(), 0), &me, 90_000, false),
        None,
        "ours"
    );
}

#[test]
fn a_dead_owners_claim_waits_for_its_lease_unless_this_engine_took_its_seat() {
    let me = engine(1, 100);
    let theirs = claim(engine(2, 200), 60_000);
    assert_eq!(takeover(&theirs, &me, 59_999, false), None);
    let why = takeover(&theirs, &me, 63_000, false).expect("lease over, owner gone");
    assert_eq!(
        why,
        "its lease ended 3 s ago and engine 2 (pid 200) is gone"
    );
    // Engine 1 died and this process is engine 1 now: its successor.
    let seat = claim(engine(1, 99), 60_000);
    let why = takeover(&seat, &me, 1_000, false).expect("the seat's successor");
    assert!(why.contains("took its seat"), "{why}");
    // The same number, alive (the pid was not reused): not ours.
    assert_eq!(takeover(&seat, &me, 1_000, true), None);
}

#[test]
fn on_another_host_the_lease_alone_decides() {
    let me = engine(1, 100);
    let mut far = engine(2, 200);
    far.host = "elsewhere".into();
    let theirs = claim(far, 60_000);
    assert_eq!(takeover(&theirs, &me, 59_000, false), None);
    let why = takeover(&theirs, &me, 61_000, true).expect("lease over");
    assert!(why.contains("on another host"), "{why}");
    assert_eq!(
        theirs.owner.words("here"),
        "engine 2 (pid 200 on elsewhere)"
    );
}

#[test]
fn a_claim_reads_back_as_the_file_holds_it() {
    let c = claim(engine(2, 4711), 61_000);
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["engine"], 2);
    assert_eq!(json["pid"], 4711);
    assert_eq!(json["host"], "here");
    assert_eq!(json["expires_ms"], 61_000);
    let back: Claim = serde_json::from_value(json).unwrap();
    assert_eq!(back, c);
}

fn start(lease_ms: u64) -> ClaimStart {
    ClaimStart {
        me: engine(1, 100),
        lease_ms,
        journal_offset: 7,
        held: vec![TaskIdx(0)],
        taken_over: Vec::new(),
        foreign: Vec::new(),
        others: 0,
    }
}

fn slot() -> Slot {
    Slot {
        state: TaskState::Pending,
        selected: true,
        not_before_ms: 0,
        forced: false,
        profile: Some(0),
    }
}

fn record() -> TaskRecord {
    let plan = crate::engine::fixture::plan(crate::engine::tests::PLAN);
    TaskRecord::planned(&plan.plan.tasks[0])
}

#[test]
fn the_scheduler_sees_a_claim_being_taken_as_a_slot_and_anothers_task_as_not_its_own() {
    let mut book = ClaimBook::new(&start(60_000), 3, 0);
    let work = book.claim(TaskIdx(1), "T2", 5, true);
    assert!(
        matches!(work, ClaimWork::Acquire { from: 7, .. }),
        "{work:?}"
    );
    book.held_elsewhere(TaskIdx(2), None, &record());
    let mut slots = vec![slot(); 3];
    book.adjust(&mut slots);
    assert_eq!(slots[0], slot(), "held: as it is");
    assert_eq!(slots[1].state, TaskState::Assigned, "claiming holds a slot");
    assert!(!slots[2].selected, "another engine's: not to start or skip");
}

#[test]
fn held_claims_are_renewed_every_third_of_the_lease_and_surveys_slow_down_alone() {
    let mut book = ClaimBook::new(&start(60_000), 3, 1_000);
    // The first survey at once; the renewal a third of the lease on.
    assert_eq!(book.wakeup(), Some(1_000));
    let work = book.due(1_000, |t| format!("T{}", t.0 + 1));
    assert!(matches!(work[..], [ClaimWork::Survey { deep: false, .. }]));
    book.surveyed(&Survey::default(), 1_000);
    assert_eq!(book.wakeup(), Some(3_000), "alone: a lookout every 2 s");
    let work = book.due(21_000, |t| format!("T{}", t.0 + 1));
    let renew = work.iter().find_map(|w| match w {
        ClaimWork::Renew { tasks, .. } => Some(tasks.clone()),
        _ => None,
    });
    assert_eq!(renew, Some(vec![(TaskIdx(0), "T1".to_string())]));
    book.renewed(21_000);
    let others = Survey {
        engines: vec![engine(2, 200)],
        ..Default::default()
    };
    book.surveyed(&others, 21_000);
    assert_eq!(
        book.wakeup(),
        Some(21_000 + SURVEY_MS),
        "another engine: 500 ms"
    );
    let work = book.due(21_500, |t| format!("T{}", t.0 + 1));
    assert!(
        work.iter()
            .any(|w| matches!(w, ClaimWork::Survey { deep: true, .. })),
        "{work:?}"
    );
    // Nothing held: no renewal due any more.
    assert!(book.release(TaskIdx(0), "T1").is_some());
    assert!(book.release(TaskIdx(0), "T1").is_none(), "let go of once");
    book.renewed(22_000);
    assert_eq!(book.held().count(), 0);
}

#[test]
fn another_engines_lines_while_claiming_wait_for_the_answer() {
    let mut book = ClaimBook::new(&start(60_000), 3, 0);
    let _ = book.claim(TaskIdx(1), "T2", 5, true);
    let done = crate::engine::event::Entry::new(
        Event::State {
            state: TaskState::Done,
            profile: "dev".into(),
            reason: None,
        },
        9,
    )
    .task("T2", 1);
    book.fold(TaskIdx(1), &done, &record());
    assert!(matches!(book.status(TaskIdx(1)), Status::Claiming { .. }));
    // Won after all (the other engine let go): what it journaled comes back.
    let (was, start) = book.won(TaskIdx(1), 10);
    let was = was.expect("the other engine's record");
    assert!(start, "the scheduler chose it");
    assert_eq!(was.state(), TaskState::Done);
    // Held elsewhere instead: the lines are the shadow's.
    let _ = book.claim(TaskIdx(2), "T3", 5, true);
    book.fold(TaskIdx(2), &done, &record());
    book.held_elsewhere(TaskIdx(2), None, &record());
    let f = book.foreign(TaskIdx(2)).expect("another engine's");
    assert_eq!(f.shadow.state(), TaskState::Done);
    assert_eq!(f.words("here"), "claimed by another engine");
}

#[test]
fn a_closing_engine_keeps_the_claims_of_workers_it_leaves_running() {
    let mut s = start(60_000);
    s.held = vec![TaskIdx(0), TaskIdx(1), TaskIdx(2)];
    let book = ClaimBook::new(&s, 3, 0);
    assert_eq!(book.to_release(|t| t.0 == 1), [TaskIdx(0), TaskIdx(2)]);
}

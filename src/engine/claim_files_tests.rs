//! Claims and seats on real files, engines played by tags: a live one is
//! this process under another number; a dead one is this pid with another
//! start time (as a pid reused after its engine died).

use super::*;
use crate::engine::event::{Entry, Event};
use std::sync::Arc;

fn live(id: u32) -> EngineTag {
    tag(id)
}

fn dead(id: u32) -> EngineTag {
    EngineTag {
        since: Some(1),
        ..tag(id)
    }
}

fn dir(me: EngineTag) -> (tempfile::TempDir, ClaimDir) {
    let tmp = tempfile::tempdir().unwrap();
    let d = ClaimDir::new(tmp.path(), me, 60_000);
    (tmp, d)
}

#[test]
fn this_process_is_alive_and_a_reused_pid_is_not_its_engine() {
    assert!(started(std::process::id()).is_some());
    assert!(alive(&live(1), &here()));
    assert!(!alive(&dead(1), &here()));
    let far = EngineTag {
        host: "another-host".into(),
        ..dead(1)
    };
    assert!(
        alive(&far, &here()),
        "another host cannot be seen: its lease decides"
    );
}

#[test]
fn the_first_claim_wins_and_the_next_engine_sees_who_holds_it() {
    let (tmp, one) = dir(live(1));
    let two = ClaimDir::new(tmp.path(), live(2), 60_000);
    assert_eq!(one.acquire("api.v2", 1_000), Acquired::Won);
    // The file is named as the task's tmux session is: never the raw id.
    let file = tmp.path().join("claims").join("api_v2");
    let on_disk: Claim = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(on_disk.owner, live(1));
    assert_eq!(on_disk.expires_ms, 61_000);
    match two.acquire("api.v2", 90_000) {
        Acquired::Held(Some(c)) => assert_eq!(c.owner.id, 1, "alive: kept past its lease"),
        other => panic!("{other:?}"),
    }
    // Claiming again what it holds is no contest.
    assert_eq!(one.acquire("api.v2", 2_000), Acquired::Won);
}

#[test]
fn a_dead_engines_claim_is_taken_over_once_its_lease_is_over() {
    let (tmp, gone) = dir(dead(3));
    let me = ClaimDir::new(tmp.path(), live(1), 60_000);
    assert_eq!(gone.acquire("T1", 0), Acquired::Won);
    assert!(matches!(me.acquire("T1", 59_000), Acquired::Held(Some(_))));
    match me.acquire("T1", 61_000) {
        Acquired::TakenOver { from, reason } => {
            assert_eq!(from.owner.id, 3);
            assert!(reason.contains("is gone"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // The dead engine's renewal and release cannot undo it.
    assert_eq!(gone.renew(&["T1".into()], 62_000), ["T1"]);
    gone.release("T1");
    assert!(matches!(
        ClaimDir::new(tmp.path(), live(2), 60_000).acquire("T1", 63_000),
        Acquired::Held(Some(c)) if c.owner.id == 1
    ));
}

#[test]
fn an_empty_claim_file_is_being_written_until_it_is_older_than_a_lease() {
    let (tmp, me) = dir(live(1));
    std::fs::create_dir_all(tmp.path().join("claims")).unwrap();
    std::fs::write(tmp.path().join("claims/T1"), b"").unwrap();
    assert_eq!(me.acquire("T1", 0), Acquired::Held(None));
    let short = ClaimDir::new(tmp.path(), live(1), 0);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(short.acquire("T1", 0), Acquired::Won);
}

#[test]
fn of_engines_claiming_at_once_exactly_one_wins_each_task() {
    let tmp = tempfile::tempdir().unwrap();
    let tasks: Vec<String> = (0..60).map(|i| format!("T{i}")).collect();
    let racers: Vec<_> = (1..=6)
        .map(|id| {
            let d = Arc::new(ClaimDir::new(tmp.path(), live(id), 60_000));
            let tasks = tasks.clone();
            std::thread::spawn(move || {
                let won: Vec<String> = tasks
                    .iter()
                    .filter(|t| d.acquire(t, 1_000) == Acquired::Won)
                    .cloned()
                    .collect();
                won
            })
        })
        .collect();
    let mut won: Vec<String> = racers.into_iter().flat_map(|r| r.join().unwrap()).collect();
    won.sort();
    let mut all = tasks.clone();
    all.sort();
    assert_eq!(won, all, "every task won once, by one engine");
}

#[test]
fn renewal_pushes_the_lease_on_and_release_lets_only_its_own_go() {
    let (tmp, me) = dir(live(1));
    let other = ClaimDir::new(tmp.path(), live(2), 60_000);
    assert_eq!(me.acquire("T1", 0), Acquired::Won);
    assert_eq!(other.acquire("T2", 0), Acquired::Won);
    assert!(me.renew(&["T1".into()], 30_000).is_empty());
    let seen = me.survey(0, true);
    let t1 = seen.claims.iter().find(|c| c.claim.task == "T1").unwrap();
    assert_eq!(t1.claim.expires_ms, 90_000);
    assert!(t1.owner_alive);
    me.release("T2");
    me.release("T1");
    let left: Vec<String> = me
        .survey(0, true)
        .claims
        .into_iter()
        .map(|c| c.claim.task)
        .collect();
    assert_eq!(left, ["T2"], "another engine's claim stays");
}

#[test]
fn engines_take_the_smallest_free_seat_and_a_dead_ones_seat_again() {
    let tmp = tempfile::tempdir().unwrap();
    let sock = |n: u32| Ok(PathBuf::from(format!("/run/x-{n}.sock")));
    let first = Seats::lock(tmp.path()).unwrap().take(sock).unwrap().tag;
    assert_eq!(first.id, 1);
    let second = Seats::lock(tmp.path()).unwrap().take(sock).unwrap().tag;
    assert_eq!(
        second.id, 2,
        "seat 1 is taken by a live engine (this process)"
    );
    // Seat 3 held by a dead engine, seat 1 let go of.
    let stale = Seat {
        tag: dead(3),
        socket: "/run/x-3.sock".into(),
        first: None,
    };
    std::fs::write(
        tmp.path().join("engines/3"),
        serde_json::to_vec(&stale).unwrap(),
    )
    .unwrap();
    ClaimDir::new(tmp.path(), first.clone(), 60_000).leave();
    let live_ids: Vec<u32> = live_engines(tmp.path()).iter().map(|s| s.tag.id).collect();
    assert_eq!(live_ids, [2]);
    let take = || Seats::lock(tmp.path()).unwrap().take(sock).unwrap().tag.id;
    assert_eq!(take(), 1);
    assert_eq!(take(), 3);
    let seat: Seat =
        serde_json::from_slice(&std::fs::read(tmp.path().join("engines/3")).unwrap()).unwrap();
    assert_eq!(seat.socket, PathBuf::from("/run/x-3.sock"));
}

#[test]
fn a_gone_engines_seat_and_sockets_are_swept_and_a_live_ones_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let seats = Seats::lock(tmp.path()).unwrap();
    let own = tmp.path().join("own.sock");
    let mine = seats.take(|_| Ok(own.clone())).unwrap();
    let (theirs, well_known) = (tmp.path().join("3.sock"), tmp.path().join("k.sock"));
    for f in [&own, &theirs, &well_known] {
        std::fs::write(f, b"").unwrap();
    }
    let stale = Seat {
        tag: dead(3),
        socket: theirs.clone(),
        first: Some(well_known.clone()),
    };
    seats.write(&stale).unwrap();
    let gone: Vec<u32> = seats.sweep().iter().map(|s| s.tag.id).collect();
    assert_eq!(gone, [3]);
    assert!(
        !theirs.exists() && !well_known.exists(),
        "its sockets went with it"
    );
    assert!(own.exists() && tmp.path().join("engines/1").exists());
    assert_eq!(mine.tag.id, 1);
}

#[test]
fn a_survey_reads_the_others_and_the_journal_after_an_offset() {
    let (tmp, me) = dir(live(5));
    let _seat = Seats::lock(tmp.path())
        .unwrap()
        .take(|n| Ok(format!("/x-{n}").into()));
    let (mut journal, _) = journal::Journal::open(&tmp.path().join("journal.jsonl")).unwrap();
    let mut line = Entry::new(Event::Resume, 5);
    line.engine = Some(2);
    journal.append(&line).unwrap();
    let survey = me.survey(0, true);
    assert_eq!(survey.engines.len(), 1, "seat 1: this process as engine 1");
    assert_eq!(survey.tail.lines.len(), 1);
    assert_eq!(survey.tail.lines[0].1.engine, Some(2));
    let again = me.survey(survey.tail.offset, true);
    assert!(again.tail.lines.is_empty());
    let shallow = me.survey(0, false);
    assert_eq!(shallow.engines.len(), 1);
    assert_eq!(shallow.tail.offset, 0, "only the engines were looked at");
}

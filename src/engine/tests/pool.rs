//! Persistent worker pools through the fixture: dispatch in the strategy's
//! order to idle workers, sessions kept between tasks, a live agent typed
//! its next task, a dead worker replaced, halt and the run's end.

use crate::engine::event::Event;
use crate::engine::fixture::{Call, Fixture};
use crate::engine::snapshot::{RunPhase, TaskState};
use crate::worker::protocol::{EngineMessage, ReportState};

/// Four tasks of one group in a pool of two `dev` workers; T4 is CRITICAL.
/// `live` stays at its prompt (`> `) between turns.
const PLAN: &str = r#"
settings:
  maxParallel: 4
  assignment: priority
  restart: { maxRestarts: 1, backoffMs: 1000, maxBackoffMs: 4000 }
  halt: { graceMs: 500 }
  pool: { size: 2, profile: dev }
agents:
  dev: { command: "true" }
  live: { command: "true", screen: { idle: ["> "] } }
groups: [ { id: A } ]
tasks:
  - { taskId: T1, title: one, group: A }
  - { taskId: T2, title: two, group: A }
  - { taskId: T3, title: three, group: A }
  - { taskId: T4, title: four, group: A, priority: CRITICAL }
"#;

/// Pool dispatches: (task, attempt, worker, how, fresh session).
fn dispatches(fx: &Fixture) -> Vec<(String, u32, String, &'static str, bool)> {
    fx.os
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::PoolSpawn {
                task,
                attempt,
                worker,
                how,
                fresh,
                ..
            } => Some((task, attempt, worker, how, fresh)),
            _ => None,
        })
        .collect()
}

fn kills(fx: &Fixture) -> Vec<String> {
    fx.os
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::KillSession { session } => Some(session),
            _ => None,
        })
        .collect()
}

fn d(
    task: &str,
    attempt: u32,
    worker: &str,
    how: &'static str,
    fresh: bool,
) -> (String, u32, String, &'static str, bool) {
    (task.into(), attempt, worker.into(), how, fresh)
}

#[test]
fn ready_tasks_go_to_idle_workers_in_the_strategys_order() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2", "T3", "T4"]);
    // Two workers: T4 (CRITICAL) first, then T1; both sessions new.
    assert_eq!(
        dispatches(&fx),
        [
            d("T4", 1, "pool#1", "started", true),
            d("T1", 1, "pool#2", "started", true)
        ]
    );
    assert_eq!(fx.state("T2"), TaskState::Pending);
    let pool = &fx.snapshot().pools[0];
    assert_eq!(pool.profile, "dev");
    assert_eq!(pool.queue, ["T2", "T3"]);
    assert_eq!(pool.workers[0].task.as_deref(), Some("T4"));
    assert_eq!(pool.workers[0].doing, "T4 running");
    // Every pool task runs on the pool's profile.
    assert_eq!(fx.snapshot_task("T1").profile, "dev");
    assert_eq!(
        fx.snapshot_task("T1").session.as_deref(),
        Some("sb-fake--pool-2")
    );

    // T1 done: its worker takes T2 in the same session; nothing is killed
    // nor removed between tasks.
    fx.run_through("T1");
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert_eq!(dispatches(&fx)[2], d("T2", 1, "pool#2", "started", false));
    // T1 no longer shows its worker's session: that is T2's now.
    assert_eq!(
        fx.snapshot_task("T1").session.as_deref(),
        Some("sb-fake-T1")
    );
    assert_eq!(
        fx.snapshot_task("T2").session.as_deref(),
        Some("sb-fake--pool-2")
    );
    assert!(kills(&fx).is_empty(), "{:?}", kills(&fx));
    assert!(
        !fx.os
            .calls()
            .iter()
            .any(|c| matches!(c, Call::RemoveWorktree { .. }))
    );
    assert!(fx.events("T2").iter().any(|e| matches!(
        e,
        Event::PoolDispatched { worker: 2, how, .. } if how == "started"
    )));

    fx.run_through("T4");
    fx.run_through("T2");
    fx.run_through("T3");
    assert_eq!(fx.core.phase(), RunPhase::Finished);
    // The run's end closes both sessions and removes the worktrees of
    // workers whose last task merged (removeMergedWorktrees).
    let mut closed = kills(&fx);
    closed.sort();
    assert_eq!(closed, ["sb-fake--pool-1", "sb-fake--pool-2"]);
    let removed: Vec<_> = fx
        .os
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::RemoveWorktree { task } => Some(task),
            _ => None,
        })
        .collect();
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert!(
        fx.snapshot().pools[0]
            .workers
            .iter()
            .all(|w| w.task.is_none())
    );
}

#[test]
fn a_live_agent_is_typed_its_next_task_under_the_next_attempts_secret() {
    let plan = PLAN.replace(
        "pool: { size: 2, profile: dev }",
        "pool: { size: 1, profile: live }",
    );
    let mut fx = Fixture::new(&plan, &["T1", "T2"]);
    assert_eq!(dispatches(&fx), [d("T1", 1, "pool#1", "started", true)]);
    fx.hello("T1", 1);
    fx.report("T1", ReportState::Start, None);
    // Its turn is over: checks pass, it merges; the agent stays.
    fx.report("T1", ReportState::Idle, None);
    assert_eq!(fx.state("T1"), TaskState::Done);
    let told = fx.told("T1");
    assert!(!told.contains(&EngineMessage::Bye), "{told:?}");
    assert!(kills(&fx).is_empty());
    // T2 is typed into that agent: its shim is told whose it is now.
    assert_eq!(dispatches(&fx)[1], d("T2", 1, "pool#1", "typed", false));
    let Some(EngineMessage::Reassign {
        task,
        attempt,
        secret,
    }) = told.last().cloned()
    else {
        panic!("{told:?}")
    };
    assert_eq!((task.as_str(), attempt), ("T2", 1));
    // Nothing is typed before the shim speaks for T2.
    let typed = |fx: &Fixture| {
        fx.os
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::SendText { text, .. } => Some(text),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(typed(&fx).is_empty());
    fx.hang_up("T1");
    fx.hello_with("T2", 1, secret);
    let lines = typed(&fx);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("Next task T2: two. Read /fake/pool-1/TASK_INSTRUCTION.md"),
        "{lines:?}"
    );
    // The same pane T1 ran in.
    assert_eq!(fx.snapshot_task("T2").pane_id.as_deref(), Some("%1"));
    fx.report("T2", ReportState::Busy, None);
    fx.report("T2", ReportState::Idle, None);
    assert_eq!(fx.state("T2"), TaskState::Done);
    // The run's end: the live agent's session closes.
    assert_eq!(kills(&fx), ["sb-fake--pool-1"]);
}

#[test]
fn a_dead_worker_is_replaced_and_its_task_restarted_there() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    fx.report("T1", ReportState::Start, None);
    // The shim is killed: connection closed, process gone.
    fx.os.dead_pids.lock().unwrap().push(1001);
    fx.hang_up("T1");
    fx.advance(100);
    assert!(
        fx.journal
            .iter()
            .any(|e| matches!(&e.event, Event::PoolWorkerReplaced { worker: 1, .. }))
    );
    assert_eq!(fx.state("T1"), TaskState::Pending);
    assert_eq!(fx.snapshot().pools[0].workers[0].replaced, 1);
    // After the backoff the task goes back to its worker (its branch is
    // there), in a fresh session.
    fx.advance(1000);
    assert_eq!(dispatches(&fx)[1], d("T1", 2, "pool#1", "started", true));
    fx.run_through("T1");
    assert_eq!(fx.state("T1"), TaskState::Done);
}

#[test]
fn a_halt_stops_the_pools_idle_live_agents_too() {
    let plan = PLAN.replace(
        "pool: { size: 2, profile: dev }",
        "pool: { size: 2, profile: live }",
    );
    let mut fx = Fixture::new(&plan, &["T1", "T2"]);
    fx.hello("T1", 1);
    fx.hello("T2", 1);
    fx.report("T1", ReportState::Idle, None);
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert_eq!(
        fx.snapshot().pools[0].workers[0].doing,
        "idle: live at its prompt"
    );
    let _halt = fx.request_later(crate::engine::command::Command::Halt);
    let told = fx.told("T1");
    assert!(
        told.iter()
            .any(|m| matches!(m, EngineMessage::Halt { halt_id: 0, .. })),
        "{told:?}"
    );
    assert!(
        fx.told("T2")
            .iter()
            .any(|m| matches!(m, EngineMessage::Halt { halt_id: 1, .. }))
    );
    // The idle agent stops: its exit is no task's; its shim gets its bye.
    fx.exit("T1", 130);
    assert_eq!(fx.told("T1"), [EngineMessage::Bye]);
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert_eq!(fx.snapshot().pools[0].workers[0].doing, "idle");
}

#[test]
fn leaving_without_a_halt_still_ends_the_pools_workers() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2"]);
    fx.hello("T4", 1);
    fx.hello("T1", 1);
    assert_eq!(
        fx.request(crate::engine::command::Command::Shutdown { halt: false }),
        crate::engine::command::Reply::Ok
    );
    // Their shims had no halt: they are drained, then the pool closes.
    fx.advance(3_000);
    assert_eq!(fx.core.ready_to_close(), Some(false));
    fx.flush();
    let mut closed = kills(&fx);
    closed.sort();
    assert_eq!(closed, ["sb-fake--pool-1", "sb-fake--pool-2"]);
    // And the run waits for both shims to be gone.
    let shims = fx.core.ended_shims();
    assert!(shims.contains(&1001), "{shims:?}");
}

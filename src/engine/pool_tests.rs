//! Which idle worker takes a task, and how it reaches it: pure decisions.

use super::*;
use tokio::sync::mpsc;

fn pools(size: usize) -> Pools {
    let spec = PoolSpec {
        group: None,
        size,
        profile: "claude".into(),
    };
    let places = (1..=size as u32)
        .map(|n| Placement {
            worktree: format!("/w/pool-{n}").into(),
            branch: String::new(),
            session: format!("s-{n}"),
            host: None,
        })
        .collect();
    Pools::new(&[spec], vec![places], Default::default())
}

fn park(p: &mut Pools, w: usize, profile: &str) {
    let (tx, _rx) = mpsc::unbounded_channel();
    let worker = p.worker_mut((0, w));
    worker.session = true;
    worker.pane = Some(format!("%{w}"));
    worker.agent = Some(Parked {
        conn: w as u64,
        tx,
        shim_pid: Some(100 + w as u32),
        profile: profile.into(),
    });
}

#[test]
fn idle_means_holding_no_task_and_no_start_in_flight() {
    let mut p = pools(3);
    assert_eq!(p.idle_counts(), vec![3]);
    p.worker_mut((0, 0)).task = Some(TaskIdx(4));
    p.worker_mut((0, 1)).spawning = Some((TaskIdx(5), 1));
    assert_eq!(p.idle_counts(), vec![1]);
    assert_eq!(p.pick(0, "agent/T9/a", "claude"), Some(2));
    p.worker_mut((0, 2)).task = Some(TaskIdx(6));
    assert_eq!(p.pick(0, "agent/T9/a", "claude"), None);
    assert_eq!(p.holder(TaskIdx(6)), Some((0, 2)));
}

#[test]
fn a_task_goes_back_to_the_worker_on_its_branch_then_to_a_live_agent() {
    let mut p = pools(4);
    p.worker_mut((0, 3)).branch = Some("agent/T1/a".into());
    park(&mut p, 2, "claude");
    p.worker_mut((0, 1)).session = true;
    // Its own branch first: a restart goes on where it was.
    assert_eq!(p.pick(0, "agent/T1/a", "claude"), Some(3));
    // Else a live agent of its profile (typed in: the quickest start).
    assert_eq!(p.pick(0, "agent/T2/a", "claude"), Some(2));
    // Else a worker with a session (its pane is reused), else the first.
    assert_eq!(p.pick(0, "agent/T2/a", "codex"), Some(1));
    p.worker_mut((0, 1)).session = false;
    assert_eq!(p.pick(0, "agent/T2/a", "codex"), Some(0));
}

#[test]
fn only_an_interactive_live_agent_of_the_profile_is_typed_to() {
    let mut p = pools(2);
    park(&mut p, 0, "claude");
    assert_eq!(
        p.how((0, 0), "claude", true),
        How::Typed { pane: "%0".into() }
    );
    assert_eq!(p.how((0, 0), "claude", false), How::Started);
    assert_eq!(p.how((0, 0), "codex", true), How::Started);
    assert_eq!(p.how((0, 1), "claude", true), How::Started);
    assert_eq!(p.parked_on(0), Some((0, 0)));
    assert_eq!(p.by_session("s-2"), Some((0, 1)));
}

//! An agent's own hooks (`switchboard hook` → `busy` / `wait` / `idle`
//! reports): its state at once, without waiting for its screen to settle.

use super::PLAN;
use crate::engine::event::Event;
use crate::engine::fixture::{Call, Fixture};
use crate::engine::snapshot::TaskState;
use crate::engine::workshop::CheckResult;
use crate::worker::protocol::ReportState;

fn plan(mode: &str) -> String {
    let chat = format!("  careful:\n    command: \"true\"\n  chat:\n    command: \"true\"\n{mode}");
    PLAN.replace("  careful:\n    command: \"true\"\n", &chat)
        .replace(
            "    agent: { type: dev }\n  - taskId: T2",
            "    agent: { type: chat }\n  - taskId: T2",
        )
}

fn reports(fx: &Fixture, task: &str, state: ReportState) -> usize {
    fx.events(task)
        .iter()
        .filter(|e| matches!(e, Event::Report { state: s, .. } if *s == state))
        .count()
}

fn told(fx: &Fixture) -> Vec<String> {
    fx.os
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::SendText { text, .. } => Some(text),
            _ => None,
        })
        .collect()
}

#[test]
fn hooks_say_working_waiting_and_a_finished_turn_that_is_checked() {
    let mut fx = Fixture::new(&plan(""), &["T1"]);
    fx.hello("T1", 1);
    let agent_state = |fx: &Fixture| fx.snapshot_task("T1").agent_state;
    fx.report("T1", ReportState::Busy, None);
    fx.report("T1", ReportState::Busy, Some("Write"));
    fx.report("T1", ReportState::Busy, Some("Bash"));
    assert_eq!(agent_state(&fx).as_deref(), Some("working"));
    assert_eq!(reports(&fx, "T1", ReportState::Busy), 1, "journaled once");

    fx.report(
        "T1",
        ReportState::Wait,
        Some("permission to use Bash: git commit"),
    );
    let t1 = fx.snapshot_task("T1");
    assert_eq!(t1.state, TaskState::Waiting);
    assert_eq!(
        t1.agent_state.as_deref(),
        Some("waiting: \"permission to use Bash: git commit\"")
    );
    // Approved by a person: the tool runs.
    fx.report("T1", ReportState::Busy, Some("Bash"));
    assert_eq!(fx.state("T1"), TaskState::Running);

    fx.os.script_checks(
        "T1",
        vec![CheckResult {
            check: "commit".into(),
            ok: false,
            detail: "no commit on the branch".into(),
        }],
    );
    // The turn ends: no quiet second to wait for, the checks run at once.
    fx.report("T1", ReportState::Idle, Some("Done: hello.txt is written."));
    assert!(fx.events("T1").contains(&&Event::TurnFinished));
    let nudges = told(&fx);
    assert_eq!(nudges.len(), 1, "{nudges:?}");
    assert!(nudges[0].contains("`commit` failed"), "{nudges:?}");
    assert_eq!(fx.state("T1"), TaskState::Running);
    assert_eq!(agent_state(&fx).as_deref(), Some("idle at prompt"));

    // Its next turn commits: done, and the session closed.
    fx.report("T1", ReportState::Busy, None);
    fx.report("T1", ReportState::Idle, None);
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert!(fx.os.calls().contains(&Call::KillSession {
        session: "sb-fake-T1".into()
    }));
}

#[test]
fn a_headless_agents_stop_hook_does_not_end_its_attempt() {
    let mut fx = Fixture::new(&plan("    mode: headless\n"), &["T1"]);
    fx.hello("T1", 1);
    fx.report("T1", ReportState::Busy, None);
    fx.report("T1", ReportState::Idle, Some("Done."));
    assert_eq!(fx.state("T1"), TaskState::Running, "its exit ends it");
    assert!(!fx.events("T1").contains(&&Event::TurnFinished));
    fx.exit("T1", 0);
    assert_eq!(fx.state("T1"), TaskState::Done);
}

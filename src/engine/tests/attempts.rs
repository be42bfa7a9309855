//! An attempt's life: merges in order, conflicts, stale attempts, races
//! between a spawn's result and its shim.

use super::{PLAN, merges, spawns};
use crate::engine::command::{Command, Reply};
use crate::engine::effect::Effect;
use crate::engine::event::Event;
use crate::engine::fixture::{Call, Fixture};
use crate::engine::snapshot::{AttemptOutcome, Light, RunPhase, TaskState};
use crate::git::MergeOutcome;
use crate::worker::protocol::{EngineMessage, ReportState};

fn is_merge(e: &Effect) -> bool {
    matches!(e, Effect::Merge { .. })
}

fn is_spawn(e: &Effect) -> bool {
    matches!(e, Effect::Spawn { .. })
}

#[test]
fn merges_run_one_at_a_time_and_dependents_wait_for_both() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2", "T3"]);
    fx.hold(is_merge);
    fx.run_through("T2");
    fx.run_through("T1");
    // T2 validated first: its merge is out, T1's waits behind it.
    assert_eq!(fx.held().len(), 1);
    assert!(matches!(fx.held()[0], Effect::Merge { .. }));
    assert_eq!(fx.state("T1"), TaskState::Merging);
    assert_eq!(fx.state("T2"), TaskState::Merging);
    fx.release();
    assert_eq!(fx.state("T2"), TaskState::Done);
    assert_eq!(fx.state("T3"), TaskState::Pending, "T1 is not merged yet");
    assert_eq!(fx.held().len(), 1, "T1's merge went out after T2's");
    fx.release();
    assert_eq!(merges(&fx), ["T2", "T1"]);
    assert_eq!(fx.state("T3"), TaskState::Running);
}

#[test]
fn a_conflict_keeps_the_pane_and_skips_the_dependents() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2", "T3"]);
    fx.os.script_merge(
        "T1",
        Ok(MergeOutcome::Conflict {
            files: vec!["src/lib.rs".into()],
        }),
    );
    fx.run_through("T1");
    let t1 = fx.snapshot_task("T1");
    assert_eq!(t1.state, TaskState::Conflict);
    assert_eq!(t1.message.as_deref(), Some("merge conflict in src/lib.rs"));
    assert_eq!(
        t1.attempts.last().and_then(|a| a.outcome),
        Some(AttemptOutcome::Conflict)
    );
    let kills = fx
        .os
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::KillSession { .. }))
        .count();
    assert_eq!(kills, 0, "a conflicted task's pane stays for inspection");
    assert_eq!(fx.state("T3"), TaskState::Skipped);
    assert!(
        fx.events("T1")
            .iter()
            .any(|e| matches!(e, Event::Conflict { files } if files == &["src/lib.rs"]))
    );
}

#[test]
fn a_failed_check_fails_the_attempt_and_the_next_one_starts_after_backoff() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.os.script_checks(
        "T1",
        vec![crate::engine::workshop::CheckResult {
            check: "command: cargo test".into(),
            ok: false,
            detail: "exit 101".into(),
        }],
    );
    fx.run_through("T1");
    assert_eq!(fx.state("T1"), TaskState::Pending);
    assert_eq!(
        fx.snapshot_task("T1").message.as_deref(),
        Some("validation failed: command: cargo test (exit 101)")
    );
    fx.advance(999);
    assert_eq!(spawns(&fx, "T1").len(), 1, "still in its backoff");
    fx.advance(1);
    assert_eq!(spawns(&fx, "T1"), [(1, "dev".into()), (2, "dev".into())]);
}

/// Regression: the shim may say hello and report START before the spawn's
/// result reaches the engine; the late result must not be taken as stale.
#[test]
fn a_shim_that_speaks_before_its_spawn_result_is_kept() {
    let mut fx = Fixture::new(PLAN, &[]);
    fx.hold(is_spawn);
    let spawn = Command::Spawn {
        task: "T1".into(),
        force: false,
    };
    assert_eq!(fx.request(spawn), Reply::Ok);
    assert_eq!(fx.state("T1"), TaskState::Assigned);
    fx.hello("T1", 1);
    fx.report("T1", ReportState::Start, None);
    assert_eq!(fx.state("T1"), TaskState::Running);
    fx.release();
    assert_eq!(fx.state("T1"), TaskState::Running);
    assert!(fx.snapshot_task("T1").pane_id.is_some());
    assert!(
        !fx.os
            .calls()
            .iter()
            .any(|c| matches!(c, Call::KillSession { .. })),
        "the live attempt's session is not killed"
    );
    fx.exit("T1", 0);
    assert_eq!(fx.state("T1"), TaskState::Done);
}

/// A spawn that finishes after its task was killed: its session goes.
#[test]
fn a_spawn_result_for_a_killed_attempt_kills_its_session() {
    let mut fx = Fixture::new(PLAN, &[]);
    fx.hold(is_spawn);
    let spawn = Command::Spawn {
        task: "T1".into(),
        force: false,
    };
    assert_eq!(fx.request(spawn), Reply::Ok);
    assert_eq!(fx.held().len(), 1);
    assert_eq!(
        fx.request(Command::Kill {
            task: "T1".into(),
            keep_dependents: false,
        }),
        Reply::Ok
    );
    fx.release();
    assert_eq!(fx.state("T1"), TaskState::Cancelled);
    assert!(fx.os.calls().contains(&Call::KillSession {
        session: "sb-fake-T1".into()
    }));
}

/// A shim of an attempt this engine already let go (restarted by hand)
/// is told goodbye, and its late reports change nothing.
#[test]
fn a_stale_attempt_s_late_messages_are_ignored() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    assert_eq!(
        fx.request(Command::Restart { task: "T1".into() }),
        Reply::Ok
    );
    assert_eq!(fx.snapshot_task("T1").attempt, 2);
    // The old shim reconnects and speaks: dismissed.
    fx.hello("T1", 1);
    assert_eq!(fx.told("T1"), [EngineMessage::Bye]);
    fx.report("T1", ReportState::Done, None);
    fx.exit("T1", 0);
    assert_eq!(
        fx.told("T1"),
        [EngineMessage::Bye],
        "a second bye after its exit"
    );
    assert_eq!(fx.state("T1"), TaskState::Running, "attempt 2 goes on");
    assert!(
        !fx.os
            .calls()
            .iter()
            .any(|c| matches!(c, Call::Validate { .. })),
        "the stale DONE validated nothing"
    );
    // Attempt 2's own shim finishes the task.
    fx.hello("T1", 2);
    fx.exit("T1", 0);
    assert_eq!(fx.state("T1"), TaskState::Done);
}

#[test]
fn a_report_of_skip_ends_the_task_and_skips_its_dependents() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2", "T3"]);
    fx.hello("T1", 1);
    fx.report("T1", ReportState::Skip, Some("nothing to do"));
    let t1 = fx.snapshot_task("T1");
    assert_eq!(t1.state, TaskState::Skipped);
    assert_eq!(
        t1.message.as_deref(),
        Some("agent reported SKIP: nothing to do")
    );
    assert_eq!(fx.state("T3"), TaskState::Skipped);
}

/// A prompt rule with `send` answers once; one without flags WAITING until
/// output grows under the question.
#[test]
fn a_waiting_prompt_and_its_answer() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    let show = |fx: &mut Fixture, activity: i64, text: &str| {
        fx.show_pane("T1", activity, text);
        fx.advance(500);
        fx.beat("T1");
    };
    let t = (fx.now() / 1000) as i64;
    show(
        &mut fx,
        t,
        "Edit src/main.rs\nDo you want to proceed?\n❯ 1. Yes\n  2. No",
    );
    let answers = |fx: &Fixture| {
        fx.os
            .calls()
            .into_iter()
            .filter(|c| matches!(c, Call::SendText { .. }))
            .count()
    };
    assert_eq!(answers(&fx), 1);
    assert_eq!(fx.state("T1"), TaskState::Running);
    // The same dialog redrawn: not answered twice.
    show(&mut fx, t + 1, "Do you want to proceed?\n❯ 1. Yes");
    assert_eq!(answers(&fx), 1);
    // A question without an answer: WAITING, with its words.
    show(&mut fx, t + 2, "Which database?\n");
    let t1 = fx.snapshot_task("T1");
    assert_eq!((t1.state, t1.light), (TaskState::Waiting, Light::Waiting));
    assert_eq!(t1.message.as_deref(), Some("asks: Which database?"));
    // A person answered in the pane: output grows under it.
    show(&mut fx, t + 3, "Which database?\npostgres\nconnecting…");
    assert_eq!(fx.state("T1"), TaskState::Running);
    assert_eq!(answers(&fx), 1);
}

/// Issue 12: "run the whole plan" selects every task not done; the
/// scheduler starts them group by group, as their dependencies merge.
#[test]
fn the_whole_plan_runs_in_group_order() {
    let mut fx = Fixture::new(PLAN, &[]);
    assert_eq!(fx.snapshot().phase, RunPhase::Idle);
    assert_eq!(fx.request(Command::RunAll), Reply::Ok);
    assert!(
        fx.run_events()
            .iter()
            .any(|e| matches!(e, Event::PlanRun { tasks: 3 }))
    );
    assert!(fx.state("T1").is_active() && fx.state("T2").is_active());
    assert_eq!(fx.state("T3"), TaskState::Pending, "group B waits for A");
    fx.run_through("T1");
    fx.run_through("T2");
    assert_eq!(merges(&fx), ["T1", "T2"]);
    assert!(fx.state("T3").is_active());
    let Reply::Error { message } = fx.request(Command::RunAll) else {
        panic!("nothing left to select");
    };
    assert!(message.starts_with("nothing to run"), "{message}");
    fx.run_through("T3");
    assert_eq!(fx.snapshot().phase, RunPhase::Finished);
}

/// Issue 12: the composer's line goes to the worker's pane with Enter, and
/// the journal keeps it; a task without a running agent, or a line with a
/// line break in it, is refused and nothing is typed.
#[test]
fn a_person_s_line_is_typed_into_the_pane_and_journaled() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    let typed = |fx: &Fixture| -> Vec<(String, String, bool)> {
        fx.os
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::SendText { pane, text, enter } => Some((pane, text, enter)),
                _ => None,
            })
            .collect()
    };
    let say = |task: &str, text: &str| Command::Type {
        task: task.into(),
        text: text.into(),
    };
    fx.hello("T1", 1);
    fx.report("T1", ReportState::Wait, Some("which database?"));
    assert_eq!(fx.state("T1"), TaskState::Waiting);
    let pane = fx.snapshot_task("T1").pane_id.expect("a pane");

    assert_eq!(fx.request(say("T1", "postgres, ünïcode ✓")), Reply::Ok);
    assert_eq!(
        typed(&fx),
        [(pane, "postgres, ünïcode ✓".to_string(), true)],
        "with its Enter"
    );
    assert!(
        fx.events("T1")
            .iter()
            .any(|e| matches!(e, Event::Typed { text } if text == "postgres, ünïcode ✓"))
    );
    let entry = fx
        .journal
        .iter()
        .find(|e| matches!(e.event, Event::Typed { .. }))
        .expect("journaled");
    assert_eq!(
        (entry.task.as_deref(), entry.attempt),
        (Some("T1"), Some(1))
    );

    for refused in [
        say("T1", "two\nlines"),
        say("T1", "\x1b[A"),
        say("T2", "hi"),
    ] {
        assert!(
            matches!(fx.request(refused.clone()), Reply::Error { .. }),
            "{refused:?}"
        );
    }
    fx.exit("T1", 0);
    let Reply::Error { message } = fx.request(say("T1", "too late")) else {
        panic!("a finished agent is not typed to");
    };
    assert!(message.contains("no running agent"), "{message}");
    assert_eq!(typed(&fx).len(), 1);
}

/// Regression: an agent waiting for an answer is silent on purpose, not STALLED.
#[test]
fn a_waiting_agent_is_not_stalled() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    fx.report("T1", ReportState::Wait, Some("which db?"));
    let quiet_since = (fx.now() / 1000) as i64;
    fx.show_pane("T1", quiet_since, "which db?");
    for _ in 0..40 {
        fx.advance(1000);
        fx.beat("T1");
    }
    assert_eq!(fx.light("T1"), Light::Waiting);
    assert!(!fx.events("T1").iter().any(|e| matches!(
        e,
        Event::Light {
            light: Light::Stalled,
            ..
        }
    )));
}

#[test]
fn a_dead_pane_with_its_shim_gone_is_dead_at_once() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    fx.os.dead_pids.lock().unwrap().push(1001);
    fx.hang_up("T1");
    assert!(fx.events("T1").iter().any(|e| matches!(
        e,
        Event::Light {
            light: Light::Dead,
            ..
        }
    )));
    assert_eq!(fx.state("T1"), TaskState::Pending, "restarting");
    assert!(fx.os.calls().contains(&Call::KillWorker));
    let spans = fx.snapshot_task("T1").attempts;
    assert_eq!(spans[0].outcome, Some(AttemptOutcome::Crashed));
}

#[test]
fn a_shim_that_hangs_up_but_lives_is_left_to_the_heartbeat_clock() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    fx.hang_up("T1");
    fx.advance(600);
    assert_eq!(fx.state("T1"), TaskState::Running);
    // It reconnects.
    fx.hello("T1", 1);
    fx.advance(1000);
    fx.beat("T1");
    assert_eq!(fx.light("T1"), Light::Healthy);
}

/// Any command's question, with no rule for it: WAITING once the pane has
/// been quiet on it, running again when the screen moves on.
#[test]
fn a_quiet_pane_that_asks_is_waiting_with_its_question() {
    let mut fx = Fixture::new(PLAN, &["T1"]);
    fx.hello("T1", 1);
    let t = (fx.now() / 1000) as i64;
    fx.show_pane("T1", t, "checking out\nProceed? [y/N] ");
    fx.advance(500);
    fx.beat("T1");
    assert_eq!(fx.state("T1"), TaskState::Running, "not quiet long enough");
    for _ in 0..3 {
        fx.advance(1000);
        fx.beat("T1");
    }
    let t1 = fx.snapshot_task("T1");
    assert_eq!((t1.state, t1.light), (TaskState::Waiting, Light::Waiting));
    assert_eq!(t1.message.as_deref(), Some("asks: Proceed? [y/N]"));
    // The person types y: the same question with its answer, still waiting.
    let now = (fx.now() / 1000) as i64;
    fx.show_pane("T1", now, "checking out\nProceed? [y/N] y");
    fx.advance(500);
    assert_eq!(fx.state("T1"), TaskState::Waiting);
    // Enter: output moves on.
    fx.show_pane(
        "T1",
        now + 1,
        "Proceed? [y/N] y\nproceeding with the checkout",
    );
    fx.advance(1000);
    fx.beat("T1");
    assert_eq!(fx.state("T1"), TaskState::Running);
    // Busy output that ends in a question mark but keeps moving is no question.
    for i in 0..5 {
        let now = (fx.now() / 1000) as i64;
        fx.show_pane("T1", now, &format!("step {i}: why is this slow?"));
        fx.advance(1000);
        fx.beat("T1");
    }
    assert_eq!(fx.state("T1"), TaskState::Running);
}

/// Killing a worker and giving up its subtree are different wishes.
#[test]
fn a_kill_that_keeps_dependents_leaves_them_pending() {
    let mut fx = Fixture::new(PLAN, &["T1", "T2", "T3"]);
    fx.hello("T1", 1);
    let keep = Command::Kill {
        task: "T1".into(),
        keep_dependents: true,
    };
    assert_eq!(fx.request(keep), Reply::Ok);
    let t1 = fx.snapshot_task("T1");
    assert_eq!(t1.state, TaskState::Pending);
    assert_eq!(t1.attempts[0].outcome, Some(AttemptOutcome::Cancelled));
    fx.run_through("T2");
    fx.advance(5000);
    assert_eq!(fx.state("T3"), TaskState::Pending, "waits, not skipped");
    assert_eq!(spawns(&fx, "T1").len(), 1, "not started again by itself");
    // Started again by hand: the subtree goes on.
    let spawn = Command::Spawn {
        task: "T1".into(),
        force: false,
    };
    assert_eq!(fx.request(spawn), Reply::Ok);
    fx.run_through("T1");
    assert_eq!(fx.state("T3"), TaskState::Running);
}

/// An interactive agent does not exit when its work is done: busy, then idle
/// at its prompt, is a finished turn. Its checks run; failing ones are told
/// to it in its session (up to `maxNudges`); passing ones end the task.
#[test]
fn an_interactive_agent_s_finished_turn_is_checked_and_nudged() {
    let plan = PLAN.replace(
        "  careful:\n    command: \"true\"\n",
        "  careful:\n    command: \"true\"\n  chat:\n    command: \"true\"\n    screen:\n      busy: [\"esc to interrupt\"]\n      idle: [\"│ > \"]\n",
    ).replace("    agent: { type: dev }\n  - taskId: T2", "    agent: { type: chat }\n  - taskId: T2");
    let mut fx = Fixture::new(&plan, &["T1"]);
    fx.hello("T1", 1);
    let show = |fx: &mut Fixture, text: &str, wait_ms: u64| {
        let at = (fx.now() / 1000) as i64;
        fx.show_pane("T1", at, text);
        fx.advance(wait_ms);
        fx.beat("T1");
    };
    fx.os.script_checks(
        "T1",
        vec![crate::engine::workshop::CheckResult {
            check: "commit".into(),
            ok: false,
            detail: "no commit\non the branch".into(),
        }],
    );
    show(&mut fx, "✻ Writing src/lib.rs… (esc to interrupt)", 1000);
    assert_eq!(
        fx.snapshot_task("T1").agent_state.as_deref(),
        Some("working")
    );
    show(&mut fx, "╭───╮\n│ >   │\n╰───╯", 500);
    assert_eq!(fx.state("T1"), TaskState::Running, "not idle long enough");
    assert_eq!(
        fx.snapshot_task("T1").agent_state.as_deref(),
        Some("idle at prompt")
    );
    fx.advance(2000);
    fx.beat("T1");
    // Turn finished, checks failed: told, still running.
    assert!(
        fx.events("T1")
            .iter()
            .any(|e| matches!(e, Event::TurnFinished))
    );
    let told: Vec<String> = fx
        .os
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::SendText { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(told.len(), 1);
    assert!(
        told[0].contains("`commit` failed: no commit on the branch"),
        "{told:?}"
    );
    let t1 = fx.snapshot_task("T1");
    assert_eq!(t1.state, TaskState::Running);
    assert!(t1.message.unwrap_or_default().contains("nudge 1 of 2"));
    // A second turn, whose checks pass: done, and its session closed.
    show(&mut fx, "✻ Committing… (esc to interrupt)", 1000);
    show(&mut fx, "│ >   │", 2000);
    fx.beat("T1");
    assert_eq!(fx.state("T1"), TaskState::Done);
    assert!(fx.os.calls().contains(&Call::KillSession {
        session: "sb-fake-T1".into()
    }));
}

/// Usage as agents report it, summed per task over every attempt; a task
/// that reported none is unknown, never free.
#[test]
fn reported_usage_is_summed_and_silence_is_unknown() {
    use crate::worker::protocol::{ShimMessage, Usage};
    let mut fx = Fixture::new(PLAN, &["T1", "T2"]);
    fx.hello("T1", 1);
    fx.hello("T2", 1);
    let spent = |cost: f64, tokens: u64| ShimMessage::Report {
        state: ReportState::Usage,
        message: None,
        usage: Some(Usage {
            input_tokens: Some(tokens),
            output_tokens: None,
            cost_usd: Some(cost),
        }),
    };
    fx.shim_says("T1", spent(0.25, 1000));
    fx.shim_says("T1", spent(0.5, 500));
    assert_eq!(fx.state("T1"), TaskState::Running, "usage changes no state");
    let usage = fx.snapshot_task("T1").usage.expect("reported");
    assert_eq!(
        (usage.cost_usd, usage.input_tokens),
        (Some(0.75), Some(1500))
    );
    assert_eq!(usage.output_tokens, None, "unknown stays unknown");
    assert_eq!(fx.snapshot_task("T2").usage, None);
    assert!(usage.describe().starts_with("$0.75"));
}

#[test]
fn preaccept_writes_are_journaled_and_a_failed_one_warns() {
    use crate::engine::preaccept::Preaccepted;
    let mut fx = Fixture::new(PLAN, &[]);
    fx.os.preaccepted.lock().unwrap().insert(
        "T1".into(),
        vec![
            Ok(Preaccepted {
                skips: "the trust question".into(),
                file: "/h/.claude.json".into(),
                setting: r#"projects["/w"].hasTrustDialogAccepted = true"#.into(),
                written: true,
            }),
            Ok(Preaccepted {
                skips: "another question".into(),
                file: "/h/.claude.json".into(),
                setting: "x = 1".into(),
                written: false,
            }),
            Err(
                "could not pre-accept the trust question: /h/.claude.json is not a JSON object"
                    .into(),
            ),
        ],
    );
    fx.request(Command::Spawn {
        task: "T1".into(),
        force: true,
    });
    let events = fx.events("T1");
    let said: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Preaccepted { setting, file, .. } => Some(format!("{setting} in {file}")),
            Event::Warning { message } => Some(message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        said,
        [
            r#"projects["/w"].hasTrustDialogAccepted = true in /h/.claude.json"#,
            "could not pre-accept the trust question: /h/.claude.json is not a JSON object; the dialog will wait for a person",
        ],
        "a value found set already wrote nothing and is not journaled"
    );
    let spawned_at = events
        .iter()
        .position(|e| matches!(e, Event::Spawned { .. }))
        .expect("spawned");
    let said_at = events
        .iter()
        .position(|e| matches!(e, Event::Preaccepted { .. }))
        .expect("preaccepted");
    assert!(said_at < spawned_at, "said before the session is journaled");
    let line = fx
        .snapshot()
        .log_tail
        .iter()
        .find(|l| l.text.contains("pre-accepted"))
        .map(|l| l.text.clone());
    assert_eq!(
        line.as_deref(),
        Some(
            r#"T1 pre-accepted the trust question: set projects["/w"].hasTrustDialogAccepted = true in /h/.claude.json"#
        )
    );
}

/// A worker on a host says tmux's own pane id there (`%1`); the engine
/// keeps its own name for it (`big1:%1`), so a link cut later finds the
/// pane still listed and leaves the worker to the heartbeat clock, rather
/// than calling it DEAD as a pane gone.
#[test]
fn a_host_worker_s_pane_keeps_its_host_s_name_through_its_hello() {
    let mut fx = Fixture::start(
        PLAN,
        crate::engine::fixture::Start {
            select: vec!["T1"],
            on_hosts: vec![("T1", "big1")],
            ..Default::default()
        },
    );
    let pane = fx.snapshot_task("T1").pane_id.expect("spawned");
    assert!(pane.starts_with("big1:%"), "{pane}");
    let tmux_own = pane.trim_start_matches("big1:").to_string();
    fx.hello_in_pane("T1", 1, &tmux_own);
    assert_eq!(
        fx.snapshot_task("T1").pane_id.as_deref(),
        Some(pane.as_str())
    );
    fx.hang_up("T1");
    fx.advance(600);
    assert_eq!(fx.state("T1"), TaskState::Running, "{:?}", fx.events("T1"));
    assert!(!fx.events("T1").iter().any(|e| matches!(
        e,
        Event::Light {
            light: Light::Dead,
            ..
        }
    )));
}

//! App state transitions driven by keys, replies, snapshots and the mouse,
//! with no terminal.

use super::*;
use crate::engine::command::Reply;
use crate::engine::snapshot::{AttemptOutcome, AttemptSpan, TaskState};
use crate::tui::fixture;
use crate::tui::overlay::{Confirm, Overlay};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

fn app() -> App {
    let mut app = App::new(
        Arc::new(fixture::mid_run()),
        Keymap::defaults(),
        Theme { color: true },
        &TuiOptions::default(),
    );
    app.resize(160, 48);
    app
}

fn press(app: &mut App, code: KeyCode) -> Option<Effect> {
    let modifiers = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    app.on_key(KeyEvent::new(code, modifiers))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn selected(app: &App) -> &str {
    app.selected.as_deref().unwrap_or("<none>")
}

#[test]
fn starts_on_the_first_row_and_moves_with_keys() {
    let mut app = app();
    assert_eq!(selected(&app), "T1");
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Down);
    assert_eq!(selected(&app), "T3");
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(selected(&app), "T2");
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    assert_eq!(selected(&app), "T1");
    press(&mut app, KeyCode::End);
    assert_eq!(selected(&app), "T22");
}

#[test]
fn filter_narrows_as_typed_enter_keeps_esc_clears() {
    let mut app = app();
    press(&mut app, KeyCode::Char('/'));
    assert!(app.filter_editing);
    // Keys that are bindings elsewhere ('g', 'r') are text while typing.
    typed(&mut app, "group_e");
    assert_eq!(app.rows.len(), 3);
    assert_eq!(selected(&app), "T20");
    press(&mut app, KeyCode::Enter);
    assert!(!app.filter_editing);
    assert_eq!(app.rows.len(), 3);
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(selected(&app), "T21");

    press(&mut app, KeyCode::Char('/'));
    press(&mut app, KeyCode::Backspace);
    typed(&mut app, "zzz");
    assert!(app.rows.is_empty());
    assert_eq!(app.selected, None);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.filter, "");
    assert_eq!(app.rows.len(), 22);
}

#[test]
fn esc_outside_the_prompt_clears_a_kept_filter() {
    let mut app = app();
    press(&mut app, KeyCode::Char('/'));
    typed(&mut app, "FAILED");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.rows.len(), 1);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.rows.len(), 22);
    assert_eq!(selected(&app), "T3", "selection stays on the filtered task");
}

#[test]
fn sort_key_cycles_and_selection_follows_the_task() {
    let mut app = app();
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(selected(&app), "T2");
    press(&mut app, KeyCode::Char('o'));
    assert_eq!(app.sort, SortKey::State);
    // Attention first: T3 failed, T16 waiting, T8 conflict, in plan order.
    let first: Vec<&str> = app.rows[..3]
        .iter()
        .map(|&i| app.snapshot.tasks[i].id.as_str())
        .collect();
    assert_eq!(first, ["T3", "T16", "T8"]);
    assert_eq!(selected(&app), "T2");
    for _ in 0..3 {
        press(&mut app, KeyCode::Char('o'));
    }
    assert_eq!(app.sort, SortKey::Plan);
}

#[test]
fn n_jumps_between_tasks_needing_attention() {
    let mut app = app();
    let mut seen = Vec::new();
    for _ in 0..4 {
        press(&mut app, KeyCode::Char('n'));
        seen.push(selected(&app).to_string());
    }
    assert_eq!(seen, ["T3", "T16", "T8", "T3"]);
}

#[test]
fn halt_asks_then_sends_then_shows_the_report() {
    let mut app = app();
    assert_eq!(press(&mut app, KeyCode::Char('H')), None);
    assert_eq!(app.overlay, Some(Overlay::Confirm(Confirm::Halt)));
    assert_eq!(press(&mut app, KeyCode::Char('j')), None, "other keys wait");
    assert_eq!(selected(&app), "T1");
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        Some(Effect::Call(Command::Halt))
    );
    assert_eq!(app.overlay, None);
    app.on_reply(&Command::Halt, Reply::Halt(fixture::halt_report()));
    assert!(matches!(app.overlay, Some(Overlay::HaltReport(_))));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, None);
}

#[test]
fn kill_asks_and_n_cancels() {
    let mut app = app();
    // T1 is done: nothing to kill, nothing to ask.
    press(&mut app, KeyCode::Char('x'));
    assert_eq!(app.overlay, None);
    assert_eq!(app.status_text(), Some("T1 has no worker to kill (done)"));
    for _ in 0..4 {
        press(&mut app, KeyCode::Char('j'));
    }
    assert_eq!(selected(&app), "T4");
    press(&mut app, KeyCode::Char('x'));
    // T9..T12 need T4, and everything of GROUP_D and GROUP_E needs them.
    let ask = Confirm::Kill {
        task: "T4".into(),
        dependents: 13,
    };
    assert_eq!(app.overlay, Some(Overlay::Confirm(ask.clone())));
    assert!(ask.lines()[0].contains("13 unfinished tasks depend on it"));
    assert!(ask.lines()[1].contains("skipped") && ask.lines()[2].contains("keep them"));
    assert_eq!(press(&mut app, KeyCode::Char('n')), None);
    assert_eq!(app.overlay, None);
    press(&mut app, KeyCode::Char('x'));
    let kill = Command::Kill {
        task: "T4".into(),
        keep_dependents: false,
    };
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        Some(Effect::Call(kill))
    );
    press(&mut app, KeyCode::Char('x'));
    let keep = Command::Kill {
        task: "T4".into(),
        keep_dependents: true,
    };
    assert_eq!(
        press(&mut app, KeyCode::Char('k')),
        Some(Effect::Call(keep))
    );
}

#[test]
fn spawn_refused_for_dependencies_asks_to_force() {
    let mut app = app();
    app.selected = Some("T9".into());
    let spawn = Command::Spawn {
        task: "T9".into(),
        force: false,
    };
    assert_eq!(
        press(&mut app, KeyCode::Char('s')),
        Some(Effect::Call(spawn.clone()))
    );
    let refusal = Reply::Error {
        message: "T9 waits on unmet dependencies: T4, T5".into(),
    };
    app.on_reply(&spawn, refusal);
    assert!(matches!(
        app.overlay,
        Some(Overlay::Confirm(Confirm::SpawnUnmet { .. }))
    ));
    let forced = Command::Spawn {
        task: "T9".into(),
        force: true,
    };
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        Some(Effect::Call(forced))
    );
    // Other errors only show in the footer.
    app.on_reply(
        &spawn,
        Reply::Error {
            message: "no such task".into(),
        },
    );
    assert_eq!(app.overlay, None);
    assert_eq!(app.status_text(), Some("spawn T9: no such task"));
}

#[test]
fn group_restart_resume_map_to_commands() {
    let mut app = app();
    app.selected = Some("T4".into());
    let run = Command::RunGroup {
        group: "GROUP_B".into(),
    };
    assert_eq!(press(&mut app, KeyCode::Char('g')), Some(Effect::Call(run)));
    let restart = Command::Restart { task: "T4".into() };
    assert_eq!(
        press(&mut app, KeyCode::Char('r')),
        Some(Effect::Call(restart))
    );
    assert_eq!(
        press(&mut app, KeyCode::Char('R')),
        Some(Effect::Call(Command::Resume))
    );
}

#[test]
fn quit_asks_while_workers_run_and_not_otherwise() {
    let mut app = app();
    assert_eq!(press(&mut app, KeyCode::Char('q')), None);
    assert_eq!(app.overlay, Some(Overlay::Confirm(Confirm::Quit)));
    assert_eq!(press(&mut app, KeyCode::Esc), None);
    assert_eq!(app.overlay, None);
    press(&mut app, KeyCode::Char('q'));
    assert_eq!(
        press(&mut app, KeyCode::Char('h')),
        Some(Effect::Quit(QuitChoice::HaltWorkers))
    );

    let mut idle = fixture::mid_run();
    idle.tasks.retain(|t| !t.state.is_active());
    app.on_snapshot(Arc::new(idle));
    assert_eq!(
        press(&mut app, KeyCode::Char('q')),
        Some(Effect::Quit(QuitChoice::LeaveRunning))
    );
}

/// Issue 14: a worker on a host is attached over ssh; one on a host that
/// does not answer is refused, in the footer and in the Log.
#[test]
fn attach_on_a_host_goes_over_ssh_or_says_why_not() {
    let mut app = app();
    app.on_snapshot(Arc::new(fixture::on_hosts()));
    app.selected = Some("T4".into());
    let Some(Effect::Attach {
        task,
        session,
        server,
    }) = press(&mut app, KeyCode::Char('a'))
    else {
        panic!("an attach");
    };
    assert_eq!((task.as_str(), session.as_str()), ("T4", "sb-T4"));
    assert_eq!(server.host(), Some("big1"));

    app.selected = Some("T6".into());
    let before = app.log.len();
    assert_eq!(press(&mut app, KeyCode::Char('a')), None);
    let said = "cannot attach to T6: big2 is unreachable since 22:14 \
                (ssh: connect to host 10.77.0.3 port 22: No route to host)";
    assert_eq!(app.status_text(), Some(said));
    assert_eq!(app.log.len(), before + 1);
    let last = app.log.window(1, 0).next().cloned();
    assert!(
        matches!(&last, Some(crate::tui::logbuf::LogEntry::Line(l))
            if l.text == said && l.task.as_deref() == Some("T6")),
        "{last:?}"
    );
}

#[test]
fn attach_uses_the_session_and_socket() {
    let mut app = app();
    app.selected = Some("T4".into());
    let want = Effect::Attach {
        task: "T4".into(),
        session: "sb-T4".into(),
        server: WorkerServer::Local {
            socket: Some("switchboard".into()),
        },
    };
    assert_eq!(press(&mut app, KeyCode::Enter), Some(want.clone()));
    assert_eq!(press(&mut app, KeyCode::Char('a')), Some(want));
    // A task with no session (never run) is described instead.
    app.selected = Some("T22".into());
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Effect::Call(Command::TaskDetail {
            task: "T22".into(),
            log_lines: 200,
        }))
    );
    assert!(matches!(&app.overlay, Some(Overlay::Detail(v)) if v.task == "T22"));
}

#[test]
fn enter_on_a_merged_task_and_d_on_any_open_its_detail() {
    let mut app = app();
    // T1 is done: its session was closed when it merged.
    app.selected = Some("T1".into());
    let want = Some(Effect::Call(Command::TaskDetail {
        task: "T1".into(),
        log_lines: 200,
    }));
    assert_eq!(press(&mut app, KeyCode::Enter), want);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, None);
    // D on a running task too; the answer fills the view, a stale one
    // (another task's) does not.
    app.selected = Some("T4".into());
    let call = press(&mut app, KeyCode::Char('D'));
    let Some(Effect::Call(command)) = call else {
        panic!("{call:?}")
    };
    let other = Command::TaskDetail {
        task: "T1".into(),
        log_lines: 200,
    };
    let detail = |task: &str| {
        Reply::TaskDetail(Box::new(crate::engine::detail::TaskDetail {
            task: task.into(),
            ..Default::default()
        }))
    };
    app.on_reply(&other, detail("T1"));
    assert!(matches!(&app.overlay, Some(Overlay::Detail(v)) if v.detail.is_none()));
    app.on_reply(&command, detail("T4"));
    assert!(matches!(&app.overlay, Some(Overlay::Detail(v)) if v.detail.is_some()));
    assert_eq!(app.status_text(), None, "no 'ok' for a detail");
    // Its keys scroll it; q or D closes it, and nothing else happens.
    assert_eq!(press(&mut app, KeyCode::Char('x')), None);
    assert!(app.overlay.is_some());
    assert_eq!(press(&mut app, KeyCode::Char('D')), None);
    assert_eq!(app.overlay, None);
}

#[test]
fn tab_shows_the_selected_pane_and_follows_the_selection() {
    let mut app = app();
    assert_eq!(app.pane_task(), None);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.pane_task().as_deref(), Some("T1"));
    app.on_pane_tail("T1", vec!["$ cargo test".into()], None);
    app.on_pane_tail("T2", vec!["stale".into()], None);
    assert_eq!(
        app.log_view,
        LogView::Pane {
            task: "T1".into(),
            lines: vec!["$ cargo test".into()],
            log: None,
        }
    );
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.pane_task().as_deref(), Some("T2"));
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.log_view, LogView::Events);
}

#[test]
fn bell_rings_once_when_a_task_newly_needs_attention() {
    let mut app = app();
    assert!(
        !app.bell,
        "attention already present at start does not ring"
    );
    let mut snap = fixture::mid_run();
    snap.now_ms += 1_000;
    app.on_snapshot(Arc::new(snap.clone()));
    assert!(!app.bell);
    let t4 = snap.tasks.iter_mut().find(|t| t.id == "T4").expect("T4");
    t4.state = TaskState::Failed;
    t4.attempts[0] = AttemptSpan {
        ended_ms: Some(snap.now_ms),
        outcome: Some(AttemptOutcome::Failed),
        ..t4.attempts[0].clone()
    };
    app.on_snapshot(Arc::new(snap.clone()));
    assert!(std::mem::take(&mut app.bell));
    app.on_snapshot(Arc::new(snap));
    assert!(!app.bell);
}

#[test]
fn an_open_detail_is_asked_again_when_its_task_moves_on() {
    let mut app = app();
    app.selected = Some("T4".into());
    assert!(press(&mut app, KeyCode::Char('D')).is_some());
    let mut snap = fixture::mid_run();
    // Only time passed: nothing to ask.
    snap.now_ms += 1_000;
    assert_eq!(app.on_snapshot(Arc::new(snap.clone())), None);
    let t4 = snap.tasks.iter_mut().find(|t| t.id == "T4").expect("T4");
    t4.state = TaskState::Validating;
    let want = Some(Effect::Call(Command::TaskDetail {
        task: "T4".into(),
        log_lines: 200,
    }));
    assert_eq!(app.on_snapshot(Arc::new(snap.clone())), want);
    // Asked once per change, and not at all once the view is closed.
    assert_eq!(app.on_snapshot(Arc::new(snap.clone())), None);
    press(&mut app, KeyCode::Esc);
    let t4 = snap.tasks.iter_mut().find(|t| t.id == "T4").expect("T4");
    t4.state = TaskState::Merging;
    assert_eq!(app.on_snapshot(Arc::new(snap)), None);
}

#[test]
fn log_takes_in_new_lines_from_each_snapshot() {
    let mut app = app();
    assert_eq!(app.log.len(), 30);
    let mut snap = fixture::mid_run();
    let extra = snap.log_tail[0].clone();
    snap.log_tail.push(extra);
    snap.log_total += 1;
    app.on_snapshot(Arc::new(snap));
    assert_eq!(app.log.len(), 31);
}

#[test]
fn many_rows_keep_the_selection_visible() {
    let mut app = App::new(
        Arc::new(fixture::large(250, 100)),
        Keymap::defaults(),
        Theme { color: false },
        &TuiOptions::default(),
    );
    app.resize(160, 48);
    let page = app.page();
    assert!(page < 250);
    press(&mut app, KeyCode::End);
    assert_eq!(app.selected_row(), Some(249));
    assert_eq!(app.offset, 250 - page);
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.selected_row(), Some(249 - page));
    assert_eq!(app.offset, 249 - page);
    press(&mut app, KeyCode::Home);
    assert_eq!(app.offset, 0);
    for _ in 0..page {
        press(&mut app, KeyCode::Char('j'));
    }
    assert_eq!(app.offset, 1);
}

#[test]
fn mouse_click_selects_and_wheel_scrolls() {
    let mut app = app();
    let areas = app.areas();
    let click = |row| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: areas.workers.x + 5,
        row,
        modifiers: KeyModifiers::NONE,
    };
    // Row 0 of tasks sits below the border and the header.
    app.on_mouse(click(areas.workers.y + 2 + 4));
    assert_eq!(selected(&app), "T4");
    app.on_mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        ..click(areas.workers.y + 3)
    });
    assert_eq!(selected(&app), "T7");
    let over_log = MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: areas.log.x + 2,
        row: areas.log.y + 2,
        modifiers: KeyModifiers::NONE,
    };
    app.on_mouse(over_log);
    assert_eq!(app.log_scroll, 3);
}

#[test]
fn timeline_keys_zoom_scroll_and_follow() {
    let mut app = app();
    let before = app.timeline_axis().expect("timeline at 160x48");
    press(&mut app, KeyCode::Char('+'));
    assert!(app.timeline_axis().expect("axis").ms_per_col < before.ms_per_col);
    press(&mut app, KeyCode::Char('-'));
    press(&mut app, KeyCode::Char('-'));
    assert!(app.timeline_axis().expect("axis").ms_per_col > before.ms_per_col);
    press(&mut app, KeyCode::Char('l'));
    assert!(!app.timeline.follow);
    press(&mut app, KeyCode::Char('f'));
    assert!(app.timeline.follow);

    app.resize(80, 24);
    assert_eq!(app.timeline_axis(), None);
    press(&mut app, KeyCode::Char('h'));
    assert!(app.status_text().is_some_and(|s| s.contains("hidden")));
}

#[test]
fn help_opens_and_closes() {
    let mut app = app();
    press(&mut app, KeyCode::Char('?'));
    assert_eq!(app.overlay, Some(Overlay::Help));
    press(&mut app, KeyCode::Char('?'));
    assert_eq!(app.overlay, None);
}

#[test]
fn local_clock_is_never_before_the_snapshot() {
    let mut app = app();
    app.set_now(fixture::NOW + 5_000);
    assert_eq!(app.now_ms, fixture::NOW + 5_000);
    app.set_now(fixture::NOW - 5_000);
    assert_eq!(app.now_ms, fixture::NOW);
}

#[test]
fn ctrl_keys_keep_their_meaning_in_the_filter_and_dialogs() {
    let mut app = app();
    press(&mut app, KeyCode::Char('/'));
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    assert_eq!(app.on_key(ctrl('l')), Some(Effect::Redraw));
    assert_eq!(app.filter, "");
    // Workers are running, so Ctrl-C asks.
    assert_eq!(app.on_key(ctrl('c')), None);
    assert_eq!(app.overlay, Some(Overlay::Confirm(Confirm::Quit)));
    assert_eq!(app.on_key(ctrl('z')), Some(Effect::Suspend));
    assert_eq!(
        app.overlay,
        Some(Overlay::Confirm(Confirm::Quit)),
        "still asking after fg"
    );
}

#[test]
fn log_scroll_keys_move_back_and_stop_at_the_ends() {
    let mut app = app();
    press(&mut app, KeyCode::Char('['));
    assert_eq!(app.log_scroll, 5);
    for _ in 0..20 {
        press(&mut app, KeyCode::Char('['));
    }
    assert_eq!(app.log_scroll, 29, "stops at the oldest line");
    for _ in 0..20 {
        press(&mut app, KeyCode::Char(']'));
    }
    assert_eq!(app.log_scroll, 0);
}

/// Issue 12: `d` reads the selected task's diff off the render path and
/// shows "loading…" until it comes; `e` and `S` step aside in its worktree.
#[test]
fn d_opens_the_diff_view_which_edits_and_opens_a_shell_in_the_worktree() {
    use crate::tui::review::DiffContent;
    let mut app = app();
    app.selected = Some("T9".into());
    assert_eq!(press(&mut app, KeyCode::Char('d')), None);
    assert_eq!(
        app.status_text(),
        Some("T9 has not started: no branch to review yet")
    );
    app.selected = Some("T4".into());
    let worktree = PathBuf::from(".switchboard/workspaces/agent-T4-backend-engineer");
    let read = Effect::ReadDiff {
        task: "T4".into(),
        branch: "agent/T4/backend-engineer".into(),
        integration: "switchboard/integration".into(),
        worktree: Some(worktree.clone()),
    };
    assert_eq!(press(&mut app, KeyCode::Char('d')), Some(read.clone()));
    let view = |app: &App| match &app.overlay {
        Some(Overlay::Diff(v)) => (**v).clone(),
        other => panic!("no diff view: {other:?}"),
    };
    assert_eq!(view(&app).content, DiffContent::Loading);
    // Another task's diff arriving late is not this one.
    app.on_diff("T5", Ok(fixture::branch_diff()));
    assert_eq!(view(&app).content, DiffContent::Loading);
    app.on_diff("T4", Ok(fixture::branch_diff()));
    assert!(view(&app).document().is_some());

    // Keys move the cursor, not the Workers selection.
    press(&mut app, KeyCode::Char(']'));
    for _ in 0..8 {
        press(&mut app, KeyCode::Char('j'));
    }
    assert_eq!(selected(&app), "T4");
    assert_eq!(
        press(&mut app, KeyCode::Char('e')),
        Some(Effect::OpenEditor {
            task: "T4".into(),
            dir: worktree.clone(),
            file: "src/retry.rs".into(),
            line: Some(5),
        })
    );
    assert_eq!(
        press(&mut app, KeyCode::Char('S')),
        Some(Effect::OpenShell {
            task: "T4".into(),
            dir: worktree.clone(),
        })
    );
    // `r` reads it again; Esc (or `d`) closes.
    assert_eq!(press(&mut app, KeyCode::Char('r')), Some(read));
    assert_eq!(view(&app).content, DiffContent::Loading);
    app.on_diff("T4", Err("git failed".into()));
    assert_eq!(view(&app).content, DiffContent::Failed("git failed".into()));
    press(&mut app, KeyCode::Char('d'));
    assert_eq!(app.overlay, None);
    // From the Workers table, `S` opens the shell too.
    assert_eq!(
        press(&mut app, KeyCode::Char('S')),
        Some(Effect::OpenShell {
            task: "T4".into(),
            dir: worktree,
        })
    );
}

/// Issue 14: a host's task has its work there until it ends: the diff
/// says so instead of reading a branch that is not here yet (or an earlier
/// attempt's), and reads it once the task ends; the shell is refused.
#[test]
fn a_host_s_task_is_diffed_once_its_branch_is_home() {
    use crate::tui::review::DiffContent;
    let mut app = app();
    let mut snap = fixture::on_hosts();
    app.on_snapshot(Arc::new(snap.clone()));
    app.selected = Some("T4".into());
    assert_eq!(press(&mut app, KeyCode::Char('d')), None);
    let view = |app: &App| match &app.overlay {
        Some(Overlay::Diff(v)) => (**v).clone(),
        other => panic!("no diff view: {other:?}"),
    };
    let DiffContent::Away(words) = view(&app).content else {
        panic!("{:?}", view(&app).content);
    };
    assert!(
        words.starts_with("T4 runs on big1: its branch is fetched back when the task ends"),
        "{words}"
    );
    // `r` while it still runs: the same words, no read.
    assert_eq!(press(&mut app, KeyCode::Char('r')), None);
    assert!(matches!(view(&app).content, DiffContent::Away(_)));
    // No worktree here to edit in or open a shell in.
    assert_eq!(press(&mut app, KeyCode::Char('e')), None);
    assert_eq!(
        app.status_text(),
        Some("T4's worktree is on big1, not here")
    );
    assert_eq!(press(&mut app, KeyCode::Char('S')), None);
    assert_eq!(
        app.status_text(),
        Some("T4 runs on big1: its worktree is there, not here")
    );

    // Its checks run on the fetched branch: the open view reads it then.
    let t4 = snap.tasks.iter_mut().find(|t| t.id == "T4").unwrap();
    t4.state = TaskState::Validating;
    let read = Effect::ReadDiff {
        task: "T4".into(),
        branch: "agent/T4/backend-engineer".into(),
        integration: "switchboard/integration".into(),
        worktree: None,
    };
    assert_eq!(app.on_snapshot(Arc::new(snap)), Some(read));
    assert_eq!(view(&app).content, DiffContent::Loading);
    app.on_diff(
        "T4",
        Err("unknown revision agent/T4/backend-engineer".into()),
    );
    let DiffContent::Failed(words) = view(&app).content else {
        panic!("{:?}", view(&app).content);
    };
    assert!(words.contains("T4 ran on big1"), "{words}");

    // A finished host task reads at once.
    press(&mut app, KeyCode::Esc);
    app.selected = Some("T1".into());
    assert!(matches!(
        press(&mut app, KeyCode::Char('d')),
        Some(Effect::ReadDiff { worktree: None, .. })
    ));
}

/// Issue 12: `A` asks the engine for the whole plan.
#[test]
fn shift_a_runs_the_whole_plan() {
    let mut app = app();
    assert_eq!(
        press(&mut app, KeyCode::Char('A')),
        Some(Effect::Call(Command::RunAll))
    );
    app.on_reply(&Command::RunAll, Reply::Ok);
    assert_eq!(app.status_text(), Some("run the whole plan: ok"));
}

/// Issue 12: `i` opens the composer on a running worker; Enter sends the
/// line to the engine, Esc drops it; a task without an agent is refused.
#[test]
fn i_types_a_line_to_the_selected_worker() {
    use crate::tui::composer::Composer;
    let mut app = app();
    press(&mut app, KeyCode::Char('i'));
    assert_eq!(app.overlay, None);
    assert_eq!(
        app.status_text(),
        Some("T1 has no running agent to type to (done)")
    );
    app.selected = Some("T16".into());
    press(&mut app, KeyCode::Char('i'));
    assert_eq!(app.overlay, Some(Overlay::Compose(Composer::new("T16"))));
    // Keys bound elsewhere (q, j, d) are text here.
    typed(&mut app, "Vite, quit jd");
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Backspace);
    assert_eq!(selected(&app), "T16");
    let send = Command::Type {
        task: "T16".into(),
        text: "Vite, quit d".into(),
    };
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Effect::Call(send.clone()))
    );
    assert_eq!(app.overlay, None);
    app.on_reply(&send, Reply::Ok);
    assert_eq!(app.status_text(), Some("typed to T16: ok"));
    press(&mut app, KeyCode::Char('i'));
    typed(&mut app, "never mind");
    assert_eq!(press(&mut app, KeyCode::Esc), None);
    assert_eq!(app.overlay, None);
}

/// Issue 12, recovery by hand: `c` checks a failed task again, `b` rebases
/// a conflicted one, `M` asks why before marking a task done; a done task
/// is not marked again.
#[test]
fn recovery_keys_ask_the_engine() {
    use crate::tui::composer::Composer;
    let mut app = app();
    app.selected = Some("T3".into());
    assert_eq!(
        press(&mut app, KeyCode::Char('c')),
        Some(Effect::Call(Command::Recheck { task: "T3".into() }))
    );
    app.selected = Some("T8".into());
    assert_eq!(
        press(&mut app, KeyCode::Char('b')),
        Some(Effect::Call(Command::RebaseMerge { task: "T8".into() }))
    );
    press(&mut app, KeyCode::Char('M'));
    assert_eq!(
        app.overlay,
        Some(Overlay::Compose(Composer::mark_done("T8")))
    );
    typed(&mut app, "merged by hand");
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(Effect::Call(Command::MarkDone {
            task: "T8".into(),
            reason: "merged by hand".into()
        }))
    );
    app.selected = Some("T1".into());
    press(&mut app, KeyCode::Char('M'));
    assert_eq!(app.overlay, None);
    assert_eq!(app.status_text(), Some("T1 is done: nothing to mark done"));
}

/// A finished run's timeline follows where the run stopped, not the wall
/// clock: an hour later its bars are still on screen.
#[test]
fn a_finished_runs_timeline_stays_on_the_run() {
    use crate::engine::snapshot::RunPhase;
    let mut snap = fixture::mid_run();
    snap.phase = RunPhase::Finished;
    let end = snap.stopped_at().expect("attempts ended");
    let mut app = app();
    app.on_snapshot(Arc::new(snap));
    app.set_now(end + 3_600_000);
    let axis = app.timeline_axis().expect("a timeline");
    assert!(axis.column(end - 1).is_some(), "{axis:?} misses {end}");
}

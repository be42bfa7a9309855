//! Whole screens through ratatui's `TestBackend`, as insta snapshots in
//! `tests/snapshots/`: a plan mid-run, replayed from a recorded journal, at a
//! big and a small size, and the help, halt-confirmation and halt-report
//! overlays.

use super::TuiOptions;
use super::app::App;
use super::keymap::Keymap;
use super::overlay::{Confirm, Overlay};
use super::theme::Theme;
use crate::testdata;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;

/// The recorded mid-run journal in an app sized `width`×`height`.
pub fn fixture_app(width: u16, height: u16) -> App {
    app_of(testdata::recorded_mid_run(), width, height)
}

/// `snapshot` in an app sized `width`×`height`.
pub fn app_of(snapshot: crate::engine::snapshot::Snapshot, width: u16, height: u16) -> App {
    let mut app = App::new(
        Arc::new(snapshot),
        Keymap::defaults(),
        Theme { color: true },
        &TuiOptions::default(),
    );
    app.resize(width, height);
    app
}

fn draw(app: &App) -> Terminal<TestBackend> {
    let mut terminal =
        Terminal::new(TestBackend::new(app.size.width, app.size.height)).expect("terminal");
    terminal
        .draw(|frame| frame.render_widget(app, frame.area()))
        .expect("draw");
    terminal
}

macro_rules! screen {
    ($name:expr, $terminal:expr) => {
        insta::with_settings!({
            snapshot_path => "../../tests/snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!($name, $terminal.backend());
        })
    };
}

fn text(terminal: &Terminal<TestBackend>) -> String {
    terminal.backend().to_string()
}

#[test]
fn mid_run_160x48() {
    let terminal = draw(&fixture_app(160, 48));
    let screen = text(&terminal);
    for title in ["Workers", "Heartbeats", "Timeline", "Log", "RUNNING"] {
        assert!(screen.contains(title), "no {title} at 160x48");
    }
    screen!("mid_run_160x48", terminal);
}

#[test]
fn mid_run_80x24() {
    let terminal = draw(&fixture_app(80, 24));
    let screen = text(&terminal);
    for title in ["Workers", "Heartbeats", "Log", "RUNNING"] {
        assert!(screen.contains(title), "no {title} at 80x24");
    }
    screen!("mid_run_80x24", terminal);
}

#[test]
fn help_overlay() {
    let mut app = fixture_app(160, 48);
    app.overlay = Some(Overlay::Help);
    screen!("help_160x48", draw(&app));
    app.resize(80, 24);
    let small = draw(&app);
    assert!(text(&small).contains("Ctrl-C"), "every key fits at 80x24");
    screen!("help_80x24", small);
}

#[test]
fn halt_confirmation() {
    let mut app = fixture_app(160, 48);
    app.overlay = Some(Overlay::Confirm(Confirm::Halt));
    let terminal = draw(&app);
    assert!(text(&terminal).contains("Halt every worker? y/n"));
    screen!("halt_confirm_160x48", terminal);
}

#[test]
fn quit_question() {
    let mut app = fixture_app(80, 24);
    app.overlay = Some(Overlay::Confirm(Confirm::Quit));
    let terminal = draw(&app);
    assert!(text(&terminal).contains("Leave workers running (l) / Halt them (h) / Cancel (Esc)"));
}

#[test]
fn halt_report_view() {
    let halted = testdata::recorded_halted();
    let report = halted
        .last_halt
        .clone()
        .expect("the recording ends with a halt");
    let mut app = app_of(halted, 160, 48);
    assert_eq!(report.total_workers, report.acks_received);
    app.overlay = Some(Overlay::HaltReport(report));
    screen!("halt_report_160x48", draw(&app));
}

#[test]
fn filtered_pane_view_80x24() {
    let mut app = fixture_app(80, 24);
    app.filter = "group_b".into();
    app.refresh_rows();
    app.selected = Some("T5".into());
    app.log_view = super::app::LogView::Pane {
        task: "T5".into(),
        lines: vec![
            "$ cargo test -p breaker".into(),
            "running 12 tests".into(),
            String::new(),
        ],
        log: None,
    };
    let terminal = draw(&app);
    let screen = text(&terminal);
    assert!(screen.contains("Log — T5 pane"));
    assert!(screen.contains("filter: group_b"));
    screen!("filtered_pane_80x24", terminal);
}

#[test]
fn tiny_terminal_says_so() {
    let mut app = fixture_app(30, 8);
    app.resize(30, 8);
    assert!(text(&draw(&app)).contains("needs at least"));
}

#[test]
fn screenshot_svg_of_the_big_screen() {
    let terminal = draw(&fixture_app(160, 48));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shot.svg");
    super::write_screenshot(terminal.backend().buffer(), &path).expect("write");
    let svg = std::fs::read_to_string(&path).expect("read");
    assert!(svg.contains("Heartbeats") && svg.ends_with("</svg>\n"));
}

#[test]
fn no_color_draws_without_any_colour() {
    let mut app = fixture_app(160, 48);
    app.theme = Theme { color: false };
    let terminal = draw(&app);
    let buffer = terminal.backend().buffer();
    let coloured = buffer
        .content()
        .iter()
        .filter(|c| c.fg != ratatui::style::Color::Reset || c.bg != ratatui::style::Color::Reset)
        .count();
    assert_eq!(coloured, 0);
    // The lights still read: each has its own symbol and the legend names them.
    let screen = text(&terminal);
    for word in [
        "● healthy",
        "◐ late",
        "○ missing",
        "✖ dead",
        "◌ stalled",
        "? waiting",
        "· idle",
    ] {
        assert!(screen.contains(word), "legend lacks {word}");
    }
}

/// Issue 10: an interactive agent's own state shows in its row.
#[test]
fn an_agent_s_state_shows_beside_its_last_output() {
    let mut snap = crate::testdata::recorded_mid_run();
    let t4 = snap.tasks.iter_mut().find(|t| t.id == "T4").expect("T4");
    t4.agent_state = Some("idle at prompt".into());
    let screen = text(&draw(&app_of(snap, 160, 48)));
    let row = screen
        .lines()
        .find(|l| l.contains("T4  Retry"))
        .expect("T4's row");
    assert!(row.contains("[idle at prompt] "), "{row}");
}

/// The detail view of `task` in the recorded run (after its halt), each
/// attempt with a made-up log tail.
fn detail_app(task: &str, width: u16, height: u16) -> App {
    use crate::engine::detail::{self, AttemptLog};
    let plan = testdata::recorded_plan();
    let idx = plan.task_idx(task).expect("a recorded task");
    let built = detail::build(&plan, idx, &testdata::recorded_entries(), |attempt| {
        Some(AttemptLog {
            file: detail::shown_path(task, attempt),
            size: 2_345,
            capped: false,
            lines: vec![
                format!("[sim] {task}: attempt {attempt}"),
                format!("[sim] {task} step 1/5: reading TASK_INSTRUCTION.md"),
                "simulated failure (--fail); nothing committed".into(),
            ],
        })
    });
    let mut app = app_of(testdata::recorded_halted(), width, height);
    app.overlay = Some(Overlay::Detail(super::overlay::DetailView {
        task: task.into(),
        detail: Some(Box::new(built)),
        scroll: 0,
    }));
    app
}

#[test]
fn detail_of_a_task_that_failed_twice() {
    let terminal = draw(&detail_app("T5", 160, 48));
    let screen = text(&terminal);
    for want in [
        "T5 — detail",
        "Attempt 2",
        "Attempt 1",
        "agent reported ERROR: simulated failure",
        ".switchboard/logs/T5.2.log (2.3 KiB)",
        "│ [sim] T5: attempt 2",
    ] {
        assert!(screen.contains(want), "no {want:?} in\n{screen}");
    }
    // Newest first.
    assert!(screen.find("Attempt 2") < screen.find("Attempt 1"));
    screen!("detail_failed_160x48", terminal);
}

#[test]
fn detail_of_a_merged_task_scrolls_at_80x24() {
    let mut app = detail_app("T1", 80, 24);
    let screen = text(&draw(&app));
    assert!(screen.contains("merged into switchboard/integration (4bbef196c1)"));
    assert!(screen.contains("✓ passed"), "{screen}");
    screen!("detail_merged_80x24", draw(&app));
    // To its end: the log's last line is on screen, the header is not.
    app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::End,
    ));
    let screen = text(&draw(&app));
    assert!(screen.contains("simulated failure (--fail)"), "{screen}");
    assert!(!screen.contains("PostgreSQL Schema Design"), "{screen}");
}

#[test]
fn detail_while_the_engine_reads() {
    let mut app = fixture_app(80, 24);
    app.overlay = Some(Overlay::Detail(super::overlay::DetailView::new(
        "T4".into(),
    )));
    let screen = text(&draw(&app));
    assert!(
        screen.contains("reading the journal and the logs"),
        "{screen}"
    );
    assert!(screen.contains("Retry Engine Implementation"), "{screen}");
}

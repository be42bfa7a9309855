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

/// Issue 12: a small terminal keeps the lights (the legend gives way) and
/// the running rows.
#[test]
fn mid_run_60x20() {
    let terminal = draw(&fixture_app(60, 20));
    let screen = text(&terminal);
    assert!(
        screen.contains("T4  Retry"),
        "the running row shows:\n{screen}"
    );
    screen!("mid_run_60x20", terminal);
}

/// Issue 14: with hosts, a Host column and a strip under the counts; the
/// host that does not answer in red, with since when.
#[test]
fn hosts_160x48() {
    let terminal = draw(&app_of(crate::tui::fixture::on_hosts(), 160, 48));
    let screen = text(&terminal);
    assert!(
        screen.contains(" hosts local 2/4 · big1 2/16 load 1.2 · big2 unreachable since 22:14"),
        "{screen}"
    );
    let row = |id: &str| {
        screen
            .lines()
            .find(|l| l.contains(&format!(" {id} ")) && l.contains('│'))
            .unwrap_or_default()
            .to_string()
    };
    assert!(row("T4").contains(" big1 "), "{}", row("T4"));
    assert!(row("T7").contains(" local "), "{}", row("T7"));
    assert!(
        !row("T9").contains("local"),
        "a task never run runs nowhere"
    );
    let buffer = terminal.backend().buffer();
    let (x, y) = find(&terminal, "big2 unreachable");
    assert_eq!(buffer[(x, y)].fg, ratatui::style::Color::Red);
    screen!("hosts_160x48", terminal);
}

#[test]
fn hosts_80x24() {
    let terminal = draw(&app_of(crate::tui::fixture::on_hosts(), 80, 24));
    let screen = text(&terminal);
    let strip = screen.lines().nth(2).unwrap_or_default();
    assert!(strip.contains("local 2/4 · big1 2/16"), "{strip}");
    assert!(strip.contains("big2 unreachable"), "{strip}");
    assert!(screen.contains("Host"), "{screen}");
    screen!("hosts_80x24", terminal);
}

/// A strip too long for the screen gives way, host by host, and says how
/// many it left out.
#[test]
fn many_hosts_give_way_on_a_narrow_screen() {
    let mut snap = crate::tui::fixture::on_hosts();
    let more: Vec<_> = (3..=9)
        .map(|i| {
            let mut h = snap.hosts[0].clone();
            h.name = format!("build-server-{i}");
            h
        })
        .collect();
    snap.hosts.extend(more);
    let screen = text(&draw(&app_of(snap, 80, 24)));
    let strip = screen.lines().nth(2).unwrap_or_default();
    assert!(strip.contains("more"), "{strip}");
    assert!(!strip.contains("load"), "{strip}");
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

/// Issue 14: over hosts, the report says where each worker ran and gives a
/// line per machine; a host not reached says what becomes of its workers.
#[test]
fn halt_report_over_hosts() {
    let mut app = app_of(crate::tui::fixture::on_hosts(), 160, 48);
    app.overlay = Some(Overlay::HaltReport(
        crate::tui::fixture::halt_report_on_hosts(),
    ));
    let terminal = draw(&app);
    let screen = text(&terminal);
    for want in [
        " local 2/2 acknowledged · slowest 52.00 ms",
        " big1 2/2 acknowledged · slowest 41.00 ms",
        " big2 0/1 acknowledged · not reached: stopped when it answers again",
        "Task      Host        Acked",
        "T6        big2        no",
    ] {
        assert!(screen.contains(want), "no {want:?} in\n{screen}");
    }
    screen!("halt_report_hosts_160x48", terminal);
    // At 80x24 it still fits its rows or says how many more.
    app.resize(80, 24);
    let screen = text(&draw(&app));
    assert!(screen.contains("big2 0/1 acknowledged"), "{screen}");
    assert!(screen.contains("T4"), "{screen}");
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
        asked_at: None,
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

/// The fixture run with T4's diff open and read, in an app `width`×`height`.
fn diff_app(width: u16, height: u16) -> App {
    let mut app = app_of(crate::tui::fixture::mid_run(), width, height);
    app.selected = Some("T4".into());
    app.on_action(super::action::Action::Diff);
    app.on_diff("T4", Ok(crate::tui::fixture::branch_diff()));
    app
}

/// The row of the screen that shows `needle`, and the column it starts at.
fn find(terminal: &Terminal<TestBackend>, needle: &str) -> (u16, u16) {
    let buffer = terminal.backend().buffer();
    for y in 0..buffer.area.height {
        let row: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        if let Some(at) = row.find(needle) {
            let x = row[..at].chars().count() as u16;
            return (x, y);
        }
    }
    panic!("{needle:?} is not on the screen:\n{}", text(terminal));
}

/// Issue 12: the diff view, files with counts first, then the patch in
/// git's colours; the cursor row reversed.
#[test]
fn diff_view_100x30() {
    use ratatui::style::{Color, Modifier};
    let terminal = draw(&diff_app(100, 30));
    let screen = text(&terminal);
    assert!(screen.contains("Diff T4 agent/T4/backend-engineer against switchboard/integration"));
    assert!(screen.contains("2 files +3 -1"), "{screen}");
    let buffer = terminal.backend().buffer();
    let fg = |needle: &str| {
        let (x, y) = find(&terminal, needle);
        buffer[(x, y)].fg
    };
    assert_eq!(fg("+let jitter"), Color::Green);
    assert_eq!(fg("-let max"), Color::Red);
    assert_eq!(fg("@@ -3,4 +3,5 @@"), Color::Cyan);
    assert_eq!(fg("diff --git a/notes.md"), Color::Yellow);
    assert_eq!(fg("+2"), Color::Green);
    assert_eq!(fg("-1"), Color::Red);
    // The cursor starts on the first file of the list.
    let (_, y) = find(&terminal, "src/retry.rs");
    assert!(buffer[(5, y)].modifier.contains(Modifier::REVERSED));
    // The escape in the file's text never reaches the terminal.
    assert!(screen.contains("+retry  with �[31mbackoff"), "{screen}");
    assert!(screen.contains("e edit") && screen.contains("Esc close"));
    screen!("diff_100x30", terminal);
}

/// Issue 14: a host's running task: the diff says where its work is, the
/// detail names the host.
#[test]
fn a_host_s_task_says_where_its_work_is() {
    let mut app = app_of(crate::tui::fixture::on_hosts(), 100, 30);
    app.selected = Some("T4".into());
    app.on_action(super::action::Action::Diff);
    let screen = text(&draw(&app));
    assert!(
        screen.contains("T4 runs on big1: its branch is fetched back when the task ends"),
        "{screen}"
    );
    app.overlay = Some(Overlay::Detail(super::overlay::DetailView::new(
        "T4".into(),
    )));
    let screen = text(&draw(&app));
    assert!(
        screen.contains("host      big1  (its worktree is there"),
        "{screen}"
    );
}

/// Scrolling: the document moves under a fixed frame, the position shows.
#[test]
fn diff_view_scrolls_to_the_end_and_back() {
    let mut app = diff_app(100, 14);
    let terminal = draw(&app);
    assert!(text(&terminal).contains(" 1/21 "));
    assert!(!text(&terminal).contains("No newline"));
    press_key(&mut app, crossterm::event::KeyCode::Char('G'));
    let terminal = draw(&app);
    let screen = text(&terminal);
    assert!(
        screen.contains(" 21/21 ") && screen.contains("No newline"),
        "{screen}"
    );
    assert!(
        !screen.contains("src/retry.rs   "),
        "the file list scrolled away"
    );
    press_key(&mut app, crossterm::event::KeyCode::PageUp);
    press_key(&mut app, crossterm::event::KeyCode::Char('g'));
    assert!(text(&draw(&app)).contains(" 1/21 "));
}

fn press_key(app: &mut App, code: crossterm::event::KeyCode) {
    let modifiers = match code {
        crossterm::event::KeyCode::Char(c) if c.is_ascii_uppercase() => {
            crossterm::event::KeyModifiers::SHIFT
        }
        _ => crossterm::event::KeyModifiers::NONE,
    };
    app.on_key(crossterm::event::KeyEvent::new(code, modifiers));
}

/// Issue 12: the composer on a waiting task shows its question above the
/// line being typed; on a running one, the line alone.
#[test]
fn composer_with_and_without_a_question() {
    let mut snapshot = crate::tui::fixture::mid_run();
    let t16 = snapshot
        .tasks
        .iter_mut()
        .find(|t| t.id == "T16")
        .expect("T16");
    t16.message = Some("asks: Use Vite or Next.js for the dashboard shell? (y/n)".into());
    let mut app = app_of(snapshot, 100, 30);
    app.selected = Some("T16".into());
    app.on_action(super::action::Action::Compose);
    for c in "Vite, thanks".chars() {
        press_key(&mut app, crossterm::event::KeyCode::Char(c));
    }
    press_key(&mut app, crossterm::event::KeyCode::Left);
    let terminal = draw(&app);
    let screen = text(&terminal);
    assert!(screen.contains("T16 asks"), "{screen}");
    assert!(screen.contains("Use Vite or Next.js for the dashboard shell? (y/n)"));
    let last = screen.lines().last().expect("a line");
    assert!(last.contains(" T16 › Vite, thanks"), "{last}");
    assert!(last.contains("Enter sends · Esc cancels"), "{last}");
    screen!("composer_question_100x30", terminal);

    app.overlay = None;
    app.selected = Some("T4".into());
    app.on_action(super::action::Action::Compose);
    let terminal = draw(&app);
    let screen = text(&terminal);
    assert!(!screen.contains(" asks ─"), "{screen}");
    assert!(
        screen
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("\" T4 › "))
    );
}

/// Issue 10: what agents reported spending, per task and in all; a task
/// that ran and reported nothing is "not reported", never free.
#[test]
fn reported_usage_shows_per_task_and_in_the_header() {
    use crate::worker::protocol::Usage;
    let mut snap = crate::testdata::recorded_mid_run();
    let t1 = snap.tasks.iter_mut().find(|t| t.id == "T1").expect("T1");
    t1.usage = Some(Usage {
        input_tokens: Some(12_345),
        output_tokens: Some(678),
        cost_usd: Some(0.42),
    });
    let screen = text(&draw(&app_of(snap, 160, 48)));
    let row = |id: &str| {
        screen
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id}'s row"))
            .to_string()
    };
    assert!(
        row("T1  PostgreSQL").contains("$0.42 12.3k/678"),
        "{}",
        row("T1  PostgreSQL")
    );
    assert!(
        row("T2  Error").contains("not reported"),
        "{}",
        row("T2  Error")
    );
    let header = screen.lines().next().expect("a header");
    assert!(header.contains("usage $0.42 12.3k/678 tok (+"), "{header}");
}

/// Issue 10: a worker waiting on a sign-in shows the screen's words in its
/// row, and its pane's last line beside them (not the same words twice).
#[test]
fn a_waiting_agent_s_words_show_in_its_row() {
    use crate::engine::snapshot::{Light, TaskState};
    let mut snap = crate::testdata::recorded_mid_run();
    let t4 = snap.tasks.iter_mut().find(|t| t.id == "T4").expect("T4");
    let words = "codex: sign-in required (attach to choose)";
    t4.state = TaskState::Waiting;
    t4.light = Light::Waiting;
    t4.message = Some(words.into());
    t4.agent_state = Some(words.into());
    t4.last_line = "Press enter to continue".into();
    let screen = text(&draw(&app_of(snap, 160, 48)));
    let row = screen
        .lines()
        .find(|l| l.contains("T4  Retry"))
        .expect("T4's row");
    assert!(row.contains(&format!("[{words}] Press enter")), "{row}");
}

/// Issue 12: a halt is not an attempt. Work halted and resumed shows as one
/// attempt, not two.
#[test]
fn a_resumed_halt_is_the_same_attempt() {
    use crate::engine::snapshot::{AttemptOutcome, AttemptSpan, TaskState};
    let mut snap = crate::testdata::recorded_mid_run();
    let t4 = snap.tasks.iter_mut().find(|t| t.id == "T4").expect("T4");
    let span = |attempt: u32, outcome: Option<AttemptOutcome>| AttemptSpan {
        attempt,
        profile: "generalist".into(),
        started_ms: 1,
        ended_ms: outcome.map(|_| 2),
        outcome,
        pauses: Vec::new(),
        usage: None,
    };
    t4.attempts = vec![span(1, Some(AttemptOutcome::Halted)), span(2, None)];
    (t4.attempt, t4.restarts, t4.state) = (2, 0, TaskState::Running);
    let screen = text(&draw(&app_of(snap, 160, 48)));
    let row = screen
        .lines()
        .find(|l| l.contains("T4  Retry"))
        .expect("T4's row");
    assert!(row.contains(" 1/0 "), "{row}");
}

/// A budget past its warning, then spent: the header says so (with the
/// tasks whose cost is unknown) and the bell rings at each step.
#[test]
fn the_header_shows_a_budget_and_the_bell_rings() {
    use crate::engine::snapshot::{BudgetLevel, BudgetView};
    let mut snap = testdata::recorded_mid_run();
    let mut app = app_of(snap.clone(), 160, 48);
    assert!(!std::mem::take(&mut app.bell));
    let mut budget = BudgetView {
        scope: "run".into(),
        max_usd: 10.0,
        warn_at: 0.8,
        spent_usd: 8.5,
        unknown_tasks: 2,
        level: BudgetLevel::Warning,
    };
    snap.limits.budgets = vec![budget.clone()];
    app.on_snapshot(Arc::new(snap.clone()));
    assert!(std::mem::take(&mut app.bell));
    let header = text(&draw(&app))
        .lines()
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        header.contains("budget $8.50/$10.00 (+2 unknown)"),
        "{header}"
    );
    app.on_snapshot(Arc::new(snap.clone()));
    assert!(!app.bell, "rings once per level");
    budget.spent_usd = 10.5;
    budget.level = BudgetLevel::Exceeded;
    snap.limits.budgets = vec![budget];
    app.on_snapshot(Arc::new(snap));
    assert!(std::mem::take(&mut app.bell));
    let header = text(&draw(&app))
        .lines()
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        header.contains("BUDGET SPENT $10.50/$10.00: no new starts (+2 unknown)"),
        "{header}"
    );
}

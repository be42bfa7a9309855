//! The task detail (`D`, or Enter on a finished task): where the task lives,
//! then each attempt, newest first, with its profile, times and outcome,
//! its exit, the error that ended it, every check with its output, its
//! journal in words, and the end of its pane's log. Scrolled line by line.

use super::log::{event_line, wrap_words};
use super::workers::sanitize;
use crate::engine::detail::{AttemptDetail, TaskDetail};
use crate::engine::snapshot::{AttemptOutcome, TaskState, TaskView};
use crate::engine::words;
use crate::tui::app::App;
use crate::tui::overlay::DetailView;
use crate::tui::theme::{Theme, light_symbol};
use chrono::{DateTime, FixedOffset, Offset, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::{Margin, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Widget};

/// Where the detail is drawn: the screen less a margin.
pub fn frame(area: Rect) -> Rect {
    area.inner(Margin::new(2, 1))
}

/// The rows of text the detail shows at once on a screen of `area`.
pub fn page(area: Rect) -> usize {
    usize::from(frame(area).height.saturating_sub(2))
}

/// How many lines the detail has on the app's screen.
pub fn line_count(app: &App, view: &DetailView) -> usize {
    lines(app, view, text_width(app.size)).len()
}

fn text_width(area: Rect) -> usize {
    usize::from(frame(area).width.saturating_sub(2))
}

pub fn render(app: &App, view: &DetailView, area: Rect, buf: &mut Buffer) {
    let rect = frame(area);
    Clear.render(rect, buf);
    let theme = app.theme;
    let text = lines(app, view, text_width(area));
    let shown = page(area);
    let scroll = view.scroll.min(text.len().saturating_sub(shown));
    let position = if text.len() > shown {
        format!(
            " {}–{} of {} ",
            scroll + 1,
            (scroll + shown).min(text.len()),
            text.len()
        )
    } else {
        String::new()
    };
    let block = Block::bordered()
        .title(Span::styled(
            format!(" {} — detail ", view.task),
            theme.title(),
        ))
        .title_bottom(Line::from(position).left_aligned())
        .title_bottom(Line::from(" ↑↓ PgUp PgDn scroll · Esc closes ").right_aligned());
    let inner = block.inner(rect);
    block.render(rect, buf);
    for (i, line) in text.iter().skip(scroll).take(shown).enumerate() {
        buf.set_line(inner.x, inner.y + i as u16, line, inner.width);
    }
}

/// Every line of the detail at `width` columns.
pub fn lines(app: &App, view: &DetailView, width: usize) -> Vec<Line<'static>> {
    let theme = app.theme;
    let offset = FixedOffset::east_opt(app.utc_offset_secs).unwrap_or_else(|| Utc.fix());
    let task = app.snapshot.tasks.iter().find(|t| t.id == view.task);
    let mut out = Vec::new();
    if let Some(task) = task {
        header(task, theme, &mut out);
    }
    let Some(detail) = view.detail.as_deref() else {
        out.push(Line::styled(
            "reading the journal and the logs…",
            theme.dim(),
        ));
        return out;
    };
    place(detail, theme, &mut out);
    if !detail.notes.is_empty() {
        out.push(Line::raw(""));
        out.push(Line::styled("Before any attempt", theme.bold()));
        out.extend(
            detail
                .notes
                .iter()
                .map(|l| indent(event_line(l, offset, theme))),
        );
    }
    if detail.attempts.is_empty() {
        out.push(Line::raw(""));
        out.push(Line::styled("No attempt yet.", theme.dim()));
    }
    for attempt in detail.attempts.iter().rev() {
        out.push(Line::raw(""));
        attempt_lines(attempt, offset, theme, width, &mut out);
    }
    out
}

fn header(task: &TaskView, theme: Theme, out: &mut Vec<Line<'static>>) {
    out.push(Line::from(vec![
        Span::styled(task.id.clone(), theme.bold()),
        Span::raw("  "),
        Span::raw(sanitize(&task.title)),
    ]));
    out.push(Line::from(vec![
        field("state"),
        Span::styled(task.state.as_str(), theme.state(task.state)),
        Span::raw("  "),
        Span::styled(light_symbol(task.light), theme.light(task.light)),
        Span::raw(format!(" {}", task.light.as_str().to_lowercase())),
        Span::raw(format!(
            "   group {} · profile {} · {} · {}",
            task.group,
            task.profile,
            words::count(task.attempts.len(), "attempt"),
            words::count(task.restarts as usize, "restart")
        )),
    ]));
    // A host's worker: its worktree and branch are there until it ends.
    if let Some(host) = &task.host {
        let at_work = matches!(
            task.state,
            TaskState::Assigned | TaskState::Running | TaskState::Waiting
        );
        let note = if at_work {
            "  (its worktree is there; the branch is fetched back when the task ends)"
        } else {
            "  (its worktree is there; the branch here is the last one fetched back)"
        };
        out.push(Line::from(vec![
            field("host"),
            Span::styled(host.clone(), theme.bold()),
            Span::styled(note, theme.dim()),
        ]));
    }
}

fn place(detail: &TaskDetail, theme: Theme, out: &mut Vec<Line<'static>>) {
    if let Some(worktree) = &detail.worktree {
        out.push(Line::from(vec![
            field("worktree"),
            Span::raw(sanitize(worktree)),
        ]));
    }
    if let Some(branch) = &detail.branch {
        out.push(Line::from(vec![
            field("branch"),
            Span::raw(sanitize(branch)),
        ]));
    }
    if let Some(merged) = &detail.merged {
        out.push(Line::from(vec![
            field(""),
            Span::styled(sanitize(merged), theme.fg(Color::Green)),
        ]));
    }
}

fn attempt_lines(
    a: &AttemptDetail,
    offset: FixedOffset,
    theme: Theme,
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    let clock = |ms: u64| {
        DateTime::from_timestamp_millis(ms as i64)
            .map(|t| t.with_timezone(&offset).format("%H:%M:%S").to_string())
            .unwrap_or_else(|| "--:--:--".into())
    };
    let span = &a.span;
    let when = match span.ended_ms {
        Some(end) => format!(
            "{} → {} ({})",
            clock(span.started_ms),
            clock(end),
            words::duration(end.saturating_sub(span.started_ms))
        ),
        None => format!("{} →", clock(span.started_ms)),
    };
    out.push(Line::from(vec![
        Span::styled(format!("Attempt {}", span.attempt), theme.bold()),
        Span::raw(format!(" · {} · {when} · ", span.profile)),
        Span::styled(
            outcome_word(span.outcome),
            theme.outcome(span.outcome).add_modifier(Modifier::BOLD),
        ),
    ]));
    if let Some(exit) = &a.exit {
        out.push(indent(Line::from(vec![
            field("exit"),
            Span::raw(sanitize(exit)),
        ])));
    }
    if let Some(error) = &a.error {
        wrapped(out, "error", error, theme.fg(Color::Red), width);
    }
    for check in &a.checks {
        let (mark, style) = if check.ok {
            ("✓ passed", theme.fg(Color::Green))
        } else {
            (
                "✗ FAILED",
                theme.fg(Color::Red).add_modifier(Modifier::BOLD),
            )
        };
        out.push(indent(Line::from(vec![
            field("check"),
            Span::styled(mark, style),
            Span::raw(format!(" {}", sanitize(&check.check))),
        ])));
        for line in check.detail.lines() {
            wrapped(out, "", line, Style::new(), width);
        }
    }
    if !a.events.is_empty() {
        out.push(indent(Line::from(field("journal"))));
        out.extend(
            a.events
                .iter()
                .map(|l| indent(indent(event_line(l, offset, theme)))),
        );
    }
    match &a.log {
        Some(log) => {
            let cut = if log.capped { ", cut at its cap" } else { "" };
            out.push(indent(Line::from(vec![
                field("log"),
                Span::raw(format!("{} ({}{cut})", log.file, size(log.size))),
            ])));
            if log.lines.is_empty() {
                out.push(indent(indent(Line::styled("(empty)", theme.dim()))));
            }
            out.extend(log.lines.iter().map(|l| {
                indent(indent(Line::from(vec![
                    Span::styled("│ ", theme.dim()),
                    Span::raw(sanitize(l)),
                ])))
            }));
        }
        None => out.push(indent(Line::from(vec![
            field("log"),
            Span::styled("none kept", theme.dim()),
        ]))),
    }
}

/// `label` then `text`, wrapped under itself at `width`.
fn wrapped(out: &mut Vec<Line<'static>>, label: &str, text: &str, style: Style, width: usize) {
    let room = width.saturating_sub(2 + LABEL).max(20);
    for (i, row) in wrap_words(&sanitize(text), room).into_iter().enumerate() {
        let head = if i == 0 { field(label) } else { field("") };
        out.push(indent(Line::from(vec![head, Span::styled(row, style)])));
    }
}

/// The width of a field's label column.
const LABEL: usize = 10;

fn field(label: &str) -> Span<'static> {
    Span::raw(format!("{label:<LABEL$}"))
}

fn indent(line: Line<'static>) -> Line<'static> {
    let mut spans = vec![Span::raw("  ")];
    spans.extend(line.spans);
    Line::from(spans).style(line.style)
}

fn outcome_word(outcome: Option<AttemptOutcome>) -> &'static str {
    match outcome {
        None => "at work",
        Some(AttemptOutcome::Done) => "done",
        Some(AttemptOutcome::Failed) => "failed",
        Some(AttemptOutcome::Crashed) => "crashed",
        Some(AttemptOutcome::Halted) => "halted",
        Some(AttemptOutcome::Cancelled) => "cancelled",
        Some(AttemptOutcome::Conflict) => "conflict",
        Some(AttemptOutcome::MergeBlocked) => "merge blocked",
        Some(AttemptOutcome::Skipped) => "skipped",
    }
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} bytes"),
    }
}

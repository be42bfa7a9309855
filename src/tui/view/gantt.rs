//! The Timeline panel: a Gantt chart on a wall-clock axis, tasks grouped by
//! group, the planned bar dim behind the actual attempt bars, and a now-line.

use crate::engine::snapshot::{AttemptOutcome, Light, PauseKind, Snapshot, TaskView};
use crate::tui::app::App;
use crate::tui::theme::{Theme, outcome_symbol};
use crate::tui::timeline::{TimeAxis, planned_spans, ticks};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Widget};

/// "GROUP_A T16 │": the label column before the chart.
const GROUP_WIDTH: u16 = 7;
const ID_WIDTH: u16 = 4;
const LABEL_WIDTH: u16 = GROUP_WIDTH + 1 + ID_WIDTH + 1 + 1;
const PLANNED: &str = "░";

/// The attempt outcomes the title's legend names.
const LEGEND: [(Option<AttemptOutcome>, &str); 6] = [
    (None, "running"),
    (Some(AttemptOutcome::Done), "done"),
    (Some(AttemptOutcome::Failed), "failed"),
    (Some(AttemptOutcome::Halted), "halted"),
    (Some(AttemptOutcome::Conflict), "conflict"),
    (Some(AttemptOutcome::Cancelled), "cancelled"),
];

/// How an attempt's time that was not work is drawn over its bar.
fn pause_look(kind: PauseKind) -> (&'static str, Light, &'static str) {
    match kind {
        PauseKind::Waiting => ("?", Light::Waiting, "waiting"),
        PauseKind::Stalled => ("◌", Light::Stalled, "stalled"),
    }
}

/// Columns of chart inside a Timeline panel of `area`.
pub fn chart_width(area: Rect) -> u16 {
    area.width.saturating_sub(2 + LABEL_WIDTH)
}

/// Task indices in display order: by group (plan's group order), then plan order.
pub fn grouped(snapshot: &Snapshot) -> Vec<usize> {
    let mut order: Vec<usize> = Vec::with_capacity(snapshot.tasks.len());
    for group in &snapshot.groups {
        order.extend((0..snapshot.tasks.len()).filter(|&i| snapshot.tasks[i].group == group.id));
    }
    let known = |t: &TaskView| snapshot.groups.iter().any(|g| g.id == t.group);
    order.extend((0..snapshot.tasks.len()).filter(|&i| !known(&snapshot.tasks[i])));
    order
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let snap = &app.snapshot;
    let axis = app.timeline.axis(snap, app.clock_ms(), chart_width(area));
    let mode = if app.timeline.follow {
        "follow"
    } else {
        "manual"
    };
    let title = vec![
        Span::styled(" Timeline ", theme.title()),
        Span::raw(format!("{}/col · {mode} · ", scale(axis.ms_per_col))),
    ];
    // The legend: outcomes on the top border, the rest (and the planned
    // bars' scale) on the bottom one; each part only when it fits whole.
    let mut top = Vec::new();
    for (outcome, word) in LEGEND {
        let symbol = outcome_symbol(outcome);
        top.push((symbol, theme.outcome(outcome), word.to_string()));
    }
    let hour = app.timeline.ms_per_effort_hour as u64;
    let mut bottom = vec![(
        PLANNED,
        theme.dim(),
        format!(
            "planned: 1h effort = {}",
            scale(hour.max(1)).replace('s', " s")
        ),
    )];
    for kind in [PauseKind::Waiting, PauseKind::Stalled] {
        let (symbol, light, word) = pause_look(kind);
        bottom.push((symbol, theme.light(light), word.to_string()));
    }
    let room = usize::from(area.width.saturating_sub(4));
    let legend = |mut line: Vec<Span<'static>>, items: Vec<(&'static str, Style, String)>| {
        for (symbol, style, word) in items {
            let used: usize = line.iter().map(Span::width).sum();
            if used + word.chars().count() + 3 > room {
                break;
            }
            line.push(Span::styled(symbol, style));
            line.push(Span::raw(format!(" {word} ")));
        }
        Line::from(line)
    };
    let title = legend(title, top);
    let bottom = legend(vec![Span::raw(" ")], bottom);
    let block = Block::bordered().title(title).title_bottom(bottom);
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.height < 2 || inner.width <= LABEL_WIDTH {
        return;
    }
    let chart_x = inner.x + LABEL_WIDTH;
    let now_col = axis.column(app.now_ms);

    // Axis: tick labels, spaced so they never touch.
    for (col, label) in ticks(&axis, snap.started_ms, 8) {
        // The mark, then the label: both inside the chart, off the border.
        if col + 1 + label.len() as u16 <= axis.width {
            buf.set_string(chart_x + col, inner.y, "╵", theme.dim());
            buf.set_string(chart_x + col + 1, inner.y, label, theme.dim());
        }
    }

    let order = grouped(snap);
    let visible = usize::from(inner.height - 1);
    let selected = app.selected.as_deref();
    let selected_at = order
        .iter()
        .position(|&i| Some(snap.tasks[i].id.as_str()) == selected);
    let running: Vec<usize> = (0..order.len())
        .filter(|&r| snap.tasks[order[r]].state.is_active())
        .collect();
    let first = first_row(visible, selected_at, &running);
    let planned = planned_spans(snap, app.now_ms, app.timeline.ms_per_effort_hour);

    for (line, &i) in order.iter().enumerate().skip(first).take(visible) {
        let y = inner.y + 1 + (line - first) as u16;
        let task = &snap.tasks[i];
        let new_group = line == first || snap.tasks[order[line - 1]].group != task.group;
        if new_group {
            buf.set_stringn(
                inner.x,
                y,
                &task.group,
                usize::from(GROUP_WIDTH),
                theme.dim(),
            );
        }
        let id_style = if Some(task.id.as_str()) == selected {
            theme.selected()
        } else if task.state.needs_attention() {
            theme.fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            theme.bold()
        };
        buf.set_stringn(
            inner.x + GROUP_WIDTH + 1,
            y,
            &task.id,
            usize::from(ID_WIDTH),
            id_style,
        );
        buf.set_string(chart_x - 1, y, "│", theme.dim());

        let (start, end) = planned[i];
        fill(buf, &axis, chart_x, y, (start, end), PLANNED, theme.dim());
        if let Some(col) = now_col {
            buf.set_string(chart_x + col, y, "┃", now_style(theme));
        }
        for span in &task.attempts {
            let end = span.ended_ms.unwrap_or(app.now_ms).max(span.started_ms + 1);
            let style = theme.outcome(span.outcome);
            fill(
                buf,
                &axis,
                chart_x,
                y,
                (span.started_ms, end),
                outcome_symbol(span.outcome),
                style,
            );
            for pause in &span.pauses {
                let (symbol, light, _) = pause_look(pause.kind);
                let until = pause.to_ms.unwrap_or(end).max(pause.from_ms + 1);
                let style = theme.light(light);
                fill(
                    buf,
                    &axis,
                    chart_x,
                    y,
                    (pause.from_ms, until),
                    symbol,
                    style,
                );
            }
        }
    }
    // The now marker on the axis row, unless a tick label is there.
    if let Some(col) = now_col
        && buf[(chart_x + col, inner.y)].symbol() == " "
    {
        buf.set_string(chart_x + col, inner.y, "▼", now_style(theme));
    }
}

/// The first row shown when only `visible` rows fit: the selected row in
/// view, and as many running rows with it as fit (the first of them at the
/// top when all fit).
fn first_row(visible: usize, selected: Option<usize>, running: &[usize]) -> usize {
    let visible = visible.max(1);
    let shows = |first: usize, row: usize| row >= first && row < first + visible;
    let mut first = running.first().copied().unwrap_or(0);
    if let Some(last) = running.last() {
        // All running rows fit: show as much before them as the space allows.
        if last - first < visible {
            first = (last + 1).saturating_sub(visible).min(first);
        }
    }
    if let Some(s) = selected
        && !shows(first, s)
    {
        first = if s < first { s } else { s + 1 - visible };
    }
    first
}

fn now_style(theme: Theme) -> ratatui::style::Style {
    theme.fg(Color::Yellow).add_modifier(Modifier::BOLD)
}

fn fill(
    buf: &mut Buffer,
    axis: &TimeAxis,
    x: u16,
    y: u16,
    (start, end): (u64, u64),
    symbol: &str,
    style: ratatui::style::Style,
) {
    if let Some((a, b)) = axis.span(start, end) {
        for col in a..=b {
            buf.set_string(x + col, y, symbol, style);
        }
    }
}

/// `250ms`, `1s`, `5m`, `1h`: the width of one column.
fn scale(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{}s", ms / 1_000),
        60_000..3_600_000 => format!("{}m", ms / 60_000),
        _ => format!("{}h", ms / 3_600_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixture;

    #[test]
    fn groups_keep_plan_group_order() {
        let snap = fixture::mid_run();
        let order: Vec<&str> = grouped(&snap)
            .iter()
            .map(|&i| snap.tasks[i].id.as_str())
            .collect();
        assert_eq!(&order[..5], ["T1", "T2", "T3", "T16", "T4"]);
        assert_eq!(order.len(), 22);
    }

    #[test]
    fn bars_and_now_line_land_on_their_columns() {
        let app = crate::tui::screens::app_of(fixture::mid_run(), 160, 48);
        let area = app.areas().timeline.expect("timeline");
        let mut buf = Buffer::empty(app.size);
        render(&app, area, &mut buf);
        let axis = app.timeline_axis().expect("axis");
        let chart_x = area.x + 1 + LABEL_WIDTH;
        let row_of = |id: &str| {
            let at = grouped(&app.snapshot)
                .iter()
                .position(|&i| app.snapshot.tasks[i].id == id);
            area.y + 2 + at.expect("task") as u16
        };
        let now = chart_x + axis.column(fixture::NOW).expect("now on screen");
        // T9 has not started: the now-line crosses its row.
        assert_eq!(buf[(now, row_of("T9"))].symbol(), "┃");
        // T1 ran from T0 to 38 s: done bars up to its end, nothing after.
        let t1 = row_of("T1");
        let end = chart_x + axis.column(fixture::T0 + 37_999).expect("T1 end");
        assert_eq!(buf[(chart_x, t1)].symbol(), "█");
        assert_eq!(buf[(end, t1)].symbol(), "█");
        assert_ne!(buf[(end + 1, t1)].symbol(), "█");
        // T8's conflict attempt is drawn with its own fill.
        assert_eq!(
            buf[(
                chart_x + axis.column(fixture::T0 + 40_000).expect("T8"),
                row_of("T8")
            )]
                .symbol(),
            "#"
        );
    }

    #[test]
    fn running_and_selected_rows_stay_in_view() {
        // Running rows 30..33 of many, 10 rows visible: they show.
        let running = [30, 31, 32];
        let first = first_row(10, None, &running);
        assert!(first <= 30 && first + 10 > 32, "{first}");
        // The selection far above wins, and stays on screen.
        assert_eq!(first_row(10, Some(2), &running), 2);
        // Selected below: at the bottom edge.
        assert_eq!(first_row(10, Some(50), &running), 41);
        // Nothing running, nothing selected: the top.
        assert_eq!(first_row(10, None, &[]), 0);
    }

    #[test]
    fn scale_reads_as_units() {
        assert_eq!(scale(250), "250ms");
        assert_eq!(scale(2_000), "2s");
        assert_eq!(scale(300_000), "5m");
    }
}

//! The Workers table: one row per task, only the rows on screen are built,
//! attention rows marked with `!` and bold colour, the selection reversed;
//! a Host column when the plan has hosts.

use crate::engine::snapshot::TaskView;
use crate::hosts::LOCAL;
use crate::tui::app::App;
use crate::tui::layout::WIDE_TABLE;
use crate::tui::rows::{format_duration, task_elapsed_ms};
use crate::tui::theme::light_symbol;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table, Widget};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let wide = area.width >= WIDE_TABLE;
    let id_width = app
        .snapshot
        .tasks
        .iter()
        .map(|t| t.id.len())
        .max()
        .unwrap_or(2)
        .max(2) as u16;
    let height = usize::from(area.height.saturating_sub(3));
    let offset = app.offset.min(app.rows.len().saturating_sub(height));
    let end = (offset + height).min(app.rows.len());

    let mut title = vec![
        Span::styled(" Workers ", theme.title()),
        Span::raw(format!(
            "{} · sort: {}{} ",
            app.rows.len(),
            app.sort.label(),
            if app.finished_last {
                ", finished last"
            } else {
                ""
            }
        )),
    ];
    if !app.filter.is_empty() || app.filter_editing {
        title.push(Span::styled(
            format!("· filter: {} ", app.filter),
            theme.bold(),
        ));
    }
    let mut block = Block::bordered().title(Line::from(title));
    if app.rows.len() > height {
        block = block.title_bottom(
            Line::from(format!(" {}–{} of {} ", offset + 1, end, app.rows.len())).right_aligned(),
        );
    }

    // Usage, once any agent reported some: then "not reported" means
    // something (unknown, never free).
    let usage = wide && app.snapshot.usage_total().reported > 0;
    let mut header: Vec<&str> = if wide {
        vec![
            "!",
            "ID",
            "Title",
            "Group",
            "Profile",
            "State",
            "HB",
            "Att",
            "Elapsed",
            "Last output",
        ]
    } else {
        vec![
            "!",
            "ID",
            "Title",
            "State",
            "HB",
            "Att",
            "Elapsed",
            "Last output",
        ]
    };
    let mut widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Length(1),
            Constraint::Length(id_width),
            Constraint::Length(32),
            Constraint::Length(7),
            Constraint::Length(20),
            Constraint::Length(10),
            Constraint::Length(2),
            Constraint::Length(3),
            Constraint::Length(7),
            Constraint::Fill(1),
        ]
    } else {
        vec![
            Constraint::Length(1),
            Constraint::Length(id_width),
            Constraint::Length(18),
            Constraint::Length(10),
            Constraint::Length(2),
            Constraint::Length(3),
            Constraint::Length(7),
            Constraint::Fill(1),
        ]
    };

    if usage {
        let at = header.len() - 1;
        header.insert(at, "Usage");
        widths.insert(at, Constraint::Length(19));
    }
    // Where each worker runs, when the plan has hosts: before State.
    let hosts = host_width(app, wide);
    if let Some(width) = hosts {
        let at = header.iter().position(|h| *h == "State").unwrap_or(0);
        header.insert(at, "Host");
        widths.insert(at, Constraint::Length(width));
    }

    let selected = app.selected_row();
    let rows = (offset..end).map(|r| {
        let task = &app.snapshot.tasks[app.rows[r]];
        let row = Row::new(cells(app, task, wide, usage, hosts.is_some()));
        match (Some(r) == selected, task.state.needs_attention()) {
            (true, _) => row.style(theme.selected()),
            (false, true) => row.style(theme.bold()),
            (false, false) => row,
        }
    });
    Table::new(rows, widths)
        .header(Row::new(header).style(theme.bold().add_modifier(Modifier::UNDERLINED)))
        .column_spacing(1)
        .block(block)
        .render(area, buf);
}

fn cells<'a>(app: &App, task: &'a TaskView, wide: bool, usage: bool, hosts: bool) -> Vec<Cell<'a>> {
    let theme = app.theme;
    let attention = task.state.needs_attention();
    let mark = if attention {
        Cell::from(Span::styled(
            "!",
            theme.fg(Color::Red).add_modifier(Modifier::BOLD),
        ))
    } else {
        Cell::from("")
    };
    let id_style = if attention {
        theme.fg(Color::Red)
    } else {
        Style::new()
    };
    // A halt is not an attempt: work cut off by a halt and carried on after
    // the resume counts once.
    let halted = |a: &&crate::engine::snapshot::AttemptSpan| {
        a.outcome == Some(crate::engine::snapshot::AttemptOutcome::Halted)
    };
    let earlier = task.attempts.len().saturating_sub(1);
    let resumed = task.attempts[..earlier].iter().filter(halted).count();
    let runs = task.attempts.len() - resumed;
    let attempt = if task.attempt == 0 {
        "-".to_string()
    } else {
        format!("{}/{}", runs.max(1), task.restarts)
    };
    let elapsed = task_elapsed_ms(task, app.now_ms)
        .map(format_duration)
        .unwrap_or_default();
    // What a task needing a person says, unless its agent's state (which
    // holds a question's words) is shown already.
    let last = task
        .message
        .as_deref()
        .filter(|_| attention && task.agent_state.is_none())
        .unwrap_or(&task.last_line);
    let mut cells = vec![
        mark,
        Cell::from(Span::styled(task.id.as_str(), id_style)),
        Cell::from(task.title.as_str()),
    ];
    if wide {
        cells.push(Cell::from(Span::styled(task.group.as_str(), theme.dim())));
        cells.push(Cell::from(task.profile.as_str()));
    }
    if hosts {
        cells.push(host_cell(app, task));
    }
    cells.extend([
        Cell::from(Span::styled(task.state.as_str(), theme.state(task.state))),
        Cell::from(Span::styled(
            light_symbol(task.light),
            theme.light(task.light),
        )),
        Cell::from(attempt),
        Cell::from(elapsed),
    ]);
    if usage {
        let usage = match (task.usage, task.attempt) {
            (Some(u), _) => Span::raw(u.short()),
            (None, 0) => Span::raw(""),
            (None, _) => Span::styled("not reported", theme.dim()),
        };
        cells.push(Cell::from(usage));
    }
    cells.extend([
        // An interactive agent's own state (profile `screen` rules) first.
        Cell::from(Line::from(
            task.agent_state
                .as_deref()
                .map(|a| Span::styled(format!("[{a}] "), theme.bold()))
                .into_iter()
                .chain([Span::styled(sanitize(last), theme.dim())])
                .collect::<Vec<_>>(),
        )),
    ]);
    cells
}

/// The Host column's width, when the plan has hosts: its longest name, cut
/// short on a narrow screen.
fn host_width(app: &App, wide: bool) -> Option<u16> {
    let hosts = &app.snapshot.hosts;
    if hosts.is_empty() {
        return None;
    }
    let longest = hosts
        .iter()
        .map(|h| h.name.chars().count())
        .chain([LOCAL.len()])
        .max()
        .unwrap_or(LOCAL.len());
    let most = if wide { 12 } else { 8 };
    Some(longest.clamp(4, most) as u16)
}

/// Where the task's worker runs, or ran last: `local` or the host's name,
/// red while its host does not answer; empty before it ever ran.
fn host_cell<'a>(app: &App, task: &'a TaskView) -> Cell<'a> {
    let theme = app.theme;
    if task.attempt == 0 {
        return Cell::from("");
    }
    let Some(name) = task.host.as_deref() else {
        return Cell::from(Span::styled(LOCAL, theme.dim()));
    };
    let away = app
        .snapshot
        .hosts
        .iter()
        .any(|h| h.name == name && !h.reachable);
    if away {
        Cell::from(Span::styled(name, theme.fg(Color::Red)))
    } else {
        Cell::from(name)
    }
}

/// Pane text may hold tabs and control bytes; they would break the layout.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

//! The Heartbeats panel: a compact grid with one light per task, in plan
//! order, and a legend naming every light (readable without colour).

use crate::tui::app::App;
use crate::tui::layout::{heartbeat_cell_width, legend_positions};
use crate::tui::theme::{LIGHTS, light_symbol};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Widget};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let tasks = &app.snapshot.tasks;
    let live = tasks.iter().filter(|t| t.state.is_active()).count();
    let block = Block::bordered().title(Line::from(vec![
        Span::styled(" Heartbeats ", theme.title()),
        Span::raw(format!("{live} live ")),
    ]));
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.is_empty() {
        return;
    }

    let id_width = tasks.iter().map(|t| t.id.len()).max().unwrap_or(2);
    let cell = heartbeat_cell_width(id_width);
    let per_row = usize::from((inner.width / cell).max(1));
    // The legend gives way to the lights: shown only when every light fits
    // beside it.
    let mut legend = legend_positions(inner.width);
    let legend_lines = legend.last().map_or(0, |(line, _)| line + 1);
    let light_lines = tasks.len().div_ceil(per_row);
    if light_lines + usize::from(legend_lines) > usize::from(inner.height) {
        legend.clear();
    }
    let legend_lines = legend.last().map_or(0, |(line, _)| line + 1);
    let grid_height = inner.height.saturating_sub(legend_lines);
    let selected = app.selected.as_deref();

    // More tasks than cells: keep the selected task's line of the grid in view.
    let capacity_rows = usize::from(grid_height);
    let selected_line = selected
        .and_then(|id| tasks.iter().position(|t| t.id == id))
        .map_or(0, |i| i / per_row);
    let first_line = (selected_line + 1).saturating_sub(capacity_rows);

    for (i, task) in tasks.iter().enumerate().skip(first_line * per_row) {
        let line = i / per_row - first_line;
        if line >= capacity_rows {
            break;
        }
        let x = inner.x + (i % per_row) as u16 * cell;
        let y = inner.y + line as u16;
        let id_style = if Some(task.id.as_str()) == selected {
            theme.selected()
        } else {
            theme.light(task.light)
        };
        buf.set_string(x, y, light_symbol(task.light), theme.light(task.light));
        buf.set_stringn(x + 2, y, &task.id, id_width, id_style);
    }

    let legend_y = inner.y + grid_height;
    for (light, (line, col)) in LIGHTS.iter().zip(legend) {
        let y = legend_y + line;
        if y >= inner.bottom() {
            break;
        }
        let x = inner.x + col;
        let style = theme.light(*light);
        buf.set_string(x, y, light_symbol(*light), style);
        let word = light.as_str().to_lowercase();
        buf.set_stringn(
            x + 2,
            y,
            word,
            usize::from(inner.right().saturating_sub(x + 2)),
            theme.dim(),
        );
    }
}

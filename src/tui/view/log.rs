//! The Log panel: the engine's events in words (newest at the bottom), or,
//! after `Tab`, the selected worker's pane tail as last fetched.

use super::workers::sanitize;
use crate::engine::view::{LogLevel, LogLine};
use crate::tui::app::{App, LogView};
use crate::tui::logbuf::LogEntry;
use crate::tui::theme::Theme;
use chrono::{DateTime, FixedOffset, Offset, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Widget};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let (title, lines): (String, Vec<Line>) = match &app.log_view {
        LogView::Events => events(app, area),
        LogView::Pane { task, lines } => (format!(" Log — {task} pane "), pane(lines, area, theme)),
    };
    let mut block = Block::bordered().title(Span::styled(title, theme.title()));
    if app.log_scroll > 0 && app.log_view == LogView::Events {
        block =
            block.title_bottom(Line::from(format!(" ↑ {} back ", app.log_scroll)).right_aligned());
    }
    let inner = block.inner(area);
    block.render(area, buf);
    for (i, line) in lines.iter().enumerate().take(usize::from(inner.height)) {
        buf.set_line(inner.x, inner.y + i as u16, line, inner.width);
    }
}

fn events(app: &App, area: Rect) -> (String, Vec<Line<'static>>) {
    let height = usize::from(area.height.saturating_sub(2));
    let offset = FixedOffset::east_opt(app.utc_offset_secs).unwrap_or_else(|| Utc.fix());
    let lines = app
        .log
        .window(height, app.log_scroll)
        .map(|entry| match entry {
            LogEntry::Line(line) => event_line(line, offset, app.theme),
            LogEntry::Skipped(n) => Line::styled(format!("… {n} lines skipped"), app.theme.dim()),
        })
        .collect();
    (" Log ".to_string(), lines)
}

fn event_line(line: &LogLine, offset: FixedOffset, theme: Theme) -> Line<'static> {
    let time = DateTime::from_timestamp_millis(line.ts_ms as i64)
        .map(|t| t.with_timezone(&offset).format("%H:%M:%S").to_string())
        .unwrap_or_else(|| "--:--:--".into());
    let (level, style) = match line.level {
        LogLevel::Info => ("info ", theme.fg(Color::Gray)),
        LogLevel::Warn => ("warn ", theme.fg(Color::Yellow)),
        LogLevel::Error => (
            "error",
            theme
                .fg(Color::Red)
                .add_modifier(ratatui::style::Modifier::BOLD),
        ),
    };
    let text_style = if line.level == LogLevel::Info {
        Style::new()
    } else {
        style
    };
    Line::from(vec![
        Span::styled(time, theme.dim()),
        Span::raw(" "),
        Span::styled(level, style),
        Span::raw(" "),
        Span::styled(sanitize(&line.text), text_style),
    ])
}

/// The last lines of the pane that fit, trailing blank lines dropped (tmux
/// pads a capture with the empty rest of the screen).
fn pane(lines: &[String], area: Rect, theme: Theme) -> Vec<Line<'static>> {
    let height = usize::from(area.height.saturating_sub(2));
    let used = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |p| p + 1);
    if used == 0 {
        return vec![Line::styled("(waiting for the pane…)", theme.dim())];
    }
    lines[used.saturating_sub(height)..used]
        .iter()
        .map(|l| Line::raw(sanitize(l)))
        .collect()
}

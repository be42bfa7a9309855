//! The Log panel: the engine's events in words (newest at the bottom), or,
//! after `Tab`, the selected worker's pane tail as last fetched.

use super::workers::sanitize;
use crate::engine::snapshot::{LogLevel, LogLine};
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
        LogView::Pane {
            task,
            lines,
            log: None,
        } => (format!(" Log — {task} pane "), pane(lines, area, theme)),
        LogView::Pane {
            task,
            lines,
            log: Some(file),
        } => {
            let name = file.rsplit('/').next().unwrap_or(file);
            (
                format!(" Log — {task}: pane gone, {name} "),
                pane(lines, area, theme),
            )
        }
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

/// The newest events that fit, newest at the bottom; a long one wraps under
/// its own text rather than being cut off.
fn events(app: &App, area: Rect) -> (String, Vec<Line<'static>>) {
    let height = usize::from(area.height.saturating_sub(2));
    let width = usize::from(area.width.saturating_sub(2));
    let offset = FixedOffset::east_opt(app.utc_offset_secs).unwrap_or_else(|| Utc.fix());
    let mut rows: Vec<Line<'static>> = app
        .log
        .window(height, app.log_scroll)
        .flat_map(|entry| match entry {
            LogEntry::Line(line) => event_lines(line, offset, app.theme, width),
            LogEntry::Skipped(n) => {
                vec![Line::styled(
                    format!("… {n} lines skipped"),
                    app.theme.dim(),
                )]
            }
        })
        .collect();
    let excess = rows.len().saturating_sub(height);
    rows.drain(..excess);
    (" Log ".to_string(), rows)
}

/// The width of `HH:MM:SS level ` before an event's text.
const EVENT_PREFIX: usize = 15;
/// Rows one event may take when wrapped.
const MAX_EVENT_ROWS: usize = 3;

/// One event as rows of `width`: the first with its time and level, the
/// rest indented under the text.
fn event_lines(
    line: &LogLine,
    offset: FixedOffset,
    theme: Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let first = event_line(line, offset, theme);
    let room = width.saturating_sub(EVENT_PREFIX);
    let text = sanitize(&line.text);
    if room < 10 || text.chars().count() <= room {
        return vec![first];
    }
    let style = first.spans.last().map(|s| s.style).unwrap_or_default();
    let mut chunks = wrap_words(&text, room);
    // A long event may not push every other one off a small panel.
    if chunks.len() > MAX_EVENT_ROWS {
        chunks.truncate(MAX_EVENT_ROWS);
        if let Some(last) = chunks.last_mut() {
            if last.chars().count() >= room {
                last.pop();
            }
            last.push('…');
        }
    }
    let mut rows = Vec::new();
    for (i, chunk) in chunks.into_iter().enumerate() {
        if i == 0 {
            let mut spans = first.spans[..first.spans.len() - 1].to_vec();
            spans.push(Span::styled(chunk, style));
            rows.push(Line::from(spans));
        } else {
            rows.push(Line::from(vec![
                Span::raw(" ".repeat(EVENT_PREFIX)),
                Span::styled(chunk, style),
            ]));
        }
    }
    rows
}

/// `text` in rows of at most `room` characters, broken between words where
/// it can be, inside a word only when the word alone is too long.
pub(super) fn wrap_words(text: &str, room: usize) -> Vec<String> {
    let mut rows = Vec::new();
    let mut row = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        let used = row.chars().count();
        if used > 0 && used + 1 + word.len() <= room {
            row.push(' ');
            row.extend(word);
            continue;
        }
        if used > 0 {
            rows.push(std::mem::take(&mut row));
        }
        while word.len() > room {
            rows.push(word.drain(..room).collect());
        }
        row.extend(word);
    }
    rows.push(row);
    rows
}

pub(super) fn event_line(line: &LogLine, offset: FixedOffset, theme: Theme) -> Line<'static> {
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

#[cfg(test)]
mod tests {
    use super::wrap_words;

    #[test]
    fn words_wrap_whole_and_long_ones_split() {
        assert_eq!(
            wrap_words("merge conflict in src/api/mod.rs", 20),
            ["merge conflict in", "src/api/mod.rs"]
        );
        assert_eq!(wrap_words("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap_words("short", 20), ["short"]);
        assert_eq!(wrap_words("a  b", 20), ["a  b"]);
    }
}

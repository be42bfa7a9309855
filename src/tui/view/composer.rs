//! The composer on the bottom line: `T16 › text`, the cursor a reversed
//! cell; above it, when the task is waiting, the question it asks.

use crate::engine::snapshot::TaskState;
use crate::tui::app::App;
use crate::tui::composer::{Composer, Purpose, question_text};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

/// Lines of a long question shown at most.
const QUESTION_LINES: usize = 6;

pub fn render(app: &App, composer: &Composer, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let input = Rect {
        y: area.bottom().saturating_sub(1),
        height: 1,
        ..area
    };
    Clear.render(input, buf);
    let label = match composer.purpose {
        Purpose::Type => composer.task.clone(),
        Purpose::MarkDone => format!("mark {} done, because", composer.task),
    };
    let prompt = Span::styled(
        format!(" {label} › "),
        theme.fg(Color::Cyan).add_modifier(Modifier::BOLD),
    );
    let hints = Span::styled(" Enter sends · Esc cancels ", theme.dim());
    let width = usize::from(input.width);
    let show_hints = prompt.width() + 20 + hints.width() <= width;
    let room = width
        .saturating_sub(prompt.width())
        .saturating_sub(if show_hints { hints.width() } else { 0 })
        .max(1);
    let mut spans = vec![prompt];
    spans.extend(edited(composer, room, theme));
    Line::from(spans).render(input, buf);
    if show_hints {
        let x = input.right() - hints.width() as u16;
        buf.set_span(x, input.y, &hints, hints.width() as u16);
    }

    let Some(task) = app.snapshot.tasks.iter().find(|t| t.id == composer.task) else {
        return;
    };
    if task.state != TaskState::Waiting {
        return;
    }
    let text = question_text(task.message.as_deref());
    let inner_width = usize::from(area.width.saturating_sub(4)).max(1);
    let mut lines = wrap(&text, inner_width);
    lines.truncate(QUESTION_LINES);
    let height = (lines.len() as u16 + 2).min(input.y.saturating_sub(area.y));
    let rect = Rect {
        y: input.y.saturating_sub(height),
        height,
        ..area
    };
    Clear.render(rect, buf);
    let block = Block::bordered()
        .border_style(theme.fg(Color::Yellow))
        .title(Span::styled(format!(" {} asks ", task.id), theme.bold()));
    let text: Vec<Line> = lines
        .into_iter()
        .map(|l| Line::styled(format!(" {l}"), theme.bold()))
        .collect();
    Paragraph::new(text).block(block).render(rect, buf);
}

/// The part of the line that fits in `room` columns around the cursor,
/// the cursor's cell reversed (a space past the end).
fn edited(composer: &Composer, room: usize, theme: crate::tui::theme::Theme) -> Vec<Span<'static>> {
    let chars = composer.line.chars();
    let cursor = composer.line.cursor();
    let width = |c: &char| Span::raw(c.to_string()).width();
    // Scroll so the text before the cursor and the cursor's cell fit.
    let mut start = 0;
    let mut before: usize = chars[..cursor].iter().map(width).sum();
    while start < cursor && before + 1 > room {
        before -= width(&chars[start]);
        start += 1;
    }
    let mut used = before;
    let mut spans = vec![Span::raw(chars[start..cursor].iter().collect::<String>())];
    let under = chars.get(cursor).map_or(" ".to_string(), char::to_string);
    used += Span::raw(under.clone()).width();
    spans.push(Span::styled(under, theme.selected()));
    let mut after = String::new();
    for c in chars.iter().skip(cursor + 1) {
        used += width(c);
        if used > room {
            break;
        }
        after.push(*c);
    }
    spans.push(Span::raw(after));
    spans
}

/// Greedy word wrap to `width` columns; a word longer than a line is split.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for word in text.split_whitespace() {
        let word_width = Span::raw(word).width();
        if used > 0 && used + 1 + word_width > width {
            lines.push(std::mem::take(&mut line));
            used = 0;
        }
        if used > 0 {
            line.push(' ');
            used += 1;
        }
        for c in word.chars() {
            let w = Span::raw(c.to_string()).width();
            if used + w > width && used > 0 {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            line.push(c);
            used += w;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_words_and_splits_long_ones() {
        assert_eq!(
            wrap("use postgres or sqlite?", 12),
            ["use postgres", "or sqlite?"]
        );
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap("", 5), [""]);
    }
}

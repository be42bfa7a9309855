//! The diff view: a task's changed files with their counts, then the patch,
//! coloured as git colours it (added green, removed red, hunks cyan, file
//! headers bold), over the panels between the header and the footer.

use crate::tui::app::App;
use crate::tui::review::{DiffContent, DiffView, DocLine, Document, LineKind};
use crate::tui::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

/// The view's box: the whole screen but the header (2 rows) and the footer.
fn frame(area: Rect) -> Rect {
    Rect {
        y: area.y.saturating_add(2),
        height: area.height.saturating_sub(3),
        ..area
    }
}

/// Where the document's lines go, for a screen of `area`.
pub fn inner(area: Rect) -> Rect {
    Block::bordered().inner(frame(area))
}

pub fn render(app: &App, view: &DiffView, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let rect = frame(area);
    Clear.render(rect, buf);
    let doc = view.document();
    let mut title = vec![
        Span::styled(format!(" Diff {} ", view.task), theme.title()),
        Span::raw(format!("{} ", view.branch)),
        Span::styled("against ", theme.dim()),
        Span::raw(format!("{} ", view.integration)),
    ];
    if doc.is_some_and(|d| d.merged) {
        title.push(Span::styled("(before its merge) ", theme.dim()));
    }
    if let (Some(host), Some(_)) = (&view.host, doc) {
        title.push(Span::styled(format!("(fetched from {host}) "), theme.dim()));
    }
    let mut block = Block::bordered().title(Line::from(title));
    if let Some(doc) = doc {
        block = block
            .title(Line::from(totals(doc, theme)).right_aligned())
            .title_bottom(
                Line::from(format!(
                    " {}/{}{} ",
                    view.cursor + 1,
                    doc.lines.len(),
                    if doc.cut { " · cut" } else { "" }
                ))
                .right_aligned(),
            );
    }
    let inner = block.inner(rect);
    block.render(rect, buf);
    match &view.content {
        DiffContent::Loading => {
            Paragraph::new(Line::styled(
                format!("loading the changes of {}…", view.task),
                theme.dim(),
            ))
            .render(inner, buf);
        }
        DiffContent::Failed(message) => {
            Paragraph::new(Line::styled(
                format!("cannot read the changes of {}: {message}", view.task),
                theme.fg(Color::Red),
            ))
            .wrap(Wrap { trim: false })
            .render(inner, buf);
        }
        DiffContent::Away(words) => {
            Paragraph::new(Line::styled(words.clone(), theme.bold()))
                .wrap(Wrap { trim: false })
                .render(inner, buf);
        }
        DiffContent::Ready(doc) => {
            let rows = usize::from(inner.height);
            for (row, i) in (view.offset..doc.lines.len()).take(rows).enumerate() {
                let y = inner.y + row as u16;
                let line = styled(doc, &doc.lines[i], theme);
                buf.set_line(inner.x, y, &line, inner.width);
                if i == view.cursor {
                    buf.set_style(
                        Rect {
                            y,
                            height: 1,
                            ..inner
                        },
                        theme.selected(),
                    );
                }
            }
        }
    }
}

/// ` 2 files  +3 −1 `.
fn totals(doc: &Document, theme: Theme) -> Vec<Span<'static>> {
    vec![
        Span::raw(format!(
            " {} ",
            crate::engine::words::count(doc.files.len(), "file")
        )),
        Span::styled(format!("+{}", doc.added), theme.fg(Color::Green)),
        Span::raw(" "),
        Span::styled(format!("-{} ", doc.removed), theme.fg(Color::Red)),
    ]
}

fn styled<'a>(doc: &Document, line: &'a DocLine, theme: Theme) -> Line<'a> {
    let text = line.text.as_str();
    match line.kind {
        LineKind::FileEntry => {
            let stat = line.file.and_then(|f| doc.files.get(f));
            let counts = match stat.map(|s| (s.added, s.removed)) {
                Some((Some(a), Some(r))) => vec![
                    Span::styled(format!(" {:>7}", format!("+{a}")), theme.fg(Color::Green)),
                    Span::styled(format!(" {:>7}", format!("-{r}")), theme.fg(Color::Red)),
                ],
                _ => vec![Span::styled(format!(" {:>15}", "binary"), theme.dim())],
            };
            let mut spans = counts;
            spans.push(Span::raw("  "));
            spans.push(Span::styled(text, theme.bold()));
            Line::from(spans)
        }
        LineKind::Uncommitted => {
            let code = line
                .file
                .and_then(|f| doc.uncommitted.get(f))
                .map_or("", |(code, _)| code.as_str());
            Line::from(vec![
                Span::styled(format!(" {code:>15}"), theme.fg(Color::Yellow)),
                Span::raw("  "),
                Span::styled(text, theme.fg(Color::Yellow)),
            ])
        }
        LineKind::Blank => Line::raw(""),
        LineKind::FileHeader => {
            Line::styled(text, theme.fg(Color::Yellow).add_modifier(Modifier::BOLD))
        }
        LineKind::Meta => Line::styled(text, theme.bold()),
        LineKind::Hunk => Line::styled(text, theme.fg(Color::Cyan)),
        LineKind::Added => Line::styled(text, theme.fg(Color::Green)),
        LineKind::Removed => Line::styled(text, theme.fg(Color::Red)),
        LineKind::Context => Line::raw(text),
        LineKind::Note => Line::styled(text, theme.dim()),
        LineKind::Cut => Line::styled(text, theme.fg(Color::Yellow).add_modifier(Modifier::BOLD)),
    }
}

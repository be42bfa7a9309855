//! Overlays drawn over the panels: the help (every key from the keymap), the
//! confirmation questions, and the report of the last halt (with a line per
//! machine when workers ran on hosts).

use crate::engine::snapshot::{HaltReport, HostAcks};
use crate::hosts::LOCAL;
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::overlay::{Confirm, Overlay};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, Widget};

pub fn render(app: &App, overlay: &Overlay, area: Rect, buf: &mut Buffer) {
    match overlay {
        Overlay::Help => help(app, area, buf),
        Overlay::Confirm(confirm) => question(app, confirm, area, buf),
        Overlay::HaltReport(report) => halt_report(app, report, area, buf),
        Overlay::Detail(view) => super::detail::render(app, view, area, buf),
        Overlay::Diff(view) => super::diff::render(app, view, area, buf),
        Overlay::Compose(composer) => super::composer::render(app, composer, area, buf),
    }
}

/// A box of at most `width`×`height` in the middle of `area`, cleared.
fn dialog(area: Rect, width: u16, height: u16, buf: &mut Buffer) -> Rect {
    let rect = area.centered(
        Constraint::Length(width.min(area.width)),
        Constraint::Length(height.min(area.height)),
    );
    Clear.render(rect, buf);
    rect
}

/// Columns between the help's two columns.
const GAP: usize = 2;

/// Keys the help lists besides the keymap's: fixed dialog answers and mouse.
const FIXED: [(&str, &str); 5] = [
    ("y / n", "answer a question"),
    ("e", "in a diff: edit the file"),
    ("l / h", "quit: leave running / halt"),
    ("click", "select a worker"),
    ("wheel", "scroll workers or the log"),
];

fn help(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let mut entries: Vec<(String, &str)> = Action::ALL
        .iter()
        .map(|a| (app.keymap.describe(*a), a.description()))
        .collect();
    entries.extend(FIXED.iter().map(|(k, d)| (k.to_string(), *d)));
    let desc_width = entries
        .iter()
        .map(|(_, d)| d.chars().count())
        .max()
        .unwrap_or(20);

    // One column if it fits the height, otherwise two side by side; on a
    // short screen without the blank lines inside the border, then three.
    let height = usize::from(area.height);
    let (columns, pad) = [(1, 1), (2, 1), (2, 0), (3, 0)]
        .into_iter()
        .find(|&(c, pad)| entries.len().div_ceil(c) + 2 + 2 * pad <= height)
        .unwrap_or((3, 0));
    let per_column = entries.len().div_ceil(columns);
    let chunks: Vec<&[(String, &str)]> = entries.chunks(per_column).collect();
    // Each column's keys are as wide as its own widest key.
    let key_widths: Vec<usize> = chunks
        .iter()
        .map(|c| {
            c.iter()
                .map(|(k, _)| k.chars().count())
                .max()
                .unwrap_or(4)
                .min(14)
        })
        .collect();
    let natural: usize =
        key_widths.iter().map(|k| k + 2 + desc_width).sum::<usize>() + (columns - 1) * GAP;
    let rect = dialog(
        area,
        natural as u16 + 4,
        (per_column + 2 + 2 * pad) as u16,
        buf,
    );
    let block = Block::bordered()
        .title(Span::styled(" Help: keys ", theme.title()))
        .title_bottom(Line::from(" Esc closes · keys from the keymap ").right_aligned());
    let inner = block
        .inner(rect)
        .inner(ratatui::layout::Margin::new(1, pad as u16));
    block.render(rect, buf);
    let col_width = (usize::from(inner.width).saturating_sub((columns - 1) * GAP) / columns).max(1);
    let key_style = theme.fg(Color::Cyan).add_modifier(Modifier::BOLD);
    for (c, chunk) in chunks.iter().enumerate() {
        let x = inner.x + (c * (col_width + GAP)) as u16;
        let key_width = key_widths[c].min(col_width);
        for (line, (keys, desc)) in chunk.iter().enumerate().take(usize::from(inner.height)) {
            let y = inner.y + line as u16;
            buf.set_stringn(x, y, keys, key_width, key_style);
            let used = key_width + 2;
            if used < col_width {
                buf.set_stringn(
                    x + used as u16,
                    y,
                    desc,
                    col_width - used,
                    ratatui::style::Style::new(),
                );
            }
        }
    }
}

fn question(app: &App, confirm: &Confirm, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let lines = confirm.lines();
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(20) as u16;
    let rect = dialog(area, (longest + 6).max(36), lines.len() as u16 + 4, buf);
    let border = match confirm {
        Confirm::Halt | Confirm::Kill { .. } => theme.fg(Color::Red),
        _ => theme.fg(Color::Yellow),
    };
    let block = Block::bordered()
        .border_style(border)
        .title(Span::styled(format!(" {} ", confirm.title()), theme.bold()));
    let text: Vec<Line> = std::iter::once(Line::raw(""))
        .chain(
            lines
                .into_iter()
                .map(|l| Line::styled(l, theme.bold()).centered()),
        )
        .collect();
    Paragraph::new(text).block(block).render(rect, buf);
}

fn halt_report(app: &App, report: &HaltReport, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let ms = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.2}"));
    let mut summary = vec![
        Line::from(vec![
            Span::raw(format!(" Halt #{}: ", report.halt_id)),
            Span::styled(
                crate::engine::words::count(report.total_workers, "worker"),
                theme.bold(),
            ),
            Span::raw(format!(
                ", {} acks received, {} failed, {} stopped",
                report.acks_received, report.acks_failed, report.stopped
            )),
        ]),
        Line::from(vec![
            Span::raw(" all acked: "),
            Span::styled(
                yes_no(report.all_acked),
                theme
                    .fg(if report.all_acked {
                        Color::Green
                    } else {
                        Color::Red
                    })
                    .add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "   total latency: {:.2} ms",
                report.total_latency_ms
            )),
        ]),
    ];
    // Over several machines: a line per machine, and a Host column.
    let spread = report.spread();
    if spread {
        summary.extend(report.per_host().iter().map(|h| host_acks(app, h)));
    }
    let top = summary.len() as u16;
    let room = area.height.saturating_sub(6 + top);
    let shown = report.workers.len().min(usize::from(room));
    let more = report.workers.len() - shown;
    // Borders, the summary, a blank line, the table's header and rows.
    let height = 2 + top + 1 + 1 + shown as u16 + u16::from(more > 0);
    let rect = dialog(area, if spread { 76 } else { 64 }, height, buf);
    let block = Block::bordered()
        .title(Span::styled(" Halt report ", theme.title()))
        .title_bottom(Line::from(" Esc closes ").right_aligned());
    let inner = block.inner(rect);
    block.render(rect, buf);
    Paragraph::new(summary).render(
        Rect {
            height: top.min(inner.height),
            ..inner
        },
        buf,
    );

    let rows = report.workers.iter().take(shown).map(|w| {
        let acked = Span::styled(
            yes_no(w.acked),
            theme.fg(if w.acked { Color::Green } else { Color::Red }),
        );
        let mut cells = vec![Cell::from(w.task.as_str())];
        if spread {
            cells.push(Cell::from(w.host.as_deref().unwrap_or(LOCAL)));
        }
        cells.extend([
            Cell::from(acked),
            Cell::from(Line::from(ms(w.ack_ms)).right_aligned()),
            Cell::from(Line::from(ms(w.stop_ms)).right_aligned()),
            Cell::from(w.signal.as_str()),
        ]);
        Row::new(cells)
    });
    let table_area = Rect {
        x: inner.x + 1,
        y: inner.y + top + 1,
        width: inner.width.saturating_sub(2),
        height: inner.height.saturating_sub(top + 1),
    };
    let mut header = vec!["Task"];
    let mut widths = vec![Constraint::Length(8)];
    if spread {
        header.push("Host");
        widths.push(Constraint::Length(10));
    }
    header.extend(["Acked", "Ack ms", "Stop ms", "Last signal"]);
    widths.extend([
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Fill(1),
    ]);
    Table::new(rows, widths)
        .header(Row::new(header).style(theme.bold().add_modifier(Modifier::UNDERLINED)))
        .column_spacing(2)
        .render(table_area, buf);
    if more > 0 {
        let y = table_area.y + 1 + shown as u16;
        buf.set_string(table_area.x, y, format!("… {more} more"), theme.dim());
    }
}

/// One machine's acks, its slowest, and what happens to workers of a host
/// that was not reached.
fn host_acks(app: &App, h: &HostAcks) -> Line<'static> {
    let theme = app.theme;
    let name = h.host.unwrap_or(LOCAL).to_string();
    let mut spans = vec![
        Span::raw(" "),
        Span::styled(name, theme.bold()),
        Span::raw(format!(" {}/{} acknowledged", h.acked, h.workers)),
    ];
    if let Some(ms) = h.slowest_ms {
        spans.push(Span::raw(format!(" · slowest {ms:.2} ms")));
    }
    if h.acked < h.workers && h.host.is_some() {
        spans.push(Span::styled(
            " · not reached: stopped when it answers again",
            theme.fg(Color::Red),
        ));
    }
    Line::from(spans)
}

//! The hosts strip, the header's third row when the plan has hosts (issue
//! 14): each machine's workers and room, its load, or since when it does
//! not answer, `local 2/4 · big1 3/16 load 1.2 · big2 unreachable since
//! 10:42`. On a narrow screen the loads give way first, then the times,
//! then the last hosts (counted as `+2 more`).

use crate::engine::host_link::HostView;
use crate::engine::words;
use crate::hosts::LOCAL;
use crate::tui::app::App;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// How much each host says, most first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Say {
    Everything,
    NoLoad,
    /// Name and room, or "unreachable" without since when.
    Least,
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let width = usize::from(area.width);
    let fits = |spans: &[Span]| spans.iter().map(Span::width).sum::<usize>() <= width;
    let hosts = &app.snapshot.hosts;
    let mut line = Vec::new();
    for say in [Say::Everything, Say::NoLoad, Say::Least] {
        line = strip(app, hosts.len(), say);
        if fits(&line) {
            break;
        }
    }
    // Still too wide: fewer hosts, and how many are left out.
    let mut shown = hosts.len();
    while !fits(&line) && shown > 0 {
        shown -= 1;
        line = strip(app, shown, Say::Least);
        line.push(Span::styled(
            format!(" · +{} more", hosts.len() - shown),
            app.theme.dim(),
        ));
    }
    Line::from(line).render(area, buf);
}

/// This machine, then the first `shown` hosts.
fn strip(app: &App, shown: usize, say: Say) -> Vec<Span<'static>> {
    let theme = app.theme;
    let snap = &app.snapshot;
    let here = snap
        .tasks
        .iter()
        .filter(|t| t.state.is_active() && t.host.is_none())
        .count();
    let room = match snap.local_capacity {
        Some(capacity) => format!("{here}/{capacity}"),
        None => here.to_string(),
    };
    let mut spans = vec![
        Span::styled(" hosts ", theme.dim()),
        Span::styled(LOCAL, theme.bold()),
        Span::raw(format!(" {room}")),
    ];
    for host in snap.hosts.iter().take(shown) {
        spans.push(Span::styled(" · ", theme.dim()));
        spans.extend(host_spans(app, host, say));
    }
    spans
}

fn host_spans(app: &App, host: &HostView, say: Say) -> Vec<Span<'static>> {
    let theme = app.theme;
    if !host.reachable {
        let error = theme.fg(Color::Red).add_modifier(Modifier::BOLD);
        let words = match say {
            Say::Least => "unreachable".to_string(),
            _ => format!(
                "unreachable since {}",
                words::clock_time_at(host.since_ms, app.utc_offset_secs)
            ),
        };
        return vec![
            Span::styled(host.name.clone(), error),
            Span::styled(format!(" {words}"), error),
        ];
    }
    let mut spans = vec![
        Span::styled(host.name.clone(), theme.bold()),
        Span::raw(format!(" {}/{}", host.workers, host.capacity)),
    ];
    if let (Say::Everything, Some(load)) = (say, host.load) {
        spans.push(Span::styled(" load ", theme.dim()));
        spans.push(Span::raw(format!("{load:.1}")));
    }
    spans
}

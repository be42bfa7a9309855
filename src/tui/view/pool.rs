//! The Pool panel, above the log when the plan has worker pools: per pool
//! its profile and queue (ready tasks waiting for a worker, in the order
//! they will be taken), then one line per worker with what it is doing.

use super::workers::sanitize;
use crate::engine::pool::PoolView;
use crate::engine::snapshot::{Light, Snapshot};
use crate::tui::app::App;
use crate::tui::theme::light_symbol;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Widget};

/// Rows the panel would fill: a line per pool and per worker, and borders.
pub fn rows_wanted(snapshot: &Snapshot) -> u16 {
    if snapshot.pools.is_empty() {
        return 0;
    }
    let lines: usize = snapshot.pools.iter().map(|p| 1 + p.workers.len()).sum();
    u16::try_from(lines + 2).unwrap_or(u16::MAX)
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let busy: usize = app
        .snapshot
        .pools
        .iter()
        .map(|p| p.workers.iter().filter(|w| w.task.is_some()).count())
        .sum();
    let size: usize = app.snapshot.pools.iter().map(|p| p.workers.len()).sum();
    let block = Block::bordered().title(Line::from(vec![
        Span::styled(" Pool ", theme.title()),
        Span::raw(format!("{busy}/{size} busy ")),
    ]));
    let inner = block.inner(area);
    block.render(area, buf);
    let lines: Vec<Line> = app
        .snapshot
        .pools
        .iter()
        .flat_map(|p| pool_lines(app, p))
        .collect();
    for (i, line) in lines.iter().enumerate().take(usize::from(inner.height)) {
        buf.set_line(inner.x, inner.y + i as u16, line, inner.width);
    }
}

fn pool_lines(app: &App, pool: &PoolView) -> Vec<Line<'static>> {
    let theme = app.theme;
    let queue = match pool.queue.len() {
        0 => "queue empty".to_string(),
        _ => format!("queue: {}", pool.queue.join(" ")),
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} ", pool.name), theme.bold()),
        Span::styled(format!("({}) ", sanitize(&pool.profile)), theme.dim()),
        Span::raw(sanitize(&queue)),
    ])];
    for w in &pool.workers {
        let light = w
            .task
            .as_deref()
            .and_then(|id| app.snapshot.tasks.iter().find(|t| t.id == id))
            .map_or(Light::Idle, |t| t.light);
        let selected = w.task.is_some() && w.task.as_deref() == app.selected.as_deref();
        let style = if selected {
            theme.selected()
        } else if w.task.is_some() {
            theme.light(light)
        } else {
            theme.dim()
        };
        let mut spans = vec![
            Span::raw(format!(" {:>2} ", w.worker)),
            Span::styled(format!("{} ", light_symbol(light)), theme.light(light)),
            Span::styled(sanitize(&w.doing), style),
        ];
        if w.replaced > 0 {
            spans.push(Span::styled(
                format!("  replaced {}x", w.replaced),
                theme.dim(),
            ));
        }
        lines.push(Line::from(spans));
    }
    lines
}

#[cfg(test)]
mod tests {
    use crate::engine::pool::{PoolView, PoolWorkerView};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn worker(n: u32, task: Option<&str>, doing: &str) -> PoolWorkerView {
        PoolWorkerView {
            worker: n,
            session: format!("sb-x--pool-{n}"),
            worktree: format!("/r/.switchboard/workspaces/pool-{n}"),
            task: task.map(str::to_string),
            doing: doing.into(),
            replaced: u32::from(n == 3),
        }
    }

    #[test]
    fn the_panel_shows_each_worker_and_the_queue_above_the_log() {
        let mut snap = crate::testdata::recorded_mid_run();
        let busy = snap.tasks[0].id.clone();
        snap.pools = vec![PoolView {
            name: "pool".into(),
            profile: "generalist".into(),
            workers: vec![
                worker(1, Some(&busy), &format!("{busy} running")),
                worker(2, None, "idle: generalist at its prompt"),
                worker(3, None, "idle"),
            ],
            queue: vec!["T9".into(), "T10".into()],
        }];
        let app = crate::tui::screens::app_of(snap, 160, 48);
        let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
        terminal
            .draw(|frame| frame.render_widget(&app, frame.area()))
            .expect("draw");
        let text = terminal.backend().to_string();
        for needle in [
            " Pool 1/3 busy ",
            "pool (generalist) queue: T9 T10",
            &format!("{busy} running"),
            "idle: generalist at its prompt",
            "replaced 1x",
            " Log",
        ] {
            assert!(text.contains(needle), "{needle:?} not in:\n{text}");
        }
        let row = |needle: &str| text.lines().position(|l| l.contains(needle));
        assert!(row(" Pool ") < row(" Log"), "the pool is above the log");
    }
}

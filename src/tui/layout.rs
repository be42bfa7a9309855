//! Where each panel goes for a terminal size. A pure function, shared by the
//! views (to draw) and the app (to page, scroll and hit-test mouse clicks).

use super::theme::LIGHTS;
use ratatui::layout::{Constraint, Layout, Rect};

/// Below this, the screen says it is too small instead of drawing panels.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;

/// The Timeline needs room for a useful chart; smaller screens drop it.
const TIMELINE_MIN_WIDTH: u16 = 110;
const TIMELINE_MIN_HEIGHT: u16 = 32;

/// Workers above, wide columns (group, profile) from this width.
pub const WIDE_TABLE: u16 = 110;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub workers: Rect,
    pub heartbeats: Rect,
    pub timeline: Option<Rect>,
    pub log: Rect,
    pub footer: Rect,
}

impl Areas {
    /// Rows of the Workers table that show tasks (inside borders, below the header row).
    pub fn worker_rows(&self) -> usize {
        usize::from(self.workers.height.saturating_sub(3))
    }
}

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// The header's rows: the run, the counts, and the hosts strip when the
/// plan has hosts.
pub fn header_rows(hosts: bool) -> u16 {
    2 + u16::from(hosts)
}

/// The panels for `area`, given the header's rows, how many tasks and the
/// longest task id.
pub fn areas(area: Rect, header_rows: u16, tasks: usize, id_width: usize) -> Areas {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(header_rows),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    // Workers get their rows plus border and header, up to a bit over half.
    let wanted = u16::try_from(tasks + 3).unwrap_or(u16::MAX).max(6);
    let workers_height = wanted.min(body.height * 56 / 100).max(4.min(body.height));
    let [workers, bottom] =
        Layout::vertical([Constraint::Length(workers_height), Constraint::Fill(1)]).areas(body);

    if area.width >= TIMELINE_MIN_WIDTH && area.height >= TIMELINE_MIN_HEIGHT {
        let [timeline, side] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Fill(1)]).areas(bottom);
        let lights = heartbeats_height(side.width, tasks, id_width).min(bottom.height / 2);
        let [heartbeats, log] =
            Layout::vertical([Constraint::Length(lights), Constraint::Fill(1)]).areas(side);
        Areas {
            header,
            workers,
            heartbeats,
            timeline: Some(timeline),
            log,
            footer,
        }
    } else {
        let lights_width = (area.width * 2 / 5).clamp(20, 40);
        let [heartbeats, log] =
            Layout::horizontal([Constraint::Length(lights_width), Constraint::Fill(1)])
                .areas(bottom);
        Areas {
            header,
            workers,
            heartbeats,
            timeline: None,
            log,
            footer,
        }
    }
}

/// The Pool panel (`rows` tall with its borders; none when 0) above the
/// log, taking at most half of the log's column.
pub fn pool_and_log(log: Rect, rows: u16) -> (Option<Rect>, Rect) {
    if rows == 0 || log.height < 8 {
        return (None, log);
    }
    let [pools, log] = Layout::vertical([
        Constraint::Length(rows.min(log.height / 2)),
        Constraint::Fill(1),
    ])
    .areas(log);
    (Some(pools), log)
}

/// A heartbeat cell: light, space, id, gap.
pub fn heartbeat_cell_width(id_width: usize) -> u16 {
    u16::try_from(id_width + 3).unwrap_or(u16::MAX)
}

/// Where each legend entry ("● healthy") goes when entries flow across
/// lines `inner` wide with two spaces between them: (line, column) per entry.
pub fn legend_positions(inner: u16) -> Vec<(u16, u16)> {
    let (mut line, mut col) = (0u16, 0u16);
    LIGHTS
        .iter()
        .map(|light| {
            let width = 2 + light.as_str().len() as u16;
            if col > 0 && col + width > inner {
                (line, col) = (line + 1, 0);
            }
            let at = (line, col);
            col += width + 2;
            at
        })
        .collect()
}

/// Border + grid + legend for `tasks` cells in a panel `width` wide.
pub fn heartbeats_height(width: u16, tasks: usize, id_width: usize) -> u16 {
    let inner = width.saturating_sub(2).max(1);
    let per_row = (inner / heartbeat_cell_width(id_width)).max(1);
    let grid = u16::try_from(tasks.div_ceil(usize::from(per_row))).unwrap_or(u16::MAX);
    let legend = legend_positions(inner)
        .last()
        .map_or(0, |(line, _)| line + 1);
    grid.saturating_add(legend).saturating_add(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_screen_shows_all_four_panels() {
        let a = areas(Rect::new(0, 0, 160, 48), 2, 22, 3);
        let timeline = a.timeline.expect("timeline at 160x48");
        assert_eq!(a.header.height, 2);
        assert_eq!(a.footer.y, 47);
        assert!(a.worker_rows() >= 20, "{a:?}");
        assert!(
            timeline.height >= 15 && timeline.width >= 90,
            "{timeline:?}"
        );
        assert!(a.heartbeats.height >= 6 && a.log.height >= 8, "{a:?}");
    }

    #[test]
    fn small_screen_drops_the_timeline_but_keeps_the_rest() {
        let a = areas(Rect::new(0, 0, 80, 24), 2, 22, 3);
        assert_eq!(a.timeline, None);
        assert!(a.worker_rows() >= 6, "{a:?}");
        assert!(a.heartbeats.width >= 20 && a.log.width >= 40, "{a:?}");
        assert_eq!(a.heartbeats.height, a.log.height);
        assert!(!too_small(Rect::new(0, 0, 80, 24)));
        assert!(too_small(Rect::new(0, 0, 30, 24)));
    }

    #[test]
    fn few_tasks_leave_room_below() {
        let a = areas(Rect::new(0, 0, 160, 48), 2, 3, 2);
        assert_eq!(a.workers.height, 6);
    }
}

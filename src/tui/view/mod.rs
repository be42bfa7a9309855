//! Drawing: the whole screen is a pure function of [`App`]. Each panel is a
//! function from the app's state to a region of the buffer; nothing here
//! talks to the engine, tmux or git.

pub mod chrome;
pub mod composer;
pub mod detail;
pub mod dialogs;
pub mod diff;
pub mod gantt;
pub mod hosts;
pub mod lights;
pub mod log;
pub mod pool;
pub mod workers;

use super::app::App;
use super::layout::{self, too_small};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if too_small(area) {
            let text = format!(
                "switchboard needs at least {}×{}; this terminal is {}×{}.",
                layout::MIN_WIDTH,
                layout::MIN_HEIGHT,
                area.width,
                area.height
            );
            Paragraph::new(Line::from(text))
                .wrap(Wrap { trim: true })
                .render(area, buf);
            return;
        }
        let areas = self.areas_in(area);
        chrome::header(self, areas.header, buf);
        workers::render(self, areas.workers, buf);
        lights::render(self, areas.heartbeats, buf);
        if let Some(timeline) = areas.timeline {
            gantt::render(self, timeline, buf);
        }
        let (pools, log) = layout::pool_and_log(areas.log, pool::rows_wanted(&self.snapshot));
        if let Some(pools) = pools {
            pool::render(self, pools, buf);
        }
        log::render(self, log, buf);
        chrome::footer(self, areas.footer, buf);
        if let Some(overlay) = &self.overlay {
            dialogs::render(self, overlay, area, buf);
        }
    }
}

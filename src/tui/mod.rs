//! The full-screen front end: a control room over the engine's snapshots.
//!
//! [`run`] takes an [`EngineLink`](crate::engine::link::EngineLink), draws the
//! latest snapshot, and turns keys into engine commands until the person quits.
//! State lives in [`app::App`] (pure, tested without a terminal), drawing in
//! [`view`] (pure functions of the app), and the terminal, input thread,
//! signals and attach in the modules around [`run`].

pub mod action;
pub mod app;
pub mod attach;
pub mod composer;
mod dispatch;
#[cfg(any(test, feature = "fixtures"))]
#[doc(hidden)]
pub mod fixture;
pub mod input;
pub mod keymap;
pub mod layout;
pub mod logbuf;
pub mod overlay;
pub mod review;
pub mod rows;
mod run;
pub mod step_aside;
#[cfg(any(test, feature = "fixtures"))]
pub mod svg;
pub mod terminal;
pub mod theme;
pub mod timeline;
pub mod view;
pub mod worker_server;

#[cfg(test)]
mod screens;

pub use run::run;
#[cfg(any(test, feature = "fixtures"))]
pub use svg::write_screenshot;

use std::path::PathBuf;

/// What to do with the workers when the TUI is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuitChoice {
    /// Leave the workers running in tmux; a later switchboard re-adopts them.
    LeaveRunning,
    /// The person asked to halt every worker before leaving.
    HaltWorkers,
    /// The engine this window watched (another process's) has stopped; with
    /// [`TuiOptions::take_over`], the caller starts one of its own.
    EngineGone,
}

#[derive(Debug, Clone)]
pub struct TuiOptions {
    /// A keymap file overriding `config/keymap.yaml`'s defaults.
    pub keymap_path: Option<PathBuf>,
    /// How long one effort hour is drawn on the Timeline.
    pub seconds_per_effort_hour: f64,
    /// Lines of engine log kept for scrolling back.
    pub log_capacity: usize,
    /// Lines fetched for the log panel's pane view.
    pub pane_tail_lines: u32,
    /// Ring the terminal bell when a task newly needs attention.
    pub bell: bool,
    /// Mouse capture (click to select, wheel to scroll).
    pub mouse: bool,
    /// Leave with [`QuitChoice::EngineGone`] when the engine stops, so the
    /// caller can take its workers over (a window attached to another
    /// process's engine).
    pub take_over: bool,
    /// The repository, where the diff view reads git; None: the current
    /// directory.
    pub repo: Option<PathBuf>,
}

impl Default for TuiOptions {
    fn default() -> Self {
        TuiOptions {
            keymap_path: None,
            seconds_per_effort_hour: timeline::DEFAULT_SECONDS_PER_EFFORT_HOUR,
            log_capacity: logbuf::DEFAULT_CAPACITY,
            pane_tail_lines: 200,
            bell: true,
            mouse: true,
            take_over: false,
            repo: None,
        }
    }
}

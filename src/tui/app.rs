//! The TUI's state: the latest snapshot plus what the person is looking at
//! (selection, filter, sort, log history, timeline viewport, open dialog).
//! Everything here is synchronous and terminal-free, so tests drive it directly;
//! what needs the outside world comes back as an [`Effect`].

use super::keymap::Keymap;
use super::layout::{self, Areas};
use super::logbuf::LogBuffer;
use super::overlay::Overlay;
use super::rows::{self, SortKey};
use super::theme::Theme;
use super::timeline::{TimeAxis, TimelineView};
use super::worker_server::WorkerServer;
use super::{QuitChoice, TuiOptions};
use crate::engine::command::Command;
use crate::engine::snapshot::{LogLevel, LogLine, Snapshot, TaskView};
use ratatui::layout::Rect;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

/// Something the event loop must do outside the app's state.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a request to the engine; its reply comes back to [`App::on_reply`].
    Call(Command),
    /// Show this worker's session: in a tmux popup or window beside the
    /// control room inside tmux, else by handing it the terminal; on
    /// `server`, this machine's tmux or a host's over ssh.
    Attach {
        task: String,
        session: String,
        server: WorkerServer,
    },
    /// Read `branch`'s changes since it left `integration`, and what its
    /// worktree has not committed, off the render path; they come back to
    /// [`App::on_diff`].
    ReadDiff {
        task: String,
        branch: String,
        integration: String,
        worktree: Option<PathBuf>,
    },
    /// Step aside for a shell in the task's worktree.
    OpenShell {
        task: String,
        dir: PathBuf,
    },
    /// Step aside for the editor on `file` (relative to `dir`), at `line`.
    OpenEditor {
        task: String,
        dir: PathBuf,
        file: String,
        line: Option<u32>,
    },
    Quit(QuitChoice),
    /// Stop like Ctrl-Z in a shell; continue on `fg`.
    Suspend,
    /// Clear the terminal and draw everything again.
    Redraw,
}

/// What the Log panel shows.
#[derive(Debug, Clone, PartialEq)]
pub enum LogView {
    Events,
    /// The selected worker's pane, as last fetched.
    Pane {
        task: String,
        lines: Vec<String>,
        /// The attempt log the lines come from, once the pane is gone.
        log: Option<String>,
    },
}

/// How long a status message stays in the footer.
const STATUS_MS: u64 = 8_000;

pub struct App {
    pub snapshot: Arc<Snapshot>,
    pub keymap: Keymap,
    pub theme: Theme,
    /// The terminal's size, for paging and mouse hits.
    pub size: Rect,
    /// Wall-clock now: the snapshot's time, advanced locally between snapshots.
    pub now_ms: u64,
    /// Local time zone for log timestamps (0 = UTC, as in tests).
    pub utc_offset_secs: i32,
    /// Indices into `snapshot.tasks`, filtered and sorted.
    pub rows: Vec<usize>,
    /// The selected task's id: selection follows the task through re-sorts.
    pub selected: Option<String>,
    /// The first Workers row on screen.
    pub offset: usize,
    /// Plan order with finished rows moved last: they did not all fit.
    pub finished_last: bool,
    pub sort: SortKey,
    pub filter: String,
    pub filter_editing: bool,
    pub log: LogBuffer,
    /// How many entries the Log panel is scrolled back from the newest.
    pub log_scroll: usize,
    pub log_view: LogView,
    pub timeline: TimelineView,
    pub overlay: Option<Overlay>,
    /// A message for the footer and when it was set.
    pub status: Option<(u64, String)>,
    /// Tasks that needed attention at the last snapshot, for the bell.
    attention: HashSet<String>,
    /// Ring the terminal bell at the next draw.
    pub bell: bool,
}

impl App {
    pub fn new(snapshot: Arc<Snapshot>, keymap: Keymap, theme: Theme, options: &TuiOptions) -> App {
        let mut app = App {
            now_ms: snapshot.now_ms,
            snapshot: Arc::new(empty_snapshot()),
            keymap,
            theme,
            size: Rect::new(0, 0, 160, 48),
            utc_offset_secs: 0,
            rows: Vec::new(),
            selected: None,
            offset: 0,
            finished_last: false,
            sort: SortKey::Plan,
            filter: String::new(),
            filter_editing: false,
            log: LogBuffer::new(options.log_capacity),
            log_scroll: 0,
            log_view: LogView::Events,
            timeline: TimelineView::new(options.seconds_per_effort_hour),
            overlay: None,
            status: None,
            attention: HashSet::new(),
            bell: false,
        };
        app.attention = attention_set(&snapshot);
        app.on_snapshot(snapshot);
        app
    }

    /// Take in a new snapshot: log lines, rows, selection, the bell. Returns
    /// a request when an open detail view's task moved on.
    pub fn on_snapshot(&mut self, snapshot: Arc<Snapshot>) -> Option<Effect> {
        self.log.ingest(&snapshot.log_tail, snapshot.log_total);
        let attention = attention_set(&snapshot);
        if attention.iter().any(|id| !self.attention.contains(id)) {
            self.bell = true;
        }
        self.attention = attention;
        self.now_ms = self.now_ms.max(snapshot.now_ms);
        self.snapshot = snapshot;
        self.refresh_rows();
        self.follow_selection_in_log();
        self.refresh_detail().or_else(|| self.refresh_away_diff())
    }

    /// Ask for the open detail again when its task's state, attempt or
    /// attempts changed since it was asked for.
    fn refresh_detail(&mut self) -> Option<Effect> {
        let Some(super::overlay::Overlay::Detail(view)) = &mut self.overlay else {
            return None;
        };
        let task = self.snapshot.tasks.iter().find(|t| t.id == view.task)?;
        let mark = (task.state, task.attempt, task.attempts.len());
        if view.asked_at == Some(mark) {
            return None;
        }
        let first = view.asked_at.is_none();
        view.asked_at = Some(mark);
        // The first mark is the one the open request was made at.
        (!first).then(|| super::dispatch::detail_request(view.task.clone()))
    }

    /// Advance the local clock (the 1 s tick between snapshots).
    pub fn set_now(&mut self, now_ms: u64) {
        self.now_ms = now_ms.max(self.snapshot.now_ms);
    }

    pub fn resize(&mut self, width: u16, height: u16) {
        self.size = Rect::new(0, 0, width, height);
        // How many rows fit decides whether finished ones go last.
        self.refresh_rows();
    }

    pub fn areas(&self) -> Areas {
        self.areas_in(self.size)
    }

    /// The panels for a screen of `area`.
    pub fn areas_in(&self, area: Rect) -> Areas {
        let id_width = self
            .snapshot
            .tasks
            .iter()
            .map(|t| t.id.len())
            .max()
            .unwrap_or(2);
        let header = layout::header_rows(!self.snapshot.hosts.is_empty());
        layout::areas(area, header, self.snapshot.tasks.len(), id_width)
    }

    /// Recompute rows after the snapshot, filter or sort changed.
    pub fn refresh_rows(&mut self) {
        self.rows = rows::visible_rows(&self.snapshot.tasks, &self.filter, self.sort, self.now_ms);
        let room = self.areas().worker_rows();
        let was = self.finished_last;
        self.finished_last = self.sort == SortKey::Plan
            && rows::finished_last(&self.snapshot.tasks, &mut self.rows, room);
        // Finished rows just went last: a finished selection would drag the
        // view down with it; the work in progress is what this is for.
        if self.finished_last && !was && self.selected_task().is_some_and(|t| t.state.is_final()) {
            self.selected = None;
        }
        if self.selected_row().is_none() {
            self.selected = self
                .rows
                .first()
                .map(|&i| self.snapshot.tasks[i].id.clone());
        }
        self.keep_selection_visible();
    }

    pub fn selected_row(&self) -> Option<usize> {
        let id = self.selected.as_deref()?;
        self.rows
            .iter()
            .position(|&i| self.snapshot.tasks[i].id == id)
    }

    pub fn selected_task(&self) -> Option<&TaskView> {
        self.selected_row()
            .map(|r| &self.snapshot.tasks[self.rows[r]])
    }

    /// Select row `row` (clamped) and scroll it into view.
    pub fn select_row(&mut self, row: usize) {
        let Some(last) = self.rows.len().checked_sub(1) else {
            self.selected = None;
            return;
        };
        let i = self.rows[row.min(last)];
        self.selected = Some(self.snapshot.tasks[i].id.clone());
        self.keep_selection_visible();
    }

    /// Move the selection by `delta` rows.
    pub fn move_selection(&mut self, delta: isize) {
        let current = self.selected_row().unwrap_or(0);
        self.select_row(current.saturating_add_signed(delta));
    }

    /// Scroll so the selected row is on screen, and never past the last row.
    fn keep_selection_visible(&mut self) {
        let height = self.areas().worker_rows().max(1);
        let max_offset = self.rows.len().saturating_sub(height);
        if let Some(row) = self.selected_row() {
            if row < self.offset {
                self.offset = row;
            } else if row >= self.offset + height {
                self.offset = row + 1 - height;
            }
        }
        self.offset = self.offset.min(max_offset);
    }

    pub fn page(&self) -> usize {
        self.areas().worker_rows().max(1)
    }

    /// The next row after the selection (wrapping) whose task needs attention.
    pub fn next_attention_row(&self) -> Option<usize> {
        let n = self.rows.len();
        let start = self.selected_row().map_or(0, |r| r + 1);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&r| self.snapshot.tasks[self.rows[r]].state.needs_attention())
    }

    /// The run's clock: now, or where a finished or halted run stopped (so
    /// the timeline's follow mode does not scroll past its end).
    pub fn clock_ms(&self) -> u64 {
        self.snapshot.stopped_at().unwrap_or(self.now_ms)
    }

    /// The Timeline's axis for the current size, as drawn.
    pub fn timeline_axis(&self) -> Option<TimeAxis> {
        let area = self.areas().timeline?;
        let width = super::view::gantt::chart_width(area);
        Some(self.timeline.axis(&self.snapshot, self.clock_ms(), width))
    }

    /// Whose pane the log panel wants refreshed, if it shows one.
    pub fn pane_task(&self) -> Option<String> {
        match &self.log_view {
            LogView::Pane { task, .. } => Some(task.clone()),
            LogView::Events => None,
        }
    }

    pub fn on_pane_tail(&mut self, task: &str, lines: Vec<String>, log: Option<String>) {
        if let LogView::Pane {
            task: shown,
            lines: current,
            log: from,
        } = &mut self.log_view
            && shown == task
        {
            *current = lines;
            *from = log;
        }
    }

    pub fn set_status(&mut self, text: impl Into<String>) {
        self.status = Some((self.now_ms, text.into()));
    }

    /// Something asked of `task` cannot be done: the footer says why, and
    /// the Log keeps it after the footer moved on.
    pub fn refuse(&mut self, task: &str, why: impl Into<String>) {
        let why = why.into();
        self.log.note(LogLine {
            ts_ms: self.now_ms,
            level: LogLevel::Warn,
            task: Some(task.to_string()),
            text: why.clone(),
        });
        self.set_status(why);
    }

    /// The footer's message, while it is fresh.
    pub fn status_text(&self) -> Option<&str> {
        let (at, text) = self.status.as_ref()?;
        (self.now_ms.saturating_sub(*at) < STATUS_MS).then_some(text.as_str())
    }

    /// True when some worker may still be running, so quitting must ask.
    pub fn has_active_workers(&self) -> bool {
        self.snapshot.tasks.iter().any(|t| t.state.is_active())
    }
}

/// Tasks that need a person, and budgets past their warning (by scope and
/// level: reaching the cap after the warning rings again).
fn attention_set(snapshot: &Snapshot) -> HashSet<String> {
    let budgets = snapshot
        .limits
        .budgets
        .iter()
        .filter(|b| b.level != crate::engine::snapshot::BudgetLevel::Ok)
        .map(|b| format!("\0budget {} {:?}", b.scope, b.level));
    snapshot
        .tasks
        .iter()
        .filter(|t| t.state.needs_attention())
        .map(|t| t.id.clone())
        .chain(budgets)
        .collect()
}

/// A placeholder until the first snapshot is taken in.
fn empty_snapshot() -> Snapshot {
    Snapshot {
        plan_name: String::new(),
        integration_branch: String::new(),
        tmux_socket: None,
        phase: crate::engine::snapshot::RunPhase::Idle,
        started_ms: 0,
        now_ms: 0,
        groups: Vec::new(),
        tasks: Vec::new(),
        log_tail: Vec::new(),
        log_total: 0,
        last_halt: None,
        limits: Default::default(),
        pools: Vec::new(),
        hosts: Vec::new(),
        local_capacity: None,
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;

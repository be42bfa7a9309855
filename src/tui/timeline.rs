//! The Timeline's model: planned spans from effort estimates, the wall-clock
//! axis (time → column) and the viewport (zoom, scroll, follow). Pure; the
//! Gantt view draws from what this computes.

use crate::engine::snapshot::Snapshot;
use std::collections::HashMap;

/// Milliseconds per column, from a tenth of a second to an hour.
pub const ZOOM_LEVELS_MS: [u64; 15] = [
    100, 250, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
    1_800_000, 3_600_000,
];

/// Tick spacings the axis labels may use, smallest first.
const TICK_STEPS_MS: [u64; 14] = [
    1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
    1_800_000, 3_600_000, 7_200_000,
];

/// Default scale of planned bars: one effort hour is drawn as 10 s, so the
/// example plan (22 tasks, ~80 effort hours) fits a screen while it runs.
pub const DEFAULT_SECONDS_PER_EFFORT_HOUR: f64 = 10.0;

/// Wall-clock time mapped onto `width` columns starting at `origin_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeAxis {
    pub origin_ms: u64,
    pub ms_per_col: u64,
    pub width: u16,
}

impl TimeAxis {
    pub fn end_ms(&self) -> u64 {
        self.origin_ms + self.ms_per_col * u64::from(self.width)
    }

    /// The column holding instant `t_ms`, if it is on screen.
    pub fn column(&self, t_ms: u64) -> Option<u16> {
        if t_ms < self.origin_ms || t_ms >= self.end_ms() {
            return None;
        }
        u16::try_from((t_ms - self.origin_ms) / self.ms_per_col).ok()
    }

    /// The on-screen columns `[first, last]` of the interval `[start, end)`,
    /// clipped; any visible interval covers at least one column.
    pub fn span(&self, start_ms: u64, end_ms: u64) -> Option<(u16, u16)> {
        if self.width == 0 || end_ms <= self.origin_ms || start_ms >= self.end_ms() {
            return None;
        }
        let first = self.column(start_ms.max(self.origin_ms))?;
        let last_instant = end_ms.saturating_sub(1).min(self.end_ms() - 1);
        let last = self.column(last_instant).unwrap_or(first).max(first);
        Some((first, last))
    }
}

/// Each task's planned `[start, end)` in ms: its first attempt's start (or,
/// not yet started, no earlier than now, its dependencies' planned ends and
/// the planned ends of the groups its group waits for), lasting its effort
/// hours times the scale. Indexed like `snapshot.tasks`, which lists tasks
/// in dependency order.
pub fn planned_spans(snapshot: &Snapshot, now_ms: u64, ms_per_effort_hour: f64) -> Vec<(u64, u64)> {
    let mut ends: HashMap<&str, u64> = HashMap::new();
    let mut group_ends: HashMap<&str, u64> = HashMap::new();
    let after = |group: &str| {
        snapshot
            .groups
            .iter()
            .find(|g| g.id == group)
            .map(|g| g.after.as_slice())
            .unwrap_or_default()
    };
    snapshot
        .tasks
        .iter()
        .map(|task| {
            let duration = (task.effort_hours.unwrap_or(1.0).max(0.0) * ms_per_effort_hour) as u64;
            let start = match task.attempts.first() {
                Some(first) => first.started_ms,
                None => {
                    let deps = task
                        .dependencies
                        .iter()
                        .filter_map(|d| ends.get(d.as_str()));
                    let groups = after(&task.group)
                        .iter()
                        .filter_map(|g| group_ends.get(g.as_str()));
                    deps.chain(groups)
                        .copied()
                        .fold(now_ms.max(snapshot.started_ms), u64::max)
                }
            };
            let end = start + duration.max(1);
            ends.insert(task.id.as_str(), end);
            let group_end = group_ends.entry(task.group.as_str()).or_insert(end);
            *group_end = (*group_end).max(end);
            (start, end)
        })
        .collect()
}

/// What the Timeline panel looks at; changed only by keys.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineView {
    /// An index into [`ZOOM_LEVELS_MS`]; None fits the whole run to the width.
    pub zoom: Option<usize>,
    /// Keep the now-line in view; otherwise `origin_ms` is the left edge.
    pub follow: bool,
    pub origin_ms: u64,
    pub ms_per_effort_hour: f64,
}

impl TimelineView {
    pub fn new(seconds_per_effort_hour: f64) -> TimelineView {
        TimelineView {
            zoom: None,
            follow: true,
            origin_ms: 0,
            ms_per_effort_hour: seconds_per_effort_hour * 1000.0,
        }
    }

    /// The axis for a chart `width` columns wide.
    pub fn axis(&self, snapshot: &Snapshot, now_ms: u64, width: u16) -> TimeAxis {
        let cols = u64::from(width.max(1));
        // A reopened control room's run started now, but its tasks' earlier
        // attempts are history to show: the chart begins at the first one.
        let first_attempt = snapshot
            .tasks
            .iter()
            .flat_map(|t| t.attempts.first())
            .map(|a| a.started_ms)
            .min();
        let start = first_attempt
            .unwrap_or(u64::MAX)
            .min(snapshot.started_ms)
            .min(now_ms);
        let ms_per_col = match self.zoom {
            Some(i) => ZOOM_LEVELS_MS[i.min(ZOOM_LEVELS_MS.len() - 1)],
            None => {
                let planned_end = planned_spans(snapshot, now_ms, self.ms_per_effort_hour)
                    .iter()
                    .map(|(_, end)| *end)
                    .fold(now_ms, u64::max);
                // A little room on the right so the last bar does not touch the edge.
                let wanted = (planned_end - start) * 21 / 20 / cols;
                fit_level(wanted)
            }
        };
        let span = ms_per_col * cols;
        let origin_ms = if !self.follow {
            // Nothing happened before the run: the view stops at its start.
            self.origin_ms.max(start)
        } else if now_ms < start + span * 9 / 10 {
            start
        } else {
            // Jump in steps of an eighth of the width, so the bars do not
            // shift by a column every tick, with the now-line near 3/4.
            let step = (span / 8).max(ms_per_col);
            let target = now_ms - span * 3 / 4;
            start + (target - start) / step * step
        };
        TimeAxis {
            origin_ms,
            ms_per_col,
            width,
        }
    }

    pub fn zoom_in(&mut self, current: &TimeAxis) {
        let level = level_of(current.ms_per_col);
        self.set_zoom(current, level.saturating_sub(1));
    }

    pub fn zoom_out(&mut self, current: &TimeAxis) {
        let level = level_of(current.ms_per_col);
        self.set_zoom(current, (level + 1).min(ZOOM_LEVELS_MS.len() - 1));
    }

    /// Zooming keeps the middle of the view where it was.
    fn set_zoom(&mut self, current: &TimeAxis, level: usize) {
        let middle = current.origin_ms + (current.end_ms() - current.origin_ms) / 2;
        self.zoom = Some(level);
        let half = ZOOM_LEVELS_MS[level] * u64::from(current.width) / 2;
        self.origin_ms = middle.saturating_sub(half);
    }

    /// Scroll by `cols` columns (negative: back in time); stops following.
    pub fn scroll(&mut self, current: &TimeAxis, cols: i64) {
        self.follow = false;
        self.zoom = Some(level_of(current.ms_per_col));
        let delta = cols.unsigned_abs() * current.ms_per_col;
        self.origin_ms = if cols < 0 {
            current.origin_ms.saturating_sub(delta)
        } else {
            current.origin_ms + delta
        };
    }

    pub fn toggle_follow(&mut self, current: &TimeAxis) {
        self.follow = !self.follow;
        self.origin_ms = current.origin_ms;
    }
}

/// The smallest zoom level at least `ms_per_col` wide.
fn fit_level(ms_per_col: u64) -> u64 {
    ZOOM_LEVELS_MS
        .iter()
        .copied()
        .find(|&level| level >= ms_per_col)
        .unwrap_or(ZOOM_LEVELS_MS[ZOOM_LEVELS_MS.len() - 1])
}

fn level_of(ms_per_col: u64) -> usize {
    ZOOM_LEVELS_MS
        .iter()
        .position(|&level| level >= ms_per_col)
        .unwrap_or(ZOOM_LEVELS_MS.len() - 1)
}

/// Axis labels: columns and the time since `run_start_ms` they mark, spaced
/// at a round interval at least `min_gap` columns apart.
pub fn ticks(axis: &TimeAxis, run_start_ms: u64, min_gap: u16) -> Vec<(u16, String)> {
    let min_ms = axis.ms_per_col * u64::from(min_gap.max(1));
    let step = TICK_STEPS_MS
        .iter()
        .copied()
        .find(|&s| s >= min_ms)
        .unwrap_or(min_ms.div_ceil(3_600_000) * 3_600_000);
    let since = axis.origin_ms.saturating_sub(run_start_ms);
    let mut t = run_start_ms + since.div_ceil(step) * step;
    let mut out = Vec::new();
    while let Some(col) = axis.column(t) {
        out.push((col, format_offset(t - run_start_ms)));
        t += step;
    }
    out
}

/// `+1:30`, `+12:00`, `+1h05`: time since the run started.
pub fn format_offset(ms: u64) -> String {
    let secs = ms / 1000;
    if secs >= 3600 {
        format!("+{}h{:02}", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("+{}:{:02}", secs / 60, secs % 60)
    }
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;

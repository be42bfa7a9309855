//! Unit tests of the time → column mapping, planned spans and the viewport.

use super::*;
use crate::tui::fixture::{self, NOW, T0};

fn axis(origin_ms: u64, ms_per_col: u64, width: u16) -> TimeAxis {
    TimeAxis {
        origin_ms,
        ms_per_col,
        width,
    }
}

#[test]
fn column_maps_instants_inside_the_view() {
    let a = axis(10_000, 1_000, 50);
    assert_eq!(a.column(9_999), None);
    assert_eq!(a.column(10_000), Some(0));
    assert_eq!(a.column(10_999), Some(0));
    assert_eq!(a.column(11_000), Some(1));
    assert_eq!(a.column(59_999), Some(49));
    assert_eq!(a.column(60_000), None);
    assert_eq!(a.end_ms(), 60_000);
}

#[test]
fn span_clips_and_never_vanishes() {
    let a = axis(10_000, 1_000, 50);
    assert_eq!(a.span(12_000, 15_000), Some((2, 4)));
    // A 10 ms attempt still shows as one column.
    assert_eq!(a.span(12_000, 12_010), Some((2, 2)));
    // Clipped at both edges.
    assert_eq!(a.span(0, 100_000), Some((0, 49)));
    assert_eq!(a.span(0, 10_000), None);
    assert_eq!(a.span(60_000, 70_000), None);
    assert_eq!(axis(0, 1_000, 0).span(0, 5_000), None);
}

#[test]
fn planned_spans_follow_attempts_then_dependencies() {
    let snap = fixture::mid_run();
    let spans = planned_spans(&snap, NOW, 10_000.0);
    let by_id = |id: &str| {
        let i = snap.tasks.iter().position(|t| t.id == id).expect("task");
        spans[i]
    };
    // T1 started at T0 with 4 effort hours → 40 s planned.
    assert_eq!(by_id("T1"), (T0, T0 + 40_000));
    // T4 started at 38 s.
    assert_eq!(by_id("T4"), (T0 + 38_000, T0 + 78_000));
    // T9 has not started: after its dependencies' planned ends (T4, T5, T7:
    // first started at 38 s, planned 40 s).
    assert_eq!(by_id("T9").0, T0 + 78_000);
    // T14 only needs T9.
    assert_eq!(by_id("T14").0, by_id("T9").1);
}

#[test]
fn unstarted_task_without_deps_is_planned_from_now() {
    let mut snap = fixture::mid_run();
    snap.tasks.retain(|t| t.id == "T9");
    snap.tasks[0].dependencies.clear();
    let spans = planned_spans(&snap, NOW, 10_000.0);
    assert_eq!(spans[0], (NOW, NOW + 40_000));
}

/// A task with no dependencies of its own still waits for the groups its
/// group comes after (the example plan's QA group).
#[test]
fn an_unstarted_task_is_planned_after_the_groups_its_group_waits_for() {
    let mut snap = fixture::mid_run();
    let last = snap
        .tasks
        .iter()
        .position(|t| t.group == "GROUP_E")
        .expect("E");
    snap.tasks[last].dependencies.clear();
    let spans = planned_spans(&snap, NOW, 10_000.0);
    let d_end = (0..snap.tasks.len())
        .filter(|&i| snap.tasks[i].group == "GROUP_D")
        .map(|i| spans[i].1)
        .max()
        .expect("GROUP_D tasks");
    assert!(d_end > NOW);
    assert_eq!(spans[last].0, d_end);
}

#[test]
fn fit_zoom_shows_the_whole_plan() {
    let snap = fixture::mid_run();
    let view = TimelineView::new(DEFAULT_SECONDS_PER_EFFORT_HOUR);
    let a = view.axis(&snap, NOW, 100);
    assert_eq!(a.origin_ms, T0);
    let planned_end = planned_spans(&snap, NOW, 10_000.0)
        .iter()
        .map(|s| s.1)
        .max()
        .expect("tasks");
    assert!(a.end_ms() >= planned_end, "{a:?} ends before {planned_end}");
    assert!(a.column(NOW).is_some());
}

#[test]
fn follow_keeps_now_in_view_when_zoomed_in() {
    let snap = fixture::mid_run();
    let mut view = TimelineView::new(10.0);
    view.zoom = Some(0); // 100 ms per column: 5 s across 50 columns
    let a = view.axis(&snap, NOW, 50);
    let col = a.column(NOW).expect("now visible");
    assert!((37..50).contains(&col), "now at column {col}");
    // A second later the origin jumps in steps, keeping now in view.
    let b = view.axis(&snap, NOW + 1_000, 50);
    assert!(b.column(NOW + 1_000).is_some());
}

#[test]
fn scrolling_stops_following_and_moves_by_columns() {
    let snap = fixture::mid_run();
    let mut view = TimelineView::new(10.0);
    let a = view.axis(&snap, NOW, 100);
    view.scroll(&a, 10);
    assert!(!view.follow);
    let b = view.axis(&snap, NOW, 100);
    assert_eq!(b.origin_ms, a.origin_ms + 10 * a.ms_per_col);
    assert_eq!(b.ms_per_col, a.ms_per_col);
    view.scroll(&b, -5);
    assert_eq!(
        view.axis(&snap, NOW, 100).origin_ms,
        b.origin_ms - 5 * b.ms_per_col
    );
    // Not before the run's start, however far back.
    let c = view.axis(&snap, NOW, 100);
    view.scroll(&c, -1000);
    assert_eq!(view.axis(&snap, NOW, 100).origin_ms, snap.started_ms);
    view.toggle_follow(&b);
    assert!(view.follow);
}

#[test]
fn zoom_steps_through_levels_and_keeps_the_middle() {
    let snap = fixture::mid_run();
    let mut view = TimelineView::new(10.0);
    view.follow = false;
    view.origin_ms = T0;
    view.zoom = Some(3);
    let a = view.axis(&snap, NOW, 100);
    view.zoom_in(&a);
    let b = view.axis(&snap, NOW, 100);
    assert_eq!(b.ms_per_col, ZOOM_LEVELS_MS[2]);
    let mid = |x: &TimeAxis| x.origin_ms + (x.end_ms() - x.origin_ms) / 2;
    assert_eq!(mid(&a), mid(&b));
    view.zoom_out(&b);
    view.zoom_out(&view.axis(&snap, NOW, 100));
    assert_eq!(view.axis(&snap, NOW, 100).ms_per_col, ZOOM_LEVELS_MS[4]);
    let mut top = view.clone();
    for _ in 0..30 {
        let cur = top.axis(&snap, NOW, 100);
        top.zoom_out(&cur);
    }
    assert_eq!(top.zoom, Some(ZOOM_LEVELS_MS.len() - 1));
}

#[test]
fn ticks_are_round_and_spaced() {
    let a = axis(T0, 1_000, 60);
    let t = ticks(&a, T0, 8);
    assert_eq!(t[0], (0, "+0:00".to_string()));
    assert_eq!(t[1], (10, "+0:10".to_string()));
    assert_eq!(t.len(), 6);
    let later = axis(T0 + 3_601_000, 60_000, 60);
    assert_eq!(ticks(&later, T0, 8)[0].1, "+1h10");
    assert_eq!(format_offset(90_000), "+1:30");
}

/// A reopened control room: the run started now, its tasks ran before.
/// The earlier attempts are on the chart.
#[test]
fn earlier_attempts_of_a_reopened_run_are_in_view() {
    let mut snap = fixture::mid_run();
    snap.started_ms = NOW;
    let view = TimelineView::new(DEFAULT_SECONDS_PER_EFFORT_HOUR);
    let a = view.axis(&snap, NOW, 100);
    assert!(a.column(T0).is_some(), "{a:?}");
}

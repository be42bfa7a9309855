//! Which tasks the Workers table shows and in what order: the filter and the
//! sort column, as pure functions over the snapshot's tasks.

use crate::engine::snapshot::{TaskState, TaskView};
use std::cmp::Reverse;

/// The Workers table's sort column; `o` cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// The plan's dependency order, as the engine lists tasks.
    #[default]
    Plan,
    /// Attention first, then active, waiting to start, finished.
    State,
    Group,
    /// Longest-running first.
    Elapsed,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Plan => SortKey::State,
            SortKey::State => SortKey::Group,
            SortKey::Group => SortKey::Elapsed,
            SortKey::Elapsed => SortKey::Plan,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Plan => "plan order",
            SortKey::State => "state",
            SortKey::Group => "group",
            SortKey::Elapsed => "elapsed",
        }
    }
}

/// How urgent a state is for a person, for the state sort.
fn state_rank(state: TaskState) -> u8 {
    if state.needs_attention() {
        0
    } else if state.is_active() {
        1
    } else if state == TaskState::Halted {
        2
    } else if !state.is_final() {
        3
    } else {
        4
    }
}

/// From the first attempt's start to the last one's end, or to `now_ms` while
/// a worker may still be running; None before the first attempt.
pub fn task_elapsed_ms(task: &TaskView, now_ms: u64) -> Option<u64> {
    // The current (or last) attempt: a restart starts the clock again, and
    // attempts of earlier runs do not count.
    let last = task.attempts.last()?;
    let end = match last.ended_ms {
        Some(end) if !task.state.is_active() => end,
        _ => now_ms,
    };
    Some(end.saturating_sub(last.started_ms))
}

/// Case-insensitive substring match over id, title, group, profile, state
/// and the host its worker runs on.
pub fn matches(task: &TaskView, needle_lower: &str) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    [
        task.id.as_str(),
        task.title.as_str(),
        task.group.as_str(),
        task.profile.as_str(),
        task.state.as_str(),
        task.host.as_deref().unwrap_or_default(),
    ]
    .iter()
    .any(|field| field.to_lowercase().contains(needle_lower))
}

/// Indices into `tasks` of the rows to show, filtered and sorted. The sorts
/// are stable, so equal keys keep plan order.
pub fn visible_rows(tasks: &[TaskView], filter: &str, sort: SortKey, now_ms: u64) -> Vec<usize> {
    let needle = filter.to_lowercase();
    let mut rows: Vec<usize> = (0..tasks.len())
        .filter(|&i| matches(&tasks[i], &needle))
        .collect();
    match sort {
        SortKey::Plan => {}
        SortKey::State => rows.sort_by_key(|&i| state_rank(tasks[i].state)),
        SortKey::Group => rows.sort_by(|&a, &b| tasks[a].group.cmp(&tasks[b].group)),
        SortKey::Elapsed => {
            rows.sort_by_key(|&i| Reverse(task_elapsed_ms(&tasks[i], now_ms)));
        }
    }
    rows
}

/// Rows that do not all fit in `room`: in plan order, tasks that finished
/// well (done, skipped, cancelled) go after the rest, so a small terminal
/// shows the work in progress. Whether any moved.
pub fn finished_last(tasks: &[TaskView], rows: &mut [usize], room: usize) -> bool {
    if rows.len() <= room {
        return false;
    }
    let finished = |i: usize| tasks[i].state.is_final() && !tasks[i].state.needs_attention();
    let before = rows.to_vec();
    rows.sort_by_key(|&i| finished(i));
    rows != before.as_slice()
}

/// A compact duration: `42s`, `3m05s`, `1h02m`.
pub fn format_duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// A clock-style duration for the header: `00:12:34`.
pub fn format_clock(ms: u64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::snapshot::{AttemptSpan, Light};

    fn task(id: &str, group: &str, state: TaskState, started: Option<u64>) -> TaskView {
        TaskView {
            id: id.into(),
            title: format!("Title of {id}"),
            group: group.into(),
            priority: "HIGH".into(),
            effort_hours: Some(2.0),
            dependencies: vec![],
            profile: "backend-engineer".into(),
            state,
            light: Light::Idle,
            attempt: 1,
            restarts: 0,
            attempts: started
                .map(|s| AttemptSpan {
                    attempt: 1,
                    profile: "backend-engineer".into(),
                    started_ms: s,
                    ended_ms: None,
                    outcome: None,
                    pauses: Vec::new(),
                    usage: None,
                })
                .into_iter()
                .collect(),
            last_line: String::new(),
            message: None,
            pane_id: None,
            session: None,
            worktree: None,
            branch: None,
            host: None,
            agent_state: None,
            usage: None,
            selected: false,
        }
    }

    fn tasks() -> Vec<TaskView> {
        vec![
            task("T1", "GROUP_B", TaskState::Done, Some(0)),
            task("T2", "GROUP_A", TaskState::Running, Some(500)),
            task("T3", "GROUP_A", TaskState::Failed, Some(100)),
            task("T4", "GROUP_C", TaskState::Pending, None),
            task("T5", "GROUP_A", TaskState::Waiting, Some(900)),
        ]
    }

    #[test]
    fn filter_is_case_insensitive_over_all_fields() {
        let t = tasks();
        assert_eq!(
            visible_rows(&t, "group_a", SortKey::Plan, 1000),
            vec![1, 2, 4]
        );
        assert_eq!(visible_rows(&t, "FAILED", SortKey::Plan, 1000), vec![2]);
        assert_eq!(
            visible_rows(&t, "title of t4", SortKey::Plan, 1000),
            vec![3]
        );
        assert_eq!(visible_rows(&t, "BACKEND", SortKey::Plan, 1000).len(), 5);
        let mut t = t;
        t[3].host = Some("big1".into());
        assert_eq!(visible_rows(&t, "BIG1", SortKey::Plan, 1000), vec![3]);
        assert!(visible_rows(&t, "zzz", SortKey::Plan, 1000).is_empty());
    }

    #[test]
    fn sorts_are_stable_and_keyed() {
        let t = tasks();
        assert_eq!(
            visible_rows(&t, "", SortKey::Plan, 1000),
            vec![0, 1, 2, 3, 4]
        );
        // attention (T3 failed, T5 waiting), active (T2), pending (T4), final (T1)
        assert_eq!(
            visible_rows(&t, "", SortKey::State, 1000),
            vec![2, 4, 1, 3, 0]
        );
        assert_eq!(
            visible_rows(&t, "", SortKey::Group, 1000),
            vec![1, 2, 4, 0, 3]
        );
        // T1 and T3 have no end, so they count to now: T1 1000, T3 900, T2 500, T5 100
        assert_eq!(
            visible_rows(&t, "", SortKey::Elapsed, 1000),
            vec![0, 2, 1, 4, 3]
        );
    }

    #[test]
    fn sort_key_cycles_through_all() {
        let mut k = SortKey::Plan;
        for _ in 0..4 {
            k = k.next();
        }
        assert_eq!(k, SortKey::Plan);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(42_000), "42s");
        assert_eq!(format_duration(185_000), "3m05s");
        assert_eq!(format_duration(3_720_000), "1h02m");
        assert_eq!(format_clock(3_723_000), "01:02:03");
    }
}

//! Snapshots for tests, screenshots and the render benchmark: a hand-made run
//! of the example plan (22 tasks, GROUP_A..E) that shows every light at once,
//! and a large synthetic run for the benchmark, at fixed times so screens are
//! stable. (The screen tests replay a recorded run: [`crate::testdata`].)
//! Test support: built for tests and with the `fixtures` feature only.

use crate::engine::host_link::HostView;
use crate::engine::snapshot::{
    AttemptOutcome, AttemptSpan, GroupView, HaltReport, HaltWorker, Light, LogLevel, LogLine,
    RunPhase, Snapshot, TaskState, TaskView,
};

/// 2023-11-14 22:13:20 UTC: the fixture run's start.
pub const T0: u64 = 1_700_000_000_000;
/// The fixture's "now": 75 s into the run.
pub const NOW: u64 = T0 + 75_000;

/// The example plan's tasks, one a line: id | title | group | effort hours |
/// profile | dependencies.
const PLAN: &str = "\
T1  | PostgreSQL Schema Design         | GROUP_A | 4 | database-engineer    |
T2  | Error Recovery Service Interface | GROUP_A | 3 | backend-engineer     |
T3  | API v2 Router Scaffolding        | GROUP_A | 3 | backend-engineer     |
T16 | React Dashboard Scaffolding      | GROUP_A | 4 | frontend-engineer    |
T4  | Retry Engine Implementation      | GROUP_B | 4 | backend-engineer     | T1 T2
T5  | Circuit Breaker Service          | GROUP_B | 4 | backend-engineer     | T1 T2
T6  | Dead Letter Queue Service        | GROUP_B | 3 | backend-engineer     | T1 T2
T7  | Scheduler Core Engine            | GROUP_B | 4 | backend-engineer     | T1 T2
T8  | API Versioning Middleware        | GROUP_B | 2 | backend-engineer     | T1 T2
T9  | Error Recovery Endpoints         | GROUP_C | 4 | backend-engineer     | T4 T5 T6 T7 T8
T10 | Scheduler Endpoints              | GROUP_C | 4 | backend-engineer     | T4 T5 T6 T7 T8
T11 | Webhook Service                  | GROUP_C | 3 | backend-engineer     | T4 T5 T6 T7 T8
T12 | Batch Operations API             | GROUP_C | 3 | backend-engineer     | T4 T5 T6 T7 T8
T13 | WebSocket Event Streaming        | GROUP_D | 4 | backend-engineer     | T9 T10
T14 | Metrics Collection Service       | GROUP_D | 4 | backend-engineer     | T9
T15 | Dashboard Backend API            | GROUP_D | 4 | backend-engineer     | T10 T11
T17 | Gantt Chart Component            | GROUP_D | 4 | frontend-engineer    | T15 T16
T18 | Analytics Dashboard              | GROUP_D | 4 | frontend-engineer    | T14 T15
T19 | Real-time Update Integration     | GROUP_D | 4 | frontend-engineer    | T13 T17 T18
T20 | Rate Limiting Middleware         | GROUP_E | 2 | backend-engineer     | T8 T9
T21 | Integration Testing Suite        | GROUP_E | 6 | qa-engineer          | T13 T14 T15 T17 T18 T19
T22 | Performance Validation           | GROUP_E | 4 | performance-engineer | T13 T14 T15 T17 T18 T19
";

/// (attempt, profile, start s, end s, outcome) relative to T0.
type Span = (u32, &'static str, u64, Option<u64>, Option<AttemptOutcome>);

/// What has happened to each started task by NOW.
#[rustfmt::skip]
fn progress(id: &str) -> Option<(TaskState, Light, u32, Vec<Span>, &'static str)> {
    use AttemptOutcome::*;
    use TaskState as S;
    let be = "backend-engineer";
    Some(match id {
        "T1" => (S::Done, Light::Idle, 0, vec![(1, "database-engineer", 0, Some(38), Some(Done))], "committed 001_error_recovery_and_scheduling.sql"),
        "T2" => (S::Done, Light::Idle, 0, vec![(1, be, 0, Some(29), Some(Done))], "switchboard report done"),
        "T3" => (S::Failed, Light::Idle, 2, vec![
            (1, be, 0, Some(12), Some(Crashed)),
            (2, be, 13, Some(25), Some(Failed)),
            (3, "generalist", 26, Some(33), Some(Failed)),
        ], "error: cannot find module 'router/v2'"),
        "T16" => (S::Waiting, Light::Waiting, 0, vec![(1, "frontend-engineer", 0, None, None)], "? Use Vite or Next.js for the dashboard shell? (y/n)"),
        "T4" => (S::Running, Light::Healthy, 0, vec![(1, be, 38, None, None)], "writing src/retry/backoff.rs"),
        "T5" => (S::Running, Light::Late, 1, vec![(1, be, 38, Some(47), Some(Crashed)), (2, be, 49, None, None)], "running cargo test -p breaker"),
        "T6" => (S::Running, Light::Dead, 0, vec![(1, be, 38, None, None)], "Compiling dlq v0.1.0"),
        "T7" => (S::Running, Light::Stalled, 1, vec![(1, be, 38, Some(52), Some(Crashed)), (2, be, 54, None, None)], "thinking…"),
        "T8" => (S::Conflict, Light::Idle, 0, vec![(1, be, 38, Some(58), Some(Conflict))], "merge conflict in src/api/mod.rs"),
        _ => return None,
    })
}

fn task_view(index: usize, row: &str) -> TaskView {
    let fields: Vec<&str> = row.split('|').map(str::trim).collect();
    let field = |n: usize| fields.get(n).copied().unwrap_or_default();
    let id = field(0);
    let effort: f64 = field(3).parse().unwrap_or(1.0);
    let mut task = TaskView {
        id: id.into(),
        title: field(1).into(),
        group: field(2).into(),
        priority: if effort >= 4.0 { "CRITICAL" } else { "HIGH" }.into(),
        effort_hours: Some(effort),
        dependencies: field(5).split_whitespace().map(str::to_string).collect(),
        profile: field(4).into(),
        state: TaskState::Pending,
        light: Light::Idle,
        attempt: 0,
        restarts: 0,
        attempts: Vec::new(),
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
    };
    if let Some((state, light, restarts, spans, last_line)) = progress(id) {
        task.state = state;
        task.light = light;
        task.restarts = restarts;
        task.attempts = spans
            .into_iter()
            .map(|(attempt, profile, start, end, outcome)| AttemptSpan {
                attempt,
                profile: profile.into(),
                started_ms: T0 + start * 1000,
                ended_ms: end.map(|e| T0 + e * 1000),
                outcome,
                pauses: Vec::new(),
                usage: None,
            })
            .collect();
        task.attempt = task.attempts.len() as u32;
        if let Some(last) = task.attempts.last() {
            task.profile = last.profile.clone();
        }
        task.last_line = last_line.into();
        task.pane_id = Some(format!("%{}", index + 1));
        task.session = Some(format!("sb-{id}"));
        task.worktree = Some(format!(
            ".switchboard/workspaces/agent-{id}-{}",
            task.profile
        ));
        task.branch = Some(format!("agent/{id}/{}", task.profile));
    }
    task
}

/// The engine's account of the run, one line each: seconds after T0 |
/// level | task (or -) | text.
const EVENTS: &str = "\
0  | info  | -   | run started: 22 tasks in 5 groups, up to 8 workers
0  | info  | -   | group GROUP_A (Foundation) selected
0  | info  | T1  | T1 started: database-engineer, attempt 1
0  | info  | T2  | T2 started: backend-engineer, attempt 1
0  | info  | T3  | T3 started: backend-engineer, attempt 1
0  | info  | T16 | T16 started: frontend-engineer, attempt 1
12 | warn  | T3  | T3 crashed (exit 1); restarting in 1s (restart 1 of 2)
13 | info  | T3  | T3 started: backend-engineer, attempt 2
25 | warn  | T3  | T3 failed: validation found no src/api/v2/router.rs
26 | info  | T3  | T3 escalated to fallback profile generalist, attempt 3
29 | info  | T2  | T2 reported DONE; validation passed
29 | info  | T2  | T2 merged into switchboard/integration
33 | error | T3  | T3 FAILED after 3 attempts: error: cannot find module 'router/v2'
38 | info  | T1  | T1 reported DONE; validation passed
38 | info  | T1  | T1 merged into switchboard/integration
38 | info  | -   | group GROUP_B (Core Services) open: dependencies merged
38 | info  | T4  | T4 started: backend-engineer, attempt 1
38 | info  | T5  | T5 started: backend-engineer, attempt 1
38 | info  | T6  | T6 started: backend-engineer, attempt 1
38 | info  | T7  | T7 started: backend-engineer, attempt 1
38 | info  | T8  | T8 started: backend-engineer, attempt 1
40 | warn  | T16 | T16 is waiting: \"Use Vite or Next.js for the dashboard shell?\"
47 | warn  | T5  | T5 heartbeat DEAD; restarting in 1s (restart 1 of 2)
49 | info  | T5  | T5 started: backend-engineer, attempt 2
52 | warn  | T7  | T7 crashed (signal 9); restarting in 1s (restart 1 of 2)
54 | info  | T7  | T7 started: backend-engineer, attempt 2
58 | error | T8  | T8 CONFLICT merging into switchboard/integration: src/api/mod.rs
66 | warn  | T6  | T6 heartbeat MISSING (no beat for 5s)
71 | warn  | T5  | T5 heartbeat LATE
74 | warn  | T6  | T6 heartbeat DEAD; checking its pane
";

fn log_line(row: &str) -> LogLine {
    let fields: Vec<&str> = row.splitn(4, '|').map(str::trim).collect();
    let field = |n: usize| fields.get(n).copied().unwrap_or_default();
    LogLine {
        ts_ms: T0 + field(0).parse::<u64>().unwrap_or(0) * 1000,
        level: match field(1) {
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => LogLevel::Info,
        },
        task: Some(field(2)).filter(|t| *t != "-").map(str::to_string),
        text: field(3).into(),
    }
}

/// The example plan 75 s into a run: done, running under every light,
/// waiting, failed after restarts and a fallback, and a merge conflict.
pub fn mid_run() -> Snapshot {
    let groups = [
        ("GROUP_A", "Foundation", &[][..]),
        ("GROUP_B", "Core Services", &["GROUP_A"][..]),
        ("GROUP_C", "API Endpoints", &["GROUP_B"][..]),
        ("GROUP_D", "Integration & Real-time", &["GROUP_C"][..]),
        ("GROUP_E", "Finalization & Testing", &["GROUP_D"][..]),
    ];
    Snapshot {
        plan_name: "dispatcher.example".into(),
        integration_branch: "switchboard/integration".into(),
        tmux_socket: Some("switchboard".into()),
        phase: RunPhase::Running,
        started_ms: T0,
        now_ms: NOW,
        groups: groups
            .iter()
            .map(|(id, title, after)| GroupView {
                id: (*id).into(),
                title: (*title).into(),
                after: after.iter().map(|a| a.to_string()).collect(),
            })
            .collect(),
        tasks: PLAN
            .lines()
            .enumerate()
            .map(|(i, row)| task_view(i, row))
            .collect(),
        log_tail: EVENTS.lines().map(log_line).collect(),
        log_total: EVENTS.lines().count() as u64,
        last_halt: None,
        limits: Default::default(),
        pools: Vec::new(),
        hosts: Vec::new(),
        local_capacity: None,
    }
}

/// [`mid_run`] spread over this machine and two hosts (issue 14): `big1`
/// answers, `big2` has not since 62 s into the run (its T6 went DEAD).
pub fn on_hosts() -> Snapshot {
    let mut snap = mid_run();
    let placed = [
        ("T1", "big1"),
        ("T3", "big2"),
        ("T4", "big1"),
        ("T5", "big1"),
        ("T6", "big2"),
    ];
    for task in &mut snap.tasks {
        task.host = placed
            .iter()
            .find(|(id, _)| *id == task.id)
            .map(|(_, host)| host.to_string());
    }
    let host = |name: &str, reachable: bool, workers, capacity, load| HostView {
        name: name.into(),
        reachable,
        since_ms: if reachable { T0 } else { T0 + 62_000 },
        why: (!reachable)
            .then(|| "ssh: connect to host 10.77.0.3 port 22: No route to host".into()),
        workers,
        capacity,
        load,
        ssh: [
            "ssh",
            "-o",
            "ControlMaster=auto",
            "-o",
            &format!("ControlPath=/run/user/1000/switchboard/ssh-{name}-1a2b3c4d.sock"),
            "-o",
            "BatchMode=yes",
            &format!("dev@{name}"),
        ]
        .map(String::from)
        .to_vec(),
        tmux_socket: format!("sb-3f2a-{name}"),
    };
    snap.hosts = vec![
        host("big1", true, 2, 16, Some(1.23)),
        host("big2", false, 1, 8, None),
    ];
    snap.local_capacity = Some(4);
    snap
}

/// The report of halting the fixture's five live workers.
pub fn halt_report() -> HaltReport {
    let workers = [
        ("T4", 41, 212, "SIGINT"),
        ("T5", 38, 180, "SIGINT"),
        ("T6", 0, 2_230, "tmux"),
        ("T7", 52, 2_105, "SIGTERM"),
        ("T16", 35, 160, "SIGINT"),
    ];
    HaltReport {
        halt_id: 1,
        total_workers: workers.len(),
        acks_received: 4,
        acks_failed: 1,
        stopped: workers.len(),
        workers: workers
            .iter()
            .map(|(task, ack, stop, signal)| HaltWorker {
                task: (*task).into(),
                host: None,
                acked: *ack > 0,
                ack_ms: (*ack > 0).then_some(*ack as f64),
                stop_ms: Some(*stop as f64),
                signal: (*signal).into(),
            })
            .collect(),
        all_acked: false,
        total_latency_ms: 2_230.0,
    }
}

/// [`halt_report`] over [`on_hosts`]: big2 did not answer, so its worker
/// neither acknowledged nor was stopped.
pub fn halt_report_on_hosts() -> HaltReport {
    let mut report = halt_report();
    let on_hosts = on_hosts();
    for w in &mut report.workers {
        let task = on_hosts.tasks.iter().find(|t| t.id == w.task);
        w.host = task.and_then(|t| t.host.clone());
        if w.host.as_deref() == Some("big2") {
            w.stop_ms = None;
            w.signal = String::new();
        }
    }
    report.stopped = report
        .workers
        .iter()
        .filter(|w| w.stop_ms.is_some())
        .count();
    report
}

/// A large run for the benchmark: `workers` tasks cycling through every state
/// and light, and a full log history of `log_lines`.
pub fn large(workers: usize, log_lines: usize) -> Snapshot {
    let mut snap = mid_run();
    let base: Vec<TaskView> = snap.tasks.clone();
    snap.tasks = (0..workers)
        .map(|i| {
            let mut t = base[i % base.len()].clone();
            t.id = format!("W{i}");
            t.group = format!("GROUP_{}", (b'A' + (i % 5) as u8) as char);
            t.dependencies.clear();
            t
        })
        .collect();
    snap.log_tail = (0..log_lines)
        .map(|i| LogLine {
            ts_ms: T0 + i as u64 * 10,
            level: LogLevel::Info,
            task: Some(format!("W{}", i % workers.max(1))),
            text: format!(
                "W{} heartbeat HEALTHY after a long and detailed line {i}",
                i % workers.max(1)
            ),
        })
        .collect();
    snap.log_total = log_lines as u64;
    snap
}

/// A task's changes as git gives them: one file changed, one added (with a
/// tab and an escape sequence in its text).
pub fn branch_diff() -> crate::git::BranchDiff {
    let patch = "\
diff --git a/src/retry.rs b/src/retry.rs
index 1111111..2222222 100644
--- a/src/retry.rs
+++ b/src/retry.rs
@@ -3,4 +3,5 @@ fn backoff()
 let base = 100;
-let max = 1000;
+let max = 30_000;
+let jitter = true;
 return base;
diff --git a/notes.md b/notes.md
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/notes.md
@@ -0,0 +1 @@
+retry\twith \x1b[31mbackoff
\\ No newline at end of file";
    crate::git::BranchDiff {
        base: crate::git::DiffBase::Integration,
        files: vec![
            crate::git::FileStat {
                path: "src/retry.rs".into(),
                added: Some(2),
                removed: Some(1),
            },
            crate::git::FileStat {
                path: "notes.md".into(),
                added: Some(1),
                removed: Some(0),
            },
        ],
        patch: patch.lines().map(str::to_string).collect(),
        cut: false,
        command: "git diff switchboard/integration...agent/T4/dev".into(),
        uncommitted: Vec::new(),
    }
}

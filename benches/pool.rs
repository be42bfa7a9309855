//! `cargo bench --bench pool [-- --tasks 100 --workers 8 --seconds 1 --typed]`:
//! a persistent worker pool through the real binary, to the end. N
//! independent sim tasks of S seconds each go to a pool of W workers on a
//! private tmux server. What it measures is dispatch latency: how long a
//! ready task waits for its start once a worker is idle, from the journal.
//! Every task is ready from the run's start, so each later task's wait
//! begins when its worker let go of the one before (that task's `done`)
//! and ends when the worker's worktree is on the task's branch with its
//! instruction written and its agent started in its session (`spawned`),
//! and then when the agent says it started (its `START` report: the shim
//! and the agent process up, their first words over the sockets). A
//! worker's first task is counted apart (its session and worktree are new).
//!
//! `--typed`: the workers' agent is an interactive one (a shell loop at a
//! `ready>` prompt that runs the sim agent for each line typed to it), so
//! after its first task each worker is typed its next one, its shim told
//! whose it is now, instead of started again.
//!
//! Prints one JSON object. Not a test: nothing is asserted.

use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use switchboard::engine::event::{Entry, Event};
use switchboard::engine::journal;
use switchboard::engine::snapshot::TaskState;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: f64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(default)
    };
    let tasks = flag("--tasks", 100.0).max(1.0) as usize;
    let workers = flag("--workers", 8.0).clamp(1.0, 64.0) as usize;
    let seconds = flag("--seconds", 1.0).max(0.0);
    let typed = args.iter().any(|a| a == "--typed");
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = make_repo(dir.path(), tasks, workers, seconds, typed);
    let runtime = dir.path().join("run");
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    let tmux = format!("sbpool-{}", std::process::id());
    let _guard = switchboard::tmux::PrivateServer::named(tmux.clone());

    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["--batch-group", "G1"])
        .current_dir(&repo)
        .env("SWITCHBOARD_TMUX_SOCKET", &tmux)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("TMUX")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run switchboard");
    let wall_s = started.elapsed().as_secs_f64();
    let sessions = sessions(&tmux);

    let entries = journal::read(&repo.join(".switchboard/journal.jsonl")).unwrap_or_default();
    let m = Measures::of(&entries);
    let report = json!({
        "tasks": tasks,
        "workers": workers,
        "task_seconds": seconds,
        "how": if typed { "typed into a live agent" } else { "agent started again in its session" },
        "wall_s": round2(wall_s),
        "exit_code": status.code(),
        "merged": m.done,
        "dispatches": m.dispatches,
        "dispatched_by": m.how,
        "idle_worker_to_started_ms": stats(m.to_spawned),
        "idle_worker_to_agent_start_report_ms": stats(m.to_report),
        "first_task_per_worker_to_started_ms": stats(m.first_to_spawned),
        "tmux_sessions_left_at_exit": sessions,
        "machine": {
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "loadavg_1m_at_end": loadavg(),
        },
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
}

/// A repository with the plan: `tasks` independent tasks in one group, a
/// pool of `workers`.
fn make_repo(dir: &Path, tasks: usize, workers: usize, seconds: f64, typed: bool) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).expect("repo dir");
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["config", "user.name", "bench"]);
    git(&["config", "user.email", "bench@example.invalid"]);
    let sim = format!("switchboard sim-agent --duration {seconds}");
    let agent = if typed {
        format!(
            "    command: \"printf 'ready> '; while IFS= read -r line; do env -u SWITCHBOARD_TASK -u SWITCHBOARD_TITLE -u SWITCHBOARD_OUTPUTS -u SWITCHBOARD_ATTEMPT {sim}; printf 'ready> '; done\"\n    typePrompt: go\n    screen: {{ idle: [\"ready>\"] }}\n"
        )
    } else {
        format!("    command: \"{sim}\"\n")
    };
    let mut plan = format!(
        "settings:\n  maxParallel: {workers}\n  restart: {{ maxRestarts: 0 }}\n  maxFallbacks: 0\n  pool: {{ size: {workers}, profile: sim }}\nagents:\n  sim:\n{agent}groups:\n  - id: G1\ntasks:\n"
    );
    for i in 1..=tasks {
        plan.push_str(&format!(
            "  - {{ taskId: T{i}, title: task {i}, group: G1, outputs: [{{ path: out/t{i}.txt }}] }}\n"
        ));
    }
    std::fs::write(repo.join("dispatcher.yaml"), plan).expect("plan");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "bench"]);
    repo
}

/// A worker's dispatch: when, the task, its attempt.
type Dispatch = (u64, String, u32);

#[derive(Default)]
struct Measures {
    done: usize,
    dispatches: usize,
    how: BTreeMap<String, usize>,
    to_spawned: Vec<f64>,
    to_report: Vec<f64>,
    first_to_spawned: Vec<f64>,
}

impl Measures {
    fn of(entries: &[Entry]) -> Measures {
        let mut m = Measures::default();
        let run_start = entries.first().map_or(0, |e| e.ts_ms);
        // Per task: when it was done, when its attempt's agent said START.
        let mut done: BTreeMap<String, u64> = BTreeMap::new();
        let mut started: BTreeMap<(String, u32), u64> = BTreeMap::new();
        // Per worker, its dispatches in order: (when, task, attempt).
        let mut by_worker: BTreeMap<(String, u32), Vec<Dispatch>> = BTreeMap::new();
        for e in entries {
            let task = e.task.clone().unwrap_or_default();
            let attempt = e.attempt.unwrap_or(0);
            match &e.event {
                Event::State {
                    state: TaskState::Done,
                    ..
                } => {
                    done.insert(task, e.ts_ms);
                    m.done += 1;
                }
                Event::Report { state, .. } if state.as_str() == "START" => {
                    started.entry((task, attempt)).or_insert(e.ts_ms);
                }
                Event::PoolDispatched {
                    pool, worker, how, ..
                } => {
                    m.dispatches += 1;
                    *m.how.entry(how.clone()).or_default() += 1;
                    by_worker
                        .entry((pool.clone(), *worker))
                        .or_default()
                        .push((e.ts_ms, task, attempt));
                }
                _ => {}
            }
        }
        for list in by_worker.values() {
            for (k, (at, task, attempt)) in list.iter().enumerate() {
                let idle_since = match k {
                    0 => run_start,
                    _ => match done.get(&list[k - 1].1) {
                        Some(&d) => d,
                        None => continue,
                    },
                };
                let waited = at.saturating_sub(idle_since) as f64;
                if k == 0 {
                    m.first_to_spawned.push(waited);
                    continue;
                }
                m.to_spawned.push(waited);
                if let Some(&s) = started.get(&(task.clone(), *attempt)) {
                    m.to_report.push(s.saturating_sub(idle_since) as f64);
                }
            }
        }
        m
    }
}

fn stats(mut xs: Vec<f64>) -> serde_json::Value {
    if xs.is_empty() {
        return json!({ "n": 0 });
    }
    xs.sort_by(f64::total_cmp);
    let at = |q: f64| xs[((xs.len() as f64 - 1.0) * q).round() as usize];
    json!({
        "n": xs.len(),
        "p50": at(0.5),
        "p99": at(0.99),
        "max": xs[xs.len() - 1],
        "mean": round2(xs.iter().sum::<f64>() / xs.len() as f64),
    })
}

fn sessions(tmux: &str) -> Vec<String> {
    Command::new("tmux")
        .args(["-L", tmux, "list-sessions", "-F", "#{session_name}"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

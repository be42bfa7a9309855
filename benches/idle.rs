//! `cargo bench --bench idle [-- --workers N --window SECONDS]`: what idle
//! workers cost. Starts the engine in this process on a private tmux server
//! with N (default 100) sim agents that hang silently, waits until every one
//! is running with a HEALTHY light, lets the spawn settle, then measures CPU
//! time over a window (default 30 s; also `SWITCHBOARD_IDLE_WINDOW_S`): this
//! process (the engine, its runtime and its tracing), the git and tmux
//! one-offs it spawned and reaped, its tmux control client, the tmux server,
//! the shims and the agents. Prints one JSON object. Not a test: nothing here
//! is asserted, and a shared machine moves every figure.

use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use switchboard::engine::command::Command as EngineCommand;
use switchboard::engine::snapshot::{Light, Snapshot, TaskState};
use switchboard::engine::{self, EngineOptions};
use switchboard::tmux::PrivateServer;

/// After the last worker turned HEALTHY, at least this long for the agents'
/// `report start` and the first pane captures; and then until the engine's
/// spawn-time git work is over (see `settle`), at most `SETTLE_LIMIT`.
const SETTLE_MIN: Duration = Duration::from_secs(5);
const SETTLE_LIMIT: Duration = Duration::from_secs(300);
/// Settled: the engine's reaped children (git, tmux one-offs) used at most
/// this many clock ticks over the last `QUIET_FOR` seconds.
const QUIET_TICKS: u64 = 3;
const QUIET_FOR: usize = 4;
const SPAWN_LIMIT: Duration = Duration::from_secs(600);
/// Idle means silent: no worker may turn STALLED during the window.
const STALL_AFTER_MS: u64 = 3_600_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|n| n.parse::<f64>().ok())
    };
    let workers = flag("--workers").map_or(100, |n| n as usize).max(1);
    let window = flag("--window")
        .or_else(|| {
            std::env::var("SWITCHBOARD_IDLE_WINDOW_S")
                .ok()
                .and_then(|s| s.parse().ok())
        })
        .unwrap_or(30.0)
        .max(1.0);
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime_dir = dir.path().join("run");
    std::fs::create_dir_all(&runtime_dir).expect("runtime dir");
    // The engine and shim sockets go under the temp dir, and the tmux server
    // (started by this process) passes the variable on to every pane, which
    // is how the bench finds its own processes in /proc.
    // SAFETY: no other thread exists yet (the runtime is built below).
    unsafe {
        std::env::set_var("XDG_RUNTIME_DIR", &runtime_dir);
        std::env::remove_var("TMUX");
    }
    let repo = make_repo(dir.path(), workers);
    let _log = switchboard::logging::init(&repo);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let server = PrivateServer::new("sbidle");
    let marker = format!("XDG_RUNTIME_DIR={}", runtime_dir.display());
    let bench = Bench {
        repo,
        marker,
        server,
        workers,
        window: Duration::from_secs_f64(window),
    };
    let result = runtime.block_on(bench.run());
    drop(runtime);
    let left = bench.clean_up();
    match result {
        Ok(mut report) => {
            report["left_over_processes"] = json!(left);
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        // Returning (not exiting) lets the tmux server and temp dir go.
        Err(e) => {
            eprintln!("idle bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A repository with a plan of `workers` tasks whose agents print one line and
/// then hang until they are stopped.
fn make_repo(dir: &Path, workers: usize) -> PathBuf {
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
    let mut tasks = String::new();
    for i in 1..=workers {
        tasks.push_str(&format!(
            "  - {{ taskId: W{i}, title: worker {i}, group: G1, agent: {{ type: idle }}, outputs: [{{ path: w{i}.txt }}] }}\n"
        ));
    }
    // Heartbeat settings are the defaults (a beat every 1000 ms).
    let plan = format!(
        "settings:\n  maxParallel: {workers}\n  stallAfterMs: {STALL_AFTER_MS}\n  restart: {{ maxRestarts: 0 }}\n  maxFallbacks: 0\nagents:\n  idle: {{ command: \"switchboard sim-agent --hang\" }}\ngroups:\n  - id: G1\ntasks:\n{tasks}"
    );
    std::fs::write(repo.join("dispatcher.yaml"), plan).expect("plan");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "idle bench"]);
    repo
}

struct Bench {
    repo: PathBuf,
    /// The environment entry every process of this bench carries.
    marker: String,
    server: PrivateServer,
    workers: usize,
    window: Duration,
}

impl Bench {
    async fn run(&self) -> Result<serde_json::Value, String> {
        let (plan, _) =
            switchboard::plan::load(&self.repo.join("dispatcher.yaml")).map_err(|diags| {
                let lines: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
                format!("the bench plan is invalid:\n{}", lines.join("\n"))
            })?;
        let options = EngineOptions {
            repo_root: self.repo.clone(),
            plan,
            plan_name: "dispatcher.yaml".into(),
            tmux_socket: Some(self.server.name().to_string()),
            exe: PathBuf::from(env!("CARGO_BIN_EXE_switchboard")),
            select: (0..self.workers).collect(),
            exit_when_done: false,
            wait_on_halt: false,
        };
        let spawn_start = Instant::now();
        let engine = engine::start(options)
            .await
            .map_err(|e| format!("starting the engine: {e:#}"))?;
        let measured = self.measure(&engine, spawn_start).await;
        // Stop every worker (the halt cascade), then the engine.
        let stopped = tokio::time::timeout(
            Duration::from_secs(60),
            engine.link.call(EngineCommand::Shutdown { halt: true }),
        )
        .await;
        if stopped.is_err() {
            eprintln!("idle bench: the engine did not answer the shutdown within 60 s");
        }
        let done = tokio::time::timeout(Duration::from_secs(60), engine.done).await;
        if !matches!(done, Ok(Ok(_))) {
            eprintln!("idle bench: the engine did not stop cleanly");
        }
        measured
    }

    async fn measure(
        &self,
        engine: &engine::Engine,
        spawn_start: Instant,
    ) -> Result<serde_json::Value, String> {
        let mut last_report = Instant::now();
        loop {
            let snap = engine.link.latest();
            if healthy(&snap) == self.workers {
                break;
            }
            if let Some(t) = snap.tasks.iter().find(|t| {
                matches!(
                    t.state,
                    TaskState::Failed | TaskState::Done | TaskState::Cancelled
                )
            }) {
                return Err(format!(
                    "{} ended before the measurement ({:?}: {})",
                    t.id,
                    t.state,
                    t.message.as_deref().unwrap_or("no message")
                ));
            }
            if spawn_start.elapsed() > SPAWN_LIMIT {
                return Err(format!("not every worker healthy: {:?}", counts(&snap)));
            }
            if last_report.elapsed() > Duration::from_secs(5) {
                eprintln!("idle bench: waiting: {:?}", counts(&snap));
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let spawn_all_s = spawn_start.elapsed().as_secs_f64();
        let settle_start = Instant::now();
        let settled = settle().await;
        let settle_s = settle_start.elapsed().as_secs_f64();

        let tmux_server = self.tmux_server_pid();
        let before = Sample::take(self, tmux_server);
        let started = Instant::now();
        tokio::time::sleep(self.window).await;
        let after = Sample::take(self, tmux_server);
        let window_s = started.elapsed().as_secs_f64();

        let snap = engine.link.latest();
        let tck = clock_ticks_per_s();
        let pct = |ticks: u64| round2(ticks as f64 / tck / window_s * 100.0);
        let delta = |group: Group| {
            let (ticks, procs) = after.delta(&before, group);
            (pct(ticks), procs)
        };
        let (shims, shims_seen) = delta(Group::Shim);
        let (agents, agents_seen) = delta(Group::Agent);
        let (tmux, _) = delta(Group::TmuxServer);
        let (control, _) = delta(Group::ControlClient);
        let switches = after.switches.saturating_sub(before.switches);
        Ok(json!({
            "workers": self.workers,
            "window_s": round2(window_s),
            "engine_cpu_pct_of_one_core": pct(after.own.saturating_sub(before.own)),
            "engine_children_cpu_pct": pct(after.children.saturating_sub(before.children)),
            "engine_context_switches_per_s": round2(switches as f64 / window_s),
            "tmux_cpu_pct": tmux,
            "tmux_control_client_cpu_pct": control,
            "shims_cpu_pct_total": shims,
            "agents_cpu_pct_total": agents,
            "shims_measured": shims_seen,
            "agent_processes_measured": agents_seen,
            "healthy_at_end": healthy(&snap),
            "spawn_all_healthy_s": round2(spawn_all_s),
            "settle_s": round2(settle_s),
            "settled": settled,
            "clock_ticks_per_s": tck,
            "machine": {
                "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                "loadavg_1m_at_end": loadavg(),
            },
        }))
    }

    fn tmux_server_pid(&self) -> Option<i32> {
        let out = Command::new("tmux")
            .args(["-L", self.server.name(), "display-message", "-p", "#{pid}"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// This bench's processes other than itself: (pid, group), zombies left out.
    fn processes(&self, tmux_server: Option<i32>) -> Vec<(i32, Group)> {
        let me = std::process::id() as i32;
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(env) = std::fs::read(e.path().join("environ")) else {
                continue;
            };
            if !env
                .split(|&b| b == 0)
                .any(|kv| kv == self.marker.as_bytes())
            {
                continue;
            }
            let Some(stat) = Stat::read(pid) else {
                continue;
            };
            if stat.zombie {
                continue;
            }
            let argv: Vec<String> = std::fs::read(e.path().join("cmdline"))
                .unwrap_or_default()
                .split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let program = argv.first().map(|a| a.rsplit('/').next().unwrap_or(a));
            let group = if Some(pid) == tmux_server {
                Group::TmuxServer
            } else if program == Some("tmux") && stat.ppid == me {
                Group::ControlClient
            } else if program == Some("tmux") {
                // A one-off tmux client of the engine: counted with its children.
                continue;
            } else if stat.ppid == me {
                // git and other one-offs of the engine.
                continue;
            } else if argv.get(1).map(String::as_str) == Some("worker") {
                Group::Shim
            } else {
                Group::Agent
            };
            found.push((pid, group));
        }
        found
    }

    /// How many shims and agents are still alive once the halt had time to
    /// end them (they are killed). Dropping the bench then kills the tmux
    /// server and removes its socket file; the temp dir goes last.
    fn clean_up(&self) -> usize {
        let workers = || -> Vec<(i32, Group)> {
            self.processes(None)
                .into_iter()
                .filter(|(_, g)| matches!(g, Group::Shim | Group::Agent))
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut left = workers();
        while !left.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            left = workers();
        }
        for (pid, group) in &left {
            eprintln!("idle bench: pid {pid} ({group:?}) outlived the halt; killing it");
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        left.len()
    }
}

/// Wait until the spawn's aftermath is over. The first early-warning scans
/// after a spawn run a git process per pair of new branches (thousands for
/// 100 workers, seconds of CPU): they show as this process's reaped children
/// CPU, which then goes flat. False when it never did within the limit.
async fn settle() -> bool {
    let start = Instant::now();
    let children = || Stat::read(std::process::id() as i32).map_or(0, |s| s.children);
    let mut seen = std::collections::VecDeque::from([children()]);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        seen.push_back(children());
        if seen.len() > QUIET_FOR + 1 {
            seen.pop_front();
        }
        let quiet = seen.len() == QUIET_FOR + 1
            && seen.back().copied().unwrap_or(0) - seen.front().copied().unwrap_or(0)
                <= QUIET_TICKS;
        if quiet && start.elapsed() >= SETTLE_MIN {
            return true;
        }
        if start.elapsed() >= SETTLE_LIMIT {
            return false;
        }
    }
}

fn healthy(snap: &Snapshot) -> usize {
    snap.tasks
        .iter()
        .filter(|t| t.state == TaskState::Running && t.light == Light::Healthy)
        .count()
}

fn counts(snap: &Snapshot) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for t in &snap.tasks {
        *counts
            .entry(format!("{:?}/{}", t.state, t.light.as_str()))
            .or_insert(0) += 1;
    }
    counts
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    TmuxServer,
    ControlClient,
    Shim,
    Agent,
}

/// The fields of `/proc/<pid>/stat` the bench uses (times in clock ticks).
struct Stat {
    ppid: i32,
    zombie: bool,
    own: u64,
    children: u64,
    start: u64,
}

impl Stat {
    fn read(pid: i32) -> Option<Stat> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which may hold spaces: state is field 3.
        let rest: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| rest.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        Some(Stat {
            zombie: rest.first() == Some(&"Z"),
            ppid: rest.get(1)?.parse().ok()?,
            own: field(14)? + field(15)?,
            children: field(16)? + field(17)?,
            start: field(22)?,
        })
    }
}

/// CPU times at one instant: this process, its reaped children, its threads'
/// context switches, and every other process of the bench.
struct Sample {
    own: u64,
    children: u64,
    switches: u64,
    /// pid → (group, start time, CPU ticks).
    others: HashMap<i32, (Group, u64, u64)>,
}

impl Sample {
    fn take(bench: &Bench, tmux_server: Option<i32>) -> Sample {
        let me = Stat::read(std::process::id() as i32);
        let mut others = HashMap::new();
        for (pid, group) in bench.processes(tmux_server) {
            if let Some(s) = Stat::read(pid) {
                others.insert(pid, (group, s.start, s.own));
            }
        }
        Sample {
            own: me.as_ref().map_or(0, |s| s.own),
            children: me.as_ref().map_or(0, |s| s.children),
            switches: context_switches(),
            others,
        }
    }

    /// CPU ticks of `group` between `before` and this sample, over the
    /// processes alive at both; and how many those were.
    fn delta(&self, before: &Sample, group: Group) -> (u64, usize) {
        let mut ticks = 0;
        let mut procs = 0;
        for (pid, &(g, start, now)) in &self.others {
            if g != group {
                continue;
            }
            if let Some(&(_, start0, then)) = before.others.get(pid)
                && start0 == start
            {
                ticks += now.saturating_sub(then);
                procs += 1;
            }
        }
        (ticks, procs)
    }
}

/// Voluntary context switches summed over this process's threads: each is a
/// thread going to sleep, so roughly one per wakeup. Threads that come and
/// go between two samples make this approximate.
fn context_switches() -> u64 {
    let mut total = 0;
    for t in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|f| f.parse().ok()))
        .unwrap_or(0.0)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

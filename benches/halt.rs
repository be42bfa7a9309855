//! `cargo bench --bench halt [-- --workers N]`: spawn N sim agents on a
//! private tmux server through the real binary, then measure, as JSON:
//! halt ack latency (p50/p99/max), time until every agent process is gone,
//! crash detection (agent killed → exit seen; shim killed → DEAD), and stall
//! detection (a silent agent flagged STALLED) against its threshold.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STALL_MS: u64 = 3000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let workers: usize = args
        .iter()
        .position(|a| a == "--workers")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(100)
        .max(4);
    let dir = tempfile::tempdir().expect("temp dir");
    let bench = Bench::new(dir.path(), workers);
    let result = bench.run();
    println!(
        "{}",
        serde_json::to_string_pretty(&result).unwrap_or_default()
    );
}

struct Bench {
    repo: PathBuf,
    runtime: PathBuf,
    tmux: String,
    workers: usize,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

impl Bench {
    fn new(dir: &Path, workers: usize) -> Bench {
        let repo = dir.join("repo");
        let runtime = dir.join("run");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&runtime).unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .args(args)
                .current_dir(&repo)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        git(&["config", "user.name", "bench"]);
        git(&["config", "user.email", "bench@example.invalid"]);
        let mut tasks = String::new();
        for i in 1..=workers {
            // W3 is the silent one; the rest keep printing.
            let profile = if i == 3 { "silent" } else { "busy" };
            tasks.push_str(&format!(
                "  - {{ taskId: W{i}, title: worker {i}, group: G1, agent: {{ type: {profile} }}, outputs: [{{ path: w{i}.txt }}] }}\n"
            ));
        }
        let plan = format!(
            "settings:\n  maxParallel: {workers}\n  stallAfterMs: {STALL_MS}\n  restart: {{ maxRestarts: 0 }}\n  maxFallbacks: 0\n  halt: {{ graceMs: 2000 }}\nagents:\n  busy: {{ command: \"switchboard sim-agent --duration 600\" }}\n  silent: {{ command: \"switchboard sim-agent --hang\" }}\ngroups:\n  - id: G1\ntasks:\n{tasks}"
        );
        std::fs::write(repo.join("dispatcher.yaml"), plan).unwrap();
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "bench"]);
        Bench {
            repo,
            runtime,
            tmux: format!("sbbench-{}", std::process::id()),
            workers,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        c.args(args)
            .current_dir(&self.repo)
            .env("SWITCHBOARD_TMUX_SOCKET", &self.tmux)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env_remove("TMUX")
            .stdin(Stdio::null());
        c
    }

    fn json(&self, args: &[&str]) -> Option<Value> {
        let out = self.cmd(args).stderr(Stdio::null()).output().ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }

    fn journal(&self) -> Vec<Value> {
        std::fs::read_to_string(self.repo.join(".switchboard/journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn wait(&self, what: &str, limit: Duration, cond: impl Fn() -> bool) {
        let start = Instant::now();
        while !cond() {
            assert!(
                start.elapsed() < limit,
                "bench: timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// (pid, cmdline) of processes started for this bench, tmux excluded.
    fn processes(&self, needle: &str) -> Vec<(i32, String)> {
        let env_needle = format!("XDG_RUNTIME_DIR={}", self.runtime.display());
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(env) = std::fs::read(e.path().join("environ")) else {
                continue;
            };
            if !env.split(|&b| b == 0).any(|kv| kv == env_needle.as_bytes()) {
                continue;
            }
            let cmd = String::from_utf8_lossy(
                &std::fs::read(e.path().join("cmdline")).unwrap_or_default(),
            )
            .replace('\0', " ");
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            if cmd.contains(needle) && !cmd.starts_with("tmux") && !zombie {
                found.push((pid, cmd));
            }
        }
        found
    }

    /// The pid of `task`'s process whose subcommand is `subcommand`
    /// (`sim-agent` for the agent, `worker` for its shim).
    fn task_pid(&self, task: &str, subcommand: &str) -> Option<i32> {
        let procs = self.processes(subcommand);
        let mut own = procs
            .into_iter()
            .filter(|(_, cmd)| cmd.split(' ').nth(1) == Some(subcommand));
        own.find_map(|(pid, _)| {
            let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            let want = format!("SWITCHBOARD_TASK={task}");
            env.split(|&b| b == 0)
                .any(|kv| kv == want.as_bytes())
                .then_some(pid)
        })
    }

    fn event_ts(&self, event: &str, task: &str, key: &str, value: &str) -> Option<u64> {
        self.journal()
            .into_iter()
            .find(|e| e["event"] == event && e["task"] == task && e[key] == value)
            .and_then(|e| e["ts_ms"].as_u64())
    }

    fn run(&self) -> Value {
        let spawn_start = Instant::now();
        let engine_guard = switchboard::tmux::PrivateServer::named(self.tmux.clone());
        let mut engine: Child = self
            .cmd(&["--batch-group", "G1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("engine");
        // Running, with its light lit (the shim said hello), whichever light.
        let live = |s: &Value| {
            s["tasks"].as_array().is_some_and(|t| {
                t.iter().all(|t| {
                    t["state"] == "running" && t["light"] != "IDLE" && t["light"] != "DEAD"
                })
            })
        };
        let last = std::cell::RefCell::new(Value::Null);
        self.wait("every worker running", Duration::from_secs(600), || {
            let status = self.json(&["status", "--json"]);
            let ok = status.as_ref().is_some_and(live);
            if let Some(s) = status {
                *last.borrow_mut() = s;
            }
            if !ok && let Some(tasks) = last.borrow()["tasks"].as_array() {
                let mut counts = std::collections::BTreeMap::new();
                for t in tasks {
                    *counts
                        .entry(format!("{}/{}", t["state"], t["light"]))
                        .or_insert(0) += 1;
                }
                eprintln!("bench: waiting: {counts:?}");
            }
            ok
        });
        let spawn_all_ms = spawn_start.elapsed().as_millis() as u64;

        // Crash detection: SIGKILL one agent, and one shim.
        let agent = self.task_pid("W1", "sim-agent").expect("W1's agent");
        let t0 = now_ms();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(agent),
            nix::sys::signal::Signal::SIGKILL,
        )
        .ok();
        self.wait("W1 exit seen", Duration::from_secs(30), || {
            self.journal()
                .iter()
                .any(|e| e["event"] == "exit" && e["task"] == "W1")
        });
        let agent_crash_ms = self
            .journal()
            .iter()
            .find(|e| e["event"] == "exit" && e["task"] == "W1")
            .and_then(|e| e["ts_ms"].as_u64())
            .unwrap_or(t0)
            .saturating_sub(t0);
        let shim = self.task_pid("W2", "worker").expect("W2's shim");
        let t1 = now_ms();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(shim),
            nix::sys::signal::Signal::SIGKILL,
        )
        .ok();
        self.wait("W2 DEAD", Duration::from_secs(30), || {
            self.event_ts("light", "W2", "light", "DEAD").is_some()
        });
        let shim_dead_ms = self
            .event_ts("light", "W2", "light", "DEAD")
            .unwrap_or(t1)
            .saturating_sub(t1);

        // Stall detection: W3 printed one line at spawn, then went silent.
        self.wait("W3 STALLED", Duration::from_secs(30), || {
            self.event_ts("light", "W3", "light", "STALLED").is_some()
        });
        let spawned = self
            .event_ts("spawned", "W3", "event", "spawned")
            .unwrap_or(0);
        let stalled_after = self
            .event_ts("light", "W3", "light", "STALLED")
            .unwrap_or(0)
            .saturating_sub(spawned);

        // The halt cascade over everyone still running.
        let halt_start = Instant::now();
        let report = self.json(&["halt", "--json"]).expect("halt report");
        let halt_cli_ms = halt_start.elapsed().as_secs_f64() * 1000.0;
        self.wait("agents gone", Duration::from_secs(60), || {
            self.processes("sim-agent").is_empty()
        });
        let agents_gone_ms = halt_start.elapsed().as_secs_f64() * 1000.0;
        let mut acks: Vec<f64> = report["workers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w["ack_ms"].as_f64())
            .collect();
        let mut stops: Vec<f64> = report["workers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w["stop_ms"].as_f64())
            .collect();
        acks.sort_by(f64::total_cmp);
        stops.sort_by(f64::total_cmp);

        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(engine.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .ok();
        let _ = engine.wait();
        drop(engine_guard);

        json!({
            "workers": self.workers,
            "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
            "spawn_all_ms": spawn_all_ms,
            "halt": {
                "total_workers": report["total_workers"],
                "acks_received": report["acks_received"],
                "all_acked": report["all_acked"],
                "total_latency_ms": report["total_latency_ms"],
                "ack_ms": { "p50": percentile(&acks, 0.5), "p99": percentile(&acks, 0.99), "max": acks.last().copied().unwrap_or(0.0) },
                "stop_ms": { "p50": percentile(&stops, 0.5), "p99": percentile(&stops, 0.99), "max": stops.last().copied().unwrap_or(0.0) },
                "halt_command_round_trip_ms": (halt_cli_ms * 100.0).round() / 100.0,
                "until_no_agent_process_ms": (agents_gone_ms * 100.0).round() / 100.0,
            },
            "crash_detection": {
                "agent_sigkill_to_exit_recorded_ms": agent_crash_ms,
                "shim_sigkill_to_dead_ms": shim_dead_ms,
            },
            "stall_detection": { "threshold_ms": STALL_MS, "flagged_after_ms": stalled_after },
        })
    }
}

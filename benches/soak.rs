//! `cargo bench --bench soak [-- --tasks N --parallel P --seed S]`: a long
//! headless run through the real binary, to the end. N sim tasks (default
//! 500) of 0.2–2 s of work, at most P (default 50) at once, on a private
//! tmux server; each attempt may crash (killed mid-work), fail (exit 1) or
//! hang, drawn from a fixed seed so that runs compare. A hang is a frozen
//! worker: the bench stops the attempt's shim with ptrace, as a debugger
//! or a suspended machine would, and only the heartbeat can tell (the sim
//! agent's own `--hang` keeps its shim beating, so the engine would flag it
//! STALLED and wait for a person forever). Prints one JSON object: tasks
//! merged, failed and skipped, restarts, hangs detected, the engine's peak
//! memory (VmHWM), the processes and tmux sessions of the run still there
//! at the moment it exits (must be none), and the wall time. Not a test:
//! nothing is asserted.

use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchboard::engine::event::{Entry, Event};
use switchboard::engine::snapshot::{Light, TaskState};
use switchboard::engine::{history, journal};

/// Heartbeats every 250 ms; DEAD after 3 s of silence.
const HEARTBEAT: &str =
    "{ intervalMs: 250, lateAfterMs: 750, missingAfterMs: 1500, deadAfterMs: 3000 }";
/// A hang begins once its shim has run this long (it has said hello).
const FREEZE_AFTER: Duration = Duration::from_millis(500);
/// A frozen shim the engine has not killed by then is let go.
const HOLD_AT_MOST: Duration = Duration::from_secs(30);
/// The whole run may take this long before the bench gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(3600);
const ATTEMPTS: u32 = 3;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(default)
    };
    let tasks = flag("--tasks", 500).max(1) as usize;
    let parallel = flag("--parallel", 50).max(1) as usize;
    let seed = flag("--seed", 11);
    let dir = tempfile::tempdir().expect("temp dir");
    let schedule = Schedule::draw(tasks, seed);
    let soak = Soak::new(dir.path(), &schedule, parallel);
    let report = soak.run(&schedule);
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "tasks": tasks,
            "max_parallel": parallel,
            "seed": seed,
            "result": report,
        }))
        .unwrap_or_default()
    );
}

/// splitmix64: the same draws for the same seed on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Fate {
    Work,
    Crash,
    Fail,
    Hang,
}

/// What each attempt of each task does, and what each task depends on.
struct Schedule {
    /// `fates[i][a]`: task i's attempt a+1, with its seconds of work.
    fates: Vec<Vec<(Fate, f64)>>,
    deps: Vec<Option<usize>>,
}

impl Schedule {
    /// Per attempt: 10 % crash, 6 % hang, 4 % fail. One task in five
    /// after the first ten depends on an earlier one.
    fn draw(tasks: usize, seed: u64) -> Schedule {
        let mut rng = Rng(seed);
        let mut fates = Vec::new();
        let mut deps = Vec::new();
        for i in 0..tasks {
            let attempts = (0..ATTEMPTS)
                .map(|_| {
                    let secs = 0.2 + 1.8 * rng.unit();
                    let roll = rng.unit();
                    let fate = if roll < 0.10 {
                        Fate::Crash
                    } else if roll < 0.16 {
                        Fate::Hang
                    } else if roll < 0.20 {
                        Fate::Fail
                    } else {
                        Fate::Work
                    };
                    (fate, secs)
                })
                .collect();
            fates.push(attempts);
            let dep = (i >= 10 && rng.unit() < 0.2).then(|| (rng.next() % i as u64) as usize);
            deps.push(dep);
        }
        Schedule { fates, deps }
    }

    fn id(i: usize) -> String {
        format!("T{}", i + 1)
    }

    /// The sim agent's flags for task i's attempt a (1-based).
    fn flags(&self, i: usize, a: usize) -> String {
        let (fate, secs) = self.fates[i][a - 1];
        match fate {
            Fate::Work => format!("--duration {secs:.2}"),
            // Still at work when its shim is frozen: only the heartbeat can end it.
            Fate::Hang => "--duration 60".into(),
            Fate::Fail => format!("--duration {secs:.2} --fail"),
            Fate::Crash => format!("--duration {secs:.2} --crash-after {:.2}", secs / 2.0),
        }
    }

    fn hangs(&self) -> HashSet<(String, u32)> {
        let mut out = HashSet::new();
        for (i, attempts) in self.fates.iter().enumerate() {
            for (a, (fate, _)) in attempts.iter().enumerate() {
                if *fate == Fate::Hang {
                    out.insert((Schedule::id(i), a as u32 + 1));
                }
            }
        }
        out
    }

    fn fate(&self, task: &str, attempt: u32) -> Option<Fate> {
        let i: usize = task.strip_prefix('T')?.parse().ok()?;
        let (fate, _) = self
            .fates
            .get(i.checked_sub(1)?)?
            .get(attempt as usize - 1)?;
        Some(*fate)
    }
}

struct Soak {
    repo: PathBuf,
    /// `XDG_RUNTIME_DIR=…`: in the environment of every process of the run.
    marker: String,
    runtime: PathBuf,
    tmux: String,
}

impl Soak {
    fn new(dir: &Path, schedule: &Schedule, parallel: usize) -> Soak {
        let repo = dir.join("repo");
        let runtime = dir.join("run");
        std::fs::create_dir_all(repo.join(".soak")).expect("repo dir");
        std::fs::create_dir_all(&runtime).expect("runtime dir");
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
        git(&["config", "user.name", "soak"]);
        git(&["config", "user.email", "soak@example.invalid"]);
        let mut tasks = String::new();
        for i in 0..schedule.fates.len() {
            let id = Schedule::id(i);
            // One line of sim-agent flags per attempt, read by the profile's command.
            let lines: Vec<String> = (1..=ATTEMPTS as usize)
                .map(|a| schedule.flags(i, a))
                .collect();
            std::fs::write(repo.join(".soak").join(&id), lines.join("\n") + "\n")
                .expect("schedule file");
            let deps = schedule.deps[i]
                .map(|d| format!(", dependencies: [{}]", Schedule::id(d)))
                .unwrap_or_default();
            tasks.push_str(&format!(
                "  - {{ taskId: {id}, title: soak {id}, group: G1, agent: {{ type: sim }}, outputs: [{{ path: out/{id}.txt }}], validation: [{{ type: file_exists }}]{deps} }}\n"
            ));
        }
        let plan = format!(
            "settings:\n  maxParallel: {parallel}\n  heartbeat: {HEARTBEAT}\n  restart: {{ maxRestarts: {}, backoffMs: 200, maxBackoffMs: 1000 }}\n  maxFallbacks: 0\nagents:\n  sim:\n    command: \"exec switchboard sim-agent $(sed -n \\\"${{SWITCHBOARD_ATTEMPT}}p\\\" .soak/$SWITCHBOARD_TASK)\"\ngroups:\n  - id: G1\ntasks:\n{tasks}",
            ATTEMPTS - 1
        );
        std::fs::write(repo.join("dispatcher.yaml"), plan).expect("plan");
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "soak"]);
        Soak {
            marker: format!("XDG_RUNTIME_DIR={}", runtime.display()),
            repo,
            runtime,
            tmux: format!("sbsoak-{}", std::process::id()),
        }
    }

    fn start(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["--batch-group", "G1", "--json"])
            .current_dir(&self.repo)
            .env("SWITCHBOARD_TMUX_SOCKET", &self.tmux)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.repo.join("..").join("run.stderr"))
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .spawn()
            .expect("start switchboard")
    }

    fn run(&self, schedule: &Schedule) -> serde_json::Value {
        let _guard = switchboard::tmux::PrivateServer::named(self.tmux.clone());
        let mut freezer = Freezer::new(schedule.hangs());
        let started = Instant::now();
        let mut child = self.start();
        let pid = child.id() as i32;
        // Waited for on a thread of its own, so the exit is seen at once.
        let (exited, exit) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = exited.send(child.wait());
        });
        let mut peak_kib = 0;
        let mut last_word = Instant::now();
        let status = loop {
            peak_kib = peak_kib.max(vm_hwm_kib(pid).unwrap_or(0));
            freezer.tick(&self.processes());
            if let Ok(status) = exit.recv_timeout(Duration::from_millis(100)) {
                break status.ok();
            }
            if started.elapsed() > RUN_LIMIT {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = exit.recv();
                break None;
            }
            if last_word.elapsed() > Duration::from_secs(30) {
                eprintln!(
                    "soak: {:.0} s, {} workers frozen so far",
                    started.elapsed().as_secs_f64(),
                    freezer.frozen_total
                );
                last_word = Instant::now();
            }
        };
        let wall_s = started.elapsed().as_secs_f64();
        // The moment the run exits: what of it is still there.
        let left = self.processes();
        let sessions = self.tmux_sessions();
        let server = self.tmux_server_pid();
        freezer.let_go();
        let (left_shims, left_agents, left_other) = classify(&left, server);
        self.clean_up(&left, server);

        let entries =
            journal::read(&self.repo.join(".switchboard/journal.jsonl")).unwrap_or_default();
        let counts = Counts::of(&self.repo, &entries, schedule, &freezer);
        json!({
            "wall_s": round2(wall_s),
            "exit_code": status.and_then(|s| s.code()),
            "finished_within_limit": status.is_some(),
            "merged": counts.merged,
            "merged_twice": counts.merged_twice,
            "merge_commits_on_integration": merge_commits(&self.repo),
            "failed": counts.failed.len(),
            "failed_tasks": counts.failed,
            "failure_reasons": counts.reasons,
            "skipped": counts.skipped,
            "other_end_states": counts.other,
            "attempts": counts.attempts,
            "restarts": counts.restarts,
            "attempts_by_fate": counts.by_fate,
            "hangs": {
                "frozen": freezer.frozen_total,
                "killed_by_engine": freezer.killed,
                "let_go_undetected": freezer.released,
                "dead_lights": counts.dead_lights,
                "freeze_to_dead_ms_p50": counts.detect_p50,
                "freeze_to_dead_ms_max": counts.detect_max,
            },
            "engine_peak_rss_mib": round2(peak_kib as f64 / 1024.0),
            "left_over_at_exit": {
                "shims": left_shims,
                "agents": left_agents,
                "other_processes": left_other,
                "tmux_sessions": sessions,
            },
            "tmux_server_alive_at_exit": server.is_some(),
            "machine": {
                "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                "loadavg_1m_at_end": loadavg(),
            },
        })
    }

    /// This run's live processes (not zombies): pid, argv, environment.
    fn processes(&self) -> Vec<Proc> {
        let me = std::process::id() as i32;
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(environ) = std::fs::read(e.path().join("environ")) else {
                continue;
            };
            let env: Vec<&[u8]> = environ.split(|&b| b == 0).collect();
            if !env.contains(&self.marker.as_bytes()) || zombie(pid) {
                continue;
            }
            let var = |name: &str| {
                let prefix = format!("{name}=");
                env.iter()
                    .find_map(|kv| kv.strip_prefix(prefix.as_bytes()))
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            };
            let argv: Vec<String> = std::fs::read(e.path().join("cmdline"))
                .unwrap_or_default()
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            found.push(Proc {
                pid,
                task: var("SWITCHBOARD_TASK"),
                attempt: var("SWITCHBOARD_ATTEMPT").and_then(|a| a.parse().ok()),
                argv,
            });
        }
        found
    }

    fn tmux_sessions(&self) -> Vec<String> {
        Command::new("tmux")
            .args(["-L", &self.tmux, "list-sessions", "-F", "#{session_name}"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The run's tmux server, if it still runs.
    fn tmux_server_pid(&self) -> Option<i32> {
        let out = Command::new("tmux")
            .args(["-L", &self.tmux, "display-message", "-p", "#{pid}"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// Kill what outlived the run; the tmux guard (the server) and the temp
    /// dir do the rest.
    fn clean_up(&self, left: &[Proc], server: Option<i32>) {
        for p in left.iter().filter(|p| Some(p.pid) != server) {
            eprintln!(
                "soak: pid {} ({}) outlived the run; killing it",
                p.pid,
                p.argv.join(" ")
            );
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// A process of the run.
struct Proc {
    pid: i32,
    argv: Vec<String>,
    task: Option<String>,
    attempt: Option<u32>,
}

impl Proc {
    /// `switchboard worker`, `switchboard sim-agent`, …
    fn verb(&self) -> Option<&str> {
        let program = self.argv.first()?;
        program
            .ends_with("switchboard")
            .then(|| self.argv.get(1).map(String::as_str))?
    }
}

/// Shims and sim agents (as `task/attempt`), and anything else but the
/// tmux server, at the run's exit.
fn classify(left: &[Proc], server: Option<i32>) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut shims = Vec::new();
    let mut agents = Vec::new();
    let mut other = Vec::new();
    for p in left.iter().filter(|p| Some(p.pid) != server) {
        let attempt = || {
            let task = p.task.as_deref().unwrap_or("?");
            format!("{task}/{}", p.attempt.unwrap_or(0))
        };
        match p.verb() {
            Some("worker") => shims.push(attempt()),
            Some("sim-agent") => agents.push(attempt()),
            _ => other.push(p.argv.join(" ")),
        }
    }
    (shims, agents, other)
}

fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(true)
}

/// Freezes the shims of the attempts the schedule says hang, and reaps them
/// once the engine kills them (a traced process's death is told to its
/// tracer first). ptrace requests come from this one thread, the tracer.
struct Freezer {
    hangs: HashSet<(String, u32)>,
    seen: HashMap<i32, Instant>,
    frozen: HashMap<i32, Frozen>,
    /// When each hang's shim was frozen, in wall-clock ms (to compare with the journal).
    frozen_at_ms: HashMap<(String, u32), u64>,
    frozen_total: usize,
    killed: usize,
    released: usize,
}

struct Frozen {
    since: Instant,
    /// A signal that arrived while frozen, passed on when the shim is let go.
    pending: Option<nix::sys::signal::Signal>,
}

impl Freezer {
    fn new(hangs: HashSet<(String, u32)>) -> Freezer {
        Freezer {
            hangs,
            seen: HashMap::new(),
            frozen: HashMap::new(),
            frozen_at_ms: HashMap::new(),
            frozen_total: 0,
            killed: 0,
            released: 0,
        }
    }

    fn tick(&mut self, procs: &[Proc]) {
        for p in procs.iter().filter(|p| p.verb() == Some("worker")) {
            let (Some(task), Some(attempt)) = (p.task.clone(), p.attempt) else {
                continue;
            };
            let key = (task, attempt);
            if !self.hangs.contains(&key) || self.frozen_at_ms.contains_key(&key) {
                continue;
            }
            let first = *self.seen.entry(p.pid).or_insert_with(Instant::now);
            if first.elapsed() >= FREEZE_AFTER && self.freeze(p.pid) {
                self.frozen_at_ms.insert(key, now_ms());
            }
        }
        self.watch();
    }

    fn freeze(&mut self, pid: i32) -> bool {
        use nix::sys::ptrace;
        use nix::sys::wait::{WaitPidFlag, waitpid};
        let target = nix::unistd::Pid::from_raw(pid);
        if ptrace::seize(target, ptrace::Options::empty()).is_err() {
            return false;
        }
        if ptrace::interrupt(target).is_err() {
            let _ = ptrace::detach(target, None);
            return false;
        }
        let _ = waitpid(target, Some(WaitPidFlag::__WALL));
        self.frozen.insert(
            pid,
            Frozen {
                since: Instant::now(),
                pending: None,
            },
        );
        self.frozen_total += 1;
        true
    }

    /// Reap the frozen shims the engine killed; let go of those held too long.
    fn watch(&mut self) {
        use nix::sys::ptrace;
        use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
        let pids: Vec<i32> = self.frozen.keys().copied().collect();
        for pid in pids {
            let target = nix::unistd::Pid::from_raw(pid);
            loop {
                match waitpid(target, Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(_) => {
                        self.frozen.remove(&pid);
                        self.killed += 1;
                        break;
                    }
                    // A signal for the frozen shim (tmux's SIGHUP): kept for later.
                    Ok(WaitStatus::Stopped(_, signal)) => {
                        if let Some(f) = self.frozen.get_mut(&pid) {
                            f.pending = Some(signal);
                        }
                    }
                    Ok(_) => break,
                }
            }
            if let Some(f) = self.frozen.get(&pid)
                && f.since.elapsed() > HOLD_AT_MOST
            {
                let _ = ptrace::detach(target, f.pending);
                self.frozen.remove(&pid);
                self.released += 1;
            }
        }
    }

    /// Let every shim still frozen go (each is also a leftover).
    fn let_go(&mut self) {
        self.watch();
        for (pid, f) in self.frozen.drain() {
            let _ = nix::sys::ptrace::detach(nix::unistd::Pid::from_raw(pid), f.pending);
            self.released += 1;
        }
    }
}

/// The run's figures, from its journal and its repository.
struct Counts {
    merged: usize,
    merged_twice: usize,
    failed: Vec<String>,
    /// Why tasks failed, their numbers blanked out, with how many each.
    reasons: BTreeMap<String, usize>,
    skipped: usize,
    other: BTreeMap<String, usize>,
    attempts: usize,
    restarts: usize,
    by_fate: BTreeMap<String, usize>,
    dead_lights: usize,
    detect_p50: Option<u64>,
    detect_max: Option<u64>,
}

impl Counts {
    fn of(repo: &Path, entries: &[Entry], schedule: &Schedule, freezer: &Freezer) -> Counts {
        let mut merges: HashMap<&str, usize> = HashMap::new();
        let mut attempts = 0;
        let mut restarts = 0;
        let mut by_fate = BTreeMap::new();
        let mut dead_lights = 0;
        let mut detect = Vec::new();
        for e in entries {
            let (Some(task), attempt) = (e.task.as_deref(), e.attempt.unwrap_or(0)) else {
                continue;
            };
            match &e.event {
                Event::Merged { .. } => *merges.entry(task).or_default() += 1,
                Event::Restart(_) => restarts += 1,
                Event::State {
                    state: TaskState::Assigned,
                    ..
                } => {
                    attempts += 1;
                    let fate = schedule
                        .fate(task, attempt)
                        .map_or("?".into(), |f| format!("{f:?}"));
                    *by_fate.entry(fate.to_lowercase()).or_default() += 1;
                }
                Event::Light {
                    light: Light::Dead, ..
                } => {
                    dead_lights += 1;
                    if let Some(&at) = freezer.frozen_at_ms.get(&(task.to_string(), attempt)) {
                        detect.push(e.ts_ms.saturating_sub(at));
                    }
                }
                _ => {}
            }
        }
        detect.sort_unstable();
        let mut failed = Vec::new();
        let mut reasons = BTreeMap::new();
        let mut skipped = 0;
        let mut other = BTreeMap::new();
        if let Ok((plan, _)) = switchboard::plan::load(&repo.join("dispatcher.yaml")) {
            let snap = history::snapshot(&plan, "dispatcher.yaml", entries, now_ms());
            for t in &snap.tasks {
                match t.state {
                    TaskState::Done => {}
                    TaskState::Failed => {
                        failed.push(t.id.clone());
                        let why = t.message.as_deref().unwrap_or("no reason");
                        *reasons.entry(blank_out(why)).or_default() += 1;
                    }
                    TaskState::Skipped => skipped += 1,
                    s => *other.entry(s.as_str().to_string()).or_default() += 1,
                }
            }
        }
        Counts {
            merged: merges.len(),
            merged_twice: merges.values().filter(|&&n| n > 1).count(),
            failed,
            reasons,
            skipped,
            other,
            attempts,
            restarts,
            by_fate,
            dead_lights,
            detect_p50: detect.get(detect.len() / 2).copied(),
            detect_max: detect.last().copied(),
        }
    }
}

/// A failure's message with what differs between tasks blanked out (commit
/// ids, numbers, the temp dir's name), so that alike failures count together.
fn blank_out(message: &str) -> String {
    let mut out = String::new();
    for word in message.split_inclusive([' ', '/', '\'', '`']) {
        let core = word.trim_end_matches([' ', '/', '\'', '`']);
        let rest = &word[core.len()..];
        if core.len() >= 7 && core.chars().all(|c| c.is_ascii_hexdigit()) {
            out.push_str("<commit>");
        } else if core.starts_with(".tmp") {
            out.push_str(".tmp…");
        } else {
            out.extend(
                core.chars()
                    .map(|c| if c.is_ascii_digit() { '#' } else { c }),
            );
        }
        out.push_str(rest);
    }
    out
}

/// `Merge …` commits on the integration branch.
fn merge_commits(repo: &Path) -> Option<usize> {
    let out = Command::new("git")
        .args(["rev-list", "--merges", "--count", "switchboard/integration"])
        .current_dir(repo)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The peak resident set of `pid`, from `/proc/<pid>/status`.
fn vm_hwm_kib(pid: i32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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

//! Test sandboxes: a temp git repo, a private tmux server, an isolated
//! runtime dir, all removed on drop, even when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Sandbox {
    _dir: tempfile::TempDir,
    pub repo: PathBuf,
    pub runtime: PathBuf,
    pub tmux: String,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_switchboard")
}

pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Sandbox {
    /// A repo with one commit and `plan` as `dispatcher.yaml`.
    pub fn new(plan: &str) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = dir.path().join("repo");
        let runtime = dir.path().join("run");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&runtime).unwrap();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tmux = format!("sbtest-{}-{n}", std::process::id());
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["config", "user.name", "test"]);
        git(&repo, &["config", "user.email", "test@example.invalid"]);
        std::fs::write(repo.join("README.md"), "test repo\n").unwrap();
        std::fs::write(repo.join("dispatcher.yaml"), plan).unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "init"]);
        Sandbox {
            _dir: dir,
            repo,
            runtime,
            tmux,
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(&self.repo)
            .env("SWITCHBOARD_TMUX_SOCKET", &self.tmux)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env_remove("TMUX")
            .stdin(Stdio::null());
        c
    }

    /// Run to completion, with a generous hang guard (not a timing assertion).
    pub fn run(&self, args: &[&str]) -> Output {
        let child = self
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        wait_with_guard(child, Duration::from_secs(180))
    }

    pub fn tmux_sessions(&self) -> Vec<String> {
        let out = Command::new("tmux")
            .args(["-L", &self.tmux, "list-sessions", "-F", "#{session_name}"])
            .output();
        match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Processes (other than the tmux server) that carry this sandbox's
    /// runtime dir in their environment: every shim and agent it started.
    pub fn live_processes(&self) -> Vec<String> {
        let needle = format!("XDG_RUNTIME_DIR={}", self.runtime.display());
        let mut found = Vec::new();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return found;
        };
        for e in dir.flatten() {
            let pid = e.file_name().to_string_lossy().into_owned();
            if !pid.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let Ok(env) = std::fs::read(e.path().join("environ")) else {
                continue;
            };
            if !env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()) {
                continue;
            }
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let status = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = status
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            if !cmdline.starts_with("tmux") && !zombie {
                found.push(format!("{pid}: {cmdline}"));
            }
        }
        found
    }

    pub fn journal(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.repo.join(".switchboard/journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.journal()
            .into_iter()
            .filter(|e| e["event"] == event)
            .collect()
    }

    /// The last state the journal gives `task`.
    pub fn state_of(&self, task: &str) -> Option<String> {
        self.journal()
            .into_iter()
            .rev()
            .find(|e| e["event"] == "state" && e["task"] == task)
            .and_then(|e| e["state"].as_str().map(str::to_string))
    }

    pub fn integration_files(&self) -> Vec<String> {
        git(
            &self.repo,
            &["ls-tree", "-r", "--name-only", "switchboard/integration"],
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// Start switchboard with `args` in the background, output captured.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn switchboard")
    }

    /// No process of this sandbox is left. Given a few seconds: a pane's
    /// process dies of its session's kill a moment after switchboard exits.
    pub fn assert_no_process_left(&self, what: &str) {
        let start = Instant::now();
        loop {
            let left = self.live_processes();
            if left.is_empty() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{what}: processes left: {left:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// At this moment, right as a run exited: no shim, agent or tmux
    /// session of it remains (no grace period).
    pub fn assert_nothing_left_now(&self, what: &str) {
        let (left, sessions) = (self.live_processes(), self.tmux_sessions());
        assert!(
            left.is_empty() && sessions.is_empty(),
            "{what}: processes left: {left:?}; sessions left: {sessions:?}"
        );
        // With nothing on it, the private tmux server is gone: so is the
        // socket file tmux leaves behind.
        let socket = switchboard::tmux::private_server::socket_file(&self.tmux);
        assert!(!socket.exists(), "{what}: {} left", socket.display());
    }

    /// Subjects of the integration branch's commits, newest first.
    pub fn integration_log(&self) -> Vec<String> {
        git(
            &self.repo,
            &["log", "--format=%s", "switchboard/integration"],
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// Ask the repository's running engine, over its socket; None when no
    /// engine answers.
    pub fn engine(
        &self,
        command: &switchboard::engine::command::Command,
    ) -> Option<serde_json::Value> {
        let key = switchboard::tmux::names::repo_key(&self.repo.canonicalize().ok()?);
        let path = self.runtime.join("switchboard").join(format!("{key}.sock"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let reply = runtime
            .block_on(switchboard::engine::socket::call(&path, command))
            .ok()?;
        serde_json::to_value(reply).ok()
    }

    /// Poll `cond` until it holds (hang guard 60 s).
    pub fn wait_for(&self, what: &str, cond: impl Fn(&Sandbox) -> bool) {
        let start = Instant::now();
        while !cond(self) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.tmux, "kill-server"])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(switchboard::tmux::private_server::socket_file(&self.tmux));
    }
}

pub fn wait_with_guard(mut child: std::process::Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().expect("output"),
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "switchboard hung for {limit:?}; stderr:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("wait: {e}"),
        }
    }
}

/// SIGINT a background run, as Ctrl-C would, and wait for it to end.
pub fn interrupt(child: std::process::Child) -> Output {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    wait_with_guard(child, Duration::from_secs(60))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A plan whose sim agents finish fast; `tasks` is YAML for the task list.
pub fn plan(settings: &str, tasks: &str) -> String {
    format!(
        r#"version: 1
settings:
  maxParallel: 4
  restart:
    maxRestarts: 0
    backoffMs: 100
  maxFallbacks: 0
  heartbeat:
    intervalMs: 200
  halt:
    graceMs: 500
{settings}
agents:
  quick:
    command: "switchboard sim-agent --duration 0.5"
  failing:
    command: "switchboard sim-agent --duration 0.2 --fail"
  slow:
    command: "switchboard sim-agent --duration 60"
  slowish:
    command: "switchboard sim-agent --duration 3"
  missing:
    command: "definitely-not-installed-xyz --go"
  asking:
    command: "switchboard report wait --message 'which database?'; switchboard sim-agent --duration 0.3"
groups:
  - id: G1
  - id: G2
    after: [G1]
tasks:
{tasks}
"#
    )
}

/// A process frozen the way a debugger freezes it. `kill -STOP` cannot do
/// this to a pane's first process: tmux 3.3a answers a stopped pane process
/// with SIGCONT. A ptrace stop is reported to the tracer (this test), not to
/// tmux. Thawed on drop; the calling thread must do both.
pub struct Frozen(nix::unistd::Pid);

impl Frozen {
    pub fn new(pid: i32) -> Frozen {
        use nix::sys::ptrace;
        use nix::sys::wait::{WaitPidFlag, waitpid};
        let pid = nix::unistd::Pid::from_raw(pid);
        ptrace::seize(pid, ptrace::Options::empty()).expect("ptrace seize");
        ptrace::interrupt(pid).expect("ptrace interrupt");
        waitpid(pid, Some(WaitPidFlag::__WALL)).expect("wait for the ptrace stop");
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = nix::sys::ptrace::detach(self.0, None);
    }
}

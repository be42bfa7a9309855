//! An agent that leaves processes behind, the way codex and gemini do, under
//! the real engine and tmux: when its attempt ends, is halted, or loses its
//! tmux session, nothing of it is left by the time its shim has exited.

use crate::harness::{Sandbox, stderr, wait_with_guard};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Everything the agent starts carries `SB_TREE_MARK=<its dir>`. It leaves
/// a daemon in its own session that ignores SIGTERM and SIGHUP (codex's
/// app-server) and a double-forked process that catches SIGHUP (gemini's
/// node), says `ready` once both are in place, then waits: for `go` (and
/// exits 0) in `exit` mode, else until it is stopped.
const LEAKY_AGENT: &str = r#"
d="$SB_TREE_MARK"
setsid sh -c 'trap "" TERM HUP; touch "$SB_TREE_MARK/daemon.ready"; exec sleep 300' &
( sh -c 'trap "echo caught HUP" HUP; touch "$SB_TREE_MARK/catcher.ready"; while :; do sleep 1; done' & )
until [ -e "$d/daemon.ready" ] && [ -e "$d/catcher.ready" ]; do sleep 0.02; done
touch "$d/ready"
if [ "$1" = exit ]; then
  until [ -e "$d/go" ]; do sleep 0.02; done
  exit 0
fi
exec sleep 300
"#;

struct Leaky {
    sb: Sandbox,
    /// The agent's script and signs of life, outside the repo.
    dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl Leaky {
    fn new(mode: &str) -> Leaky {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_path_buf();
        std::fs::write(dir.join("leaky.sh"), LEAKY_AGENT).expect("fake agent");
        Leaky {
            sb: Sandbox::new(&plan(&dir, mode)),
            dir,
            _temp: temp,
        }
    }

    /// Start the run; returns it and the shim's pid once the agent is ready.
    fn start(&self) -> (std::process::Child, i32) {
        let run = self.sb.spawn(&["--batch-group", "G1"]);
        let ready = self.dir.join("ready");
        self.sb.wait_for("the agent ready", |_| ready.exists());
        (run, self.shim_pid())
    }

    fn shim_pid(&self) -> i32 {
        let procs = self.sb.live_processes();
        let line = procs
            .iter()
            .find(|p| p.contains(" worker "))
            .unwrap_or_else(|| panic!("no shim in {procs:?}"));
        line.split(':').next().unwrap().parse().unwrap()
    }

    /// Live processes carrying the agent's mark.
    fn marked(&self) -> Vec<String> {
        let needle = format!("SB_TREE_MARK={}", self.dir.display());
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(env) = std::fs::read(entry.path().join("environ")) else {
                continue;
            };
            if !env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()) || !alive(&entry.path()) {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
        found
    }

    /// Wait (hang guard only) for the shim to exit, then look at once.
    fn assert_nothing_left_when_the_shim_exits(&self, shim: i32) {
        let proc = PathBuf::from(format!("/proc/{shim}"));
        let start = Instant::now();
        while alive(&proc) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "hang guard: the shim never exited"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let left = self.marked();
        assert!(left.is_empty(), "left when the shim exited: {left:?}");
    }

    fn finish(&self, run: std::process::Child, code: i32) {
        let out = wait_with_guard(run, Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        self.sb.assert_nothing_left_now("after the run");
    }
}

impl Drop for Leaky {
    /// A failed test still leaves no daemon behind.
    fn drop(&mut self) {
        for line in self.marked() {
            if let Some(pid) = line.split(':').next().and_then(|p| p.parse().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// `/proc/<pid>` exists and is not a zombie.
fn alive(proc: &Path) -> bool {
    std::fs::read_to_string(proc.join("stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    })
}

fn plan(dir: &Path, mode: &str) -> String {
    let dir = dir.display();
    format!(
        r#"version: 1
settings:
  maxParallel: 1
  restart:
    maxRestarts: 0
    backoffMs: 100
  maxFallbacks: 0
  heartbeat:
    intervalMs: 200
  halt:
    graceMs: 300
agents:
  leaky:
    command: "SB_TREE_MARK='{dir}' sh '{dir}/leaky.sh' {mode}"
groups:
  - id: G1
tasks:
  - taskId: T1
    title: leaky
    group: G1
    agent: {{ type: leaky }}
    outputs: [{{ path: t1.txt }}]
"#
    )
}

#[test]
fn an_agent_that_exits_leaves_no_process_of_its_attempt() {
    let leaky = Leaky::new("exit");
    let (run, shim) = leaky.start();
    std::fs::write(leaky.dir.join("go"), "").expect("go");
    leaky.assert_nothing_left_when_the_shim_exits(shim);
    leaky.finish(run, 0);
    assert_eq!(leaky.sb.state_of("T1").as_deref(), Some("done"));
}

#[test]
fn a_halted_agent_leaves_no_process_of_its_attempt() {
    let leaky = Leaky::new("wait");
    let (run, shim) = leaky.start();
    let halt = leaky.sb.run(&["halt"]);
    assert_eq!(halt.status.code(), Some(0), "{}", stderr(&halt));
    leaky.assert_nothing_left_when_the_shim_exits(shim);
    leaky.finish(run, 130);
}

#[test]
fn a_killed_tmux_session_leaves_no_process_of_its_attempt() {
    let leaky = Leaky::new("wait");
    let (run, shim) = leaky.start();
    let panes = Command::new("tmux")
        .args(["-L", &leaky.sb.tmux, "list-panes", "-a", "-F"])
        .arg("#{pane_pid} #{session_name}")
        .output()
        .expect("tmux list-panes");
    let panes = String::from_utf8_lossy(&panes.stdout).into_owned();
    let session = panes
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{shim} ")))
        .unwrap_or_else(|| panic!("no pane runs shim {shim}: {panes}"));
    let killed = Command::new("tmux")
        .args(["-L", &leaky.sb.tmux, "kill-session", "-t", session])
        .status()
        .expect("tmux kill-session");
    assert!(killed.success());
    leaky.assert_nothing_left_when_the_shim_exits(shim);
    leaky.finish(run, 1);
}

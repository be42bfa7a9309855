//! The shim as a real process (`switchboard worker`) against a fake engine: a
//! Unix listener in the test. Timeouts here are hang guards, never
//! performance assertions; every test kills what it started, even on failure.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use switchboard::worker::launch::Launch;
use switchboard::worker::protocol::{
    EngineMessage, ExitStatus, ReportState, ShimMessage, StopSignal, env,
};
use switchboard::worker::secret::AttemptSecret;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::{Child, Command};
use tokio::time::timeout;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
/// Hang guard only: nothing here should take more than a moment.
const GUARD: Duration = Duration::from_secs(30);
/// The attempt's secret the fake engine gives the shim.
const SECRET: &str = "5ec2e75ec2e75ec2e75ec2e75ec2e700";

/// A temp dir holding the engine socket, the pane log, and the shim it runs.
struct Fixture {
    dir: TempDir,
    shim: Option<Child>,
    shim_pid: Option<Pid>,
    agent_pgid: Option<Pid>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
            shim: None,
            shim_pid: None,
            agent_pgid: None,
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("engine.sock")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn listen(&self) -> UnixListener {
        UnixListener::bind(self.socket()).expect("bind the fake engine")
    }

    /// The shim command with a clean switchboard environment, in its own
    /// process group (so it never owns the test's terminal), output to a file.
    fn command(&self, agent: &str, heartbeat_ms: u64) -> Command {
        self.worker(&["--command".as_ref(), agent.as_ref()], heartbeat_ms)
    }

    /// [`Self::command`] with the agent given by `agent_args`.
    fn worker(&self, agent_args: &[&OsStr], heartbeat_ms: u64) -> Command {
        let log = std::fs::File::create(self.path("pane.log")).expect("pane log");
        let mut cmd = Command::new(BIN);
        cmd.arg("worker")
            .args(agent_args)
            .arg("--heartbeat-ms")
            .arg(heartbeat_ms.to_string())
            .env_remove(env::REPORT_SOCKET)
            .env(env::SOCKET, self.socket())
            .env(env::TASK, "T1")
            .env(env::ATTEMPT, "2")
            .env(env::SECRET, SECRET)
            .env("TMUX_PANE", "%7")
            .env("DIR", self.dir.path())
            .current_dir(self.dir.path())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("pane log"))
            .stderr(log)
            .kill_on_drop(true);
        cmd
    }

    fn spawn(&mut self, mut cmd: Command) {
        let child = cmd.spawn().expect("spawn the shim");
        self.shim_pid = child.id().map(|id| Pid::from_raw(id as i32));
        self.shim = Some(child);
    }

    fn start(&mut self, agent: &str, heartbeat_ms: u64) {
        let cmd = self.command(agent, heartbeat_ms);
        self.spawn(cmd);
    }

    /// The first line of a connection; remembers the agent's group for cleanup.
    async fn hello(&mut self, conn: &mut Conn) -> (u32, Option<u32>) {
        match conn.recv_any().await {
            ShimMessage::Hello {
                task,
                attempt,
                shim_pid,
                agent_pid,
                pane_id,
                secret,
            } => {
                assert_eq!(task, "T1");
                assert_eq!(attempt, 2);
                assert_eq!(secret, AttemptSecret::new(SECRET));
                assert_eq!(pane_id.as_deref(), Some("%7"));
                assert_eq!(Some(Pid::from_raw(shim_pid as i32)), self.shim_pid);
                if let Some(pid) = agent_pid {
                    self.agent_pgid = Some(Pid::from_raw(pid as i32));
                }
                (shim_pid, agent_pid)
            }
            other => panic!("expected hello first, got {other:?}"),
        }
    }

    async fn shim_exit(&mut self) -> i32 {
        let child = self.shim.as_mut().expect("a shim was started");
        let status = timeout(GUARD, child.wait())
            .await
            .expect("hang guard: the shim did not exit")
            .expect("wait for the shim");
        self.shim_pid = None;
        status.code().expect("the shim exits, not killed")
    }

    fn shim_running(&mut self) -> bool {
        let child = self.shim.as_mut().expect("a shim was started");
        matches!(child.try_wait(), Ok(None))
    }

    fn pane(&self) -> String {
        std::fs::read_to_string(self.path("pane.log")).unwrap_or_default()
    }

    fn agent_group_gone(&self) -> bool {
        let pgid = self.agent_pgid.expect("the agent's group is known");
        killpg(pgid, None) == Err(Errno::ESRCH)
    }

    /// Wait until the agent has exec'd `name`. A halt sooner can be lost: a
    /// `sh -c` catches SIGINT while starting up and drops it when it execs.
    async fn wait_for_agent(&self, name: &str) {
        let pgid = self.agent_pgid.expect("the agent's pid is known");
        let comm = format!("/proc/{pgid}/comm");
        let start = Instant::now();
        while std::fs::read_to_string(&comm).unwrap_or_default().trim() != name {
            assert!(
                start.elapsed() < GUARD,
                "hang guard: agent never became {name}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Live processes of this attempt other than `except`: the shim, the
    /// agent and everything they started, found by the `DIR=<fixture dir>`
    /// each inherits from the shim's environment.
    fn attempt_processes(&self, except: Option<Pid>) -> Vec<String> {
        let marker = format!("DIR={}", self.dir.path().display());
        marked_processes(&marker)
            .into_iter()
            .filter(|(pid, _)| Some(*pid) != except)
            .map(|(pid, cmdline)| format!("{pid}: {cmdline}"))
            .collect()
    }

    async fn wait_for_file(&self, name: &str) {
        let path = self.path(name);
        let start = Instant::now();
        while !path.exists() {
            assert!(start.elapsed() < GUARD, "hang guard: {name} never appeared");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(pgid) = self.agent_pgid {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        if let Some(pid) = self.shim_pid {
            let _ = killpg(pid, Signal::SIGKILL);
        }
        // What escaped the groups (a failed test of the process tree).
        let marker = format!("DIR={}", self.dir.path().display());
        for (pid, _) in marked_processes(&marker) {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// Live (not zombie) processes with `marker` (`NAME=value`) in their
/// environment, with their command lines.
fn marked_processes(marker: &str) -> Vec<(Pid, String)> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !environ.split(|&b| b == 0).any(|kv| kv == marker.as_bytes()) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        if state.is_none_or(|s| s.starts_with(['Z', 'X'])) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        found.push((Pid::from_raw(pid), cmdline.trim_end().to_string()));
    }
    found
}

/// One shim connection, as the engine sees it.
struct Conn {
    lines: Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Conn {
    async fn accept(listener: &UnixListener) -> Conn {
        let (stream, _) = timeout(GUARD, listener.accept())
            .await
            .expect("hang guard: the shim never connected")
            .expect("accept");
        Conn::from(stream)
    }

    fn from(stream: UnixStream) -> Conn {
        let (read, write) = stream.into_split();
        Conn {
            lines: BufReader::new(read).lines(),
            write,
        }
    }

    async fn recv_any(&mut self) -> ShimMessage {
        let line = timeout(GUARD, self.lines.next_line())
            .await
            .expect("hang guard: the shim went quiet")
            .expect("read from the shim")
            .expect("the shim closed the connection");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
    }

    /// The next message that is not a heartbeat.
    async fn recv(&mut self) -> ShimMessage {
        loop {
            match self.recv_any().await {
                ShimMessage::Heartbeat { .. } => continue,
                other => return other,
            }
        }
    }

    async fn exit(&mut self) -> ExitStatus {
        match self.recv().await {
            ShimMessage::Exit { status } => status,
            other => panic!("expected exit, got {other:?}"),
        }
    }

    async fn send(&mut self, message: &EngineMessage) {
        let mut line = serde_json::to_string(message).expect("encode");
        line.push('\n');
        self.write
            .write_all(line.as_bytes())
            .await
            .expect("write to the shim");
    }
}

fn quoted(path: &str) -> String {
    format!("'{path}'")
}

fn exited_with(code: i32) -> ExitStatus {
    ExitStatus {
        code: Some(code),
        signal: None,
    }
}

fn is_sigint_death(status: &ExitStatus) -> bool {
    status.signal == Some(Signal::SIGINT as i32) || status.code == Some(130)
}

#[tokio::test]
async fn hello_then_heartbeats_at_the_configured_rate() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    // Every beat is made after this instant, however late the test reads them.
    let start = Instant::now();
    fx.start("exec sleep 100", 20);
    let mut conn = Conn::accept(&engine).await;
    let (shim_pid, agent_pid) = fx.hello(&mut conn).await;
    assert!(agent_pid.is_some_and(|pid| pid != shim_pid));

    for expected in 1..=10u64 {
        match conn.recv_any().await {
            ShimMessage::Heartbeat { seq } => assert_eq!(seq, expected),
            other => panic!("expected a heartbeat, got {other:?}"),
        }
    }
    // Ten beats span at least nine intervals: never faster than asked.
    assert!(start.elapsed() >= Duration::from_millis(9 * 20));
}

#[tokio::test]
async fn exit_code_is_reported_and_returned_after_bye() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    fx.start("exit 3", 1000);
    let mut conn = Conn::accept(&engine).await;
    fx.hello(&mut conn).await;
    assert_eq!(conn.exit().await, exited_with(3));
    assert!(fx.shim_running(), "the shim waits for bye");
    conn.send(&EngineMessage::Bye).await;
    assert_eq!(fx.shim_exit().await, 3);
    assert!(
        fx.pane()
            .contains("[switchboard] agent exited: exit code 3")
    );
}

#[tokio::test]
async fn signal_killed_agent_reports_the_signal() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    fx.start("kill -KILL $$", 1000);
    let mut conn = Conn::accept(&engine).await;
    fx.hello(&mut conn).await;
    let status = conn.exit().await;
    assert_eq!(status.code, None);
    assert_eq!(status.signal, Some(Signal::SIGKILL as i32));
    conn.send(&EngineMessage::Bye).await;
    assert_eq!(fx.shim_exit().await, 128 + 9);
}

#[tokio::test]
async fn agent_reports_are_relayed_before_the_exit() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    let bin = quoted(BIN);
    fx.start(
        &format!("{bin} report wait --message q && {bin} report done"),
        1000,
    );
    let mut conn = Conn::accept(&engine).await;
    fx.hello(&mut conn).await;
    let report = |state, message: Option<&str>| ShimMessage::Report {
        state,
        message: message.map(str::to_string),
        usage: None,
    };
    assert_eq!(conn.recv().await, report(ReportState::Wait, Some("q")));
    assert_eq!(conn.recv().await, report(ReportState::Done, None));
    assert_eq!(conn.exit().await, exited_with(0));
    conn.send(&EngineMessage::Bye).await;
    assert_eq!(fx.shim_exit().await, 0);
}

#[tokio::test]
async fn report_socket_is_private_beside_the_engine_and_removed_at_the_end() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    fx.start(
        r#"printf %s "$SWITCHBOARD_REPORT_SOCKET" > "$DIR/socket-path""#,
        1000,
    );
    let mut conn = Conn::accept(&engine).await;
    fx.hello(&mut conn).await;
    assert_eq!(conn.exit().await, exited_with(0));
    let path = PathBuf::from(std::fs::read_to_string(fx.path("socket-path")).expect("path"));
    assert_eq!(path.parent(), Some(fx.dir.path()));
    let mode = std::fs::metadata(&path)
        .expect("socket exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    conn.send(&EngineMessage::Bye).await;
    assert_eq!(fx.shim_exit().await, 0);
    assert!(!path.exists(), "report socket removed on exit");
}

/// The secret proves the shim; an agent that knew it could pass as its shim.
#[tokio::test]
async fn the_agent_never_sees_the_attempts_secret() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    fx.start(
        r#"printf %s "${SWITCHBOARD_SECRET-unset}" > "$DIR/secret-seen""#,
        1000,
    );
    let mut conn = Conn::accept(&engine).await;
    fx.hello(&mut conn).await;
    assert_eq!(conn.exit().await, exited_with(0));
    let seen = std::fs::read_to_string(fx.path("secret-seen")).expect("the agent ran");
    assert_eq!(seen, "unset");
    conn.send(&EngineMessage::Bye).await;
    assert_eq!(fx.shim_exit().await, 0);
}

/// The engine's way: the agent's command and environment in a launch file,
/// of any size tmux would refuse, read once and removed.
#[tokio::test]
async fn a_launch_file_gives_the_agent_its_command_and_environment() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    let launch_path = fx.path("launch.json");
    let launch = Launch {
        command: r#"printf %s "$BIG" | wc -c > "$DIR/big-len""#.into(),
        env: vec![("BIG".into(), "b".repeat(50_000))],
        secret: None,
    };
    launch.write(&launch_path).expect("write the launch file");
    let cmd = fx.worker(&["--launch".as_ref(), launch_path.as_os_str()], 1000);
    fx.spawn(cmd);
    let mut conn = Conn::accept(&engine).await;
    fx.hello(&mut conn).await;
    assert_eq!(conn.exit().await, exited_with(0));
    let len = std::fs::read_to_string(fx.path("big-len")).expect("the agent ran");
    assert_eq!(len.trim(), "50000");
    assert!(!launch_path.exists(), "read once and removed");
    conn.send(&EngineMessage::Bye).await;
    assert_eq!(fx.shim_exit().await, 0);
}

#[tokio::test]
async fn halt_stops_a_plain_agent_with_sigint() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    fx.start("exec sleep 100", 1000);
    let mut conn = Conn::accept(&engine).await;
    fx.hello(&mut conn).await;
    fx.wait_for_agent("sleep").await;
    conn.send(&EngineMessage::Halt {
        halt_id: 1,
        grace_ms: 20_000,
    })
    .await;
    assert_eq!(conn.recv().await, ShimMessage::HaltAck { halt_id: 1 });
    match conn.recv().await {
        ShimMessage::Halted {
            halt_id: 1,
            signal: StopSignal::Sigint,
            ..
        } => {}
        other => panic!("expected halted by SIGINT, got {other:?}"),
    }
    assert!(fx.agent_group_gone());
    let status = conn.exit().await;
    assert!(is_sigint_death(&status), "{status:?}");
    conn.send(&EngineMessage::Bye).await;
    assert_eq!(fx.shim_exit().await, 130);
}

/// Halt an agent whose whole group ignores SIGINT (and maybe SIGTERM); the
/// `sleep`s inherit the ignored dispositions, so no group member dies early.
async fn halt_stubborn(agent: &str, expected: StopSignal) {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    fx.start(agent, 1000);
    let mut conn = Conn::accept(&engine).await;
    fx.hello(&mut conn).await;
    // Halt only once the traps are set, or SIGINT would still work.
    fx.wait_for_file("ready").await;
    conn.send(&EngineMessage::Halt {
        halt_id: 9,
        grace_ms: 150,
    })
    .await;
    assert_eq!(conn.recv().await, ShimMessage::HaltAck { halt_id: 9 });
    match conn.recv().await {
        ShimMessage::Halted {
            halt_id: 9, signal, ..
        } => assert_eq!(signal, expected),
        other => panic!("expected halted, got {other:?}"),
    }
    assert!(fx.agent_group_gone(), "no process of the group survives");
    conn.exit().await;
    conn.send(&EngineMessage::Bye).await;
    fx.shim_exit().await;
}

#[tokio::test]
async fn halt_escalates_to_sigterm_when_sigint_is_ignored() {
    halt_stubborn(
        r#"trap "" INT; touch "$DIR/ready"; while :; do sleep 0.1; done"#,
        StopSignal::Sigterm,
    )
    .await;
}

#[tokio::test]
async fn halt_escalates_to_sigkill_when_sigterm_is_ignored_too() {
    halt_stubborn(
        r#"trap "" INT TERM; touch "$DIR/ready"; while :; do sleep 0.1; done"#,
        StopSignal::Sigkill,
    )
    .await;
}

#[tokio::test]
async fn halt_after_the_exit_is_answered_with_no_signal() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    fx.start("exit 0", 1000);
    let mut conn = Conn::accept(&engine).await;
    fx.hello(&mut conn).await;
    assert_eq!(conn.exit().await, exited_with(0));
    conn.send(&EngineMessage::Halt {
        halt_id: 5,
        grace_ms: 1000,
    })
    .await;
    assert_eq!(conn.recv().await, ShimMessage::HaltAck { halt_id: 5 });
    match conn.recv().await {
        ShimMessage::Halted {
            halt_id: 5,
            signal: StopSignal::None,
            ..
        } => {}
        other => panic!("expected halted with no signal, got {other:?}"),
    }
    conn.send(&EngineMessage::Bye).await;
    assert_eq!(fx.shim_exit().await, 0);
}

#[tokio::test]
async fn leftover_processes_are_killed_when_the_agent_exits() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    fx.start(r#"sleep 100 & echo $! > "$DIR/bg.pid"; exit 0"#, 1000);
    let mut conn = Conn::accept(&engine).await;
    fx.hello(&mut conn).await;
    assert_eq!(conn.exit().await, exited_with(0));
    let bg: i32 = std::fs::read_to_string(fx.path("bg.pid"))
        .expect("bg.pid")
        .trim()
        .parse()
        .expect("a pid");
    assert_eq!(kill(Pid::from_raw(bg), None), Err(Errno::ESRCH));
    assert!(fx.agent_group_gone());
    conn.send(&EngineMessage::Bye).await;
    assert_eq!(fx.shim_exit().await, 0);
}

#[tokio::test]
async fn engine_down_at_start_gets_the_buffered_report_and_exit() {
    let mut fx = Fixture::new();
    let bin = quoted(BIN);
    fx.start(
        &format!(r#"{bin} report done --message early && touch "$DIR/reported""#),
        1000,
    );
    // The report is acknowledged while no engine listens, and the agent ends.
    fx.wait_for_file("reported").await;
    let engine = fx.listen();
    let mut conn = Conn::accept(&engine).await;
    fx.hello(&mut conn).await;
    assert_eq!(
        conn.recv().await,
        ShimMessage::Report {
            state: ReportState::Done,
            message: Some("early".into()),
            usage: None,
        }
    );
    assert_eq!(conn.exit().await, exited_with(0));
    conn.send(&EngineMessage::Bye).await;
    assert_eq!(fx.shim_exit().await, 0);
}

#[tokio::test]
async fn dropped_connection_reconnects_with_hello_again() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    fx.start("exec sleep 100", 20);
    let mut first = Conn::accept(&engine).await;
    let ids = fx.hello(&mut first).await;
    let last_seq = match first.recv_any().await {
        ShimMessage::Heartbeat { seq } => seq,
        other => panic!("expected a heartbeat, got {other:?}"),
    };
    drop(first);

    let mut second = Conn::accept(&engine).await;
    assert_eq!(fx.hello(&mut second).await, ids, "same shim, same agent");
    fx.wait_for_agent("sleep").await;
    match second.recv_any().await {
        ShimMessage::Heartbeat { seq } => assert!(seq > last_seq),
        other => panic!("expected a heartbeat, got {other:?}"),
    }
    // The new connection is fully live: it can halt.
    second
        .send(&EngineMessage::Halt {
            halt_id: 2,
            grace_ms: 20_000,
        })
        .await;
    assert_eq!(second.recv().await, ShimMessage::HaltAck { halt_id: 2 });
    assert!(matches!(
        second.recv().await,
        ShimMessage::Halted { halt_id: 2, .. }
    ));
    assert!(is_sigint_death(&second.exit().await));
}

#[tokio::test]
async fn exit_is_repeated_after_a_reconnect_until_bye() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    fx.start("exit 4", 1000);
    let mut first = Conn::accept(&engine).await;
    fx.hello(&mut first).await;
    assert_eq!(first.exit().await, exited_with(4));
    drop(first);

    let mut second = Conn::accept(&engine).await;
    let (_, agent_pid) = fx.hello(&mut second).await;
    assert_eq!(agent_pid, None, "no agent runs any more");
    assert_eq!(second.exit().await, exited_with(4));
    second.send(&EngineMessage::Bye).await;
    assert_eq!(fx.shim_exit().await, 4);
}

#[tokio::test]
async fn sigterm_to_the_shim_stops_the_agent_and_still_reports_the_exit() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    fx.start("exec sleep 100", 1000);
    let mut conn = Conn::accept(&engine).await;
    fx.hello(&mut conn).await;
    fx.wait_for_agent("sleep").await;
    let shim = fx.shim_pid.expect("shim pid");
    kill(shim, Signal::SIGTERM).expect("signal the shim");
    let status = conn.exit().await;
    assert!(is_sigint_death(&status), "{status:?}");
    assert!(fx.agent_group_gone());
    conn.send(&EngineMessage::Bye).await;
    assert_eq!(fx.shim_exit().await, 130);
}

#[tokio::test]
async fn unstartable_agent_is_reported_as_127() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    let mut cmd = fx.command("true", 1000);
    cmd.env("PATH", "/nonexistent");
    fx.spawn(cmd);
    let mut conn = Conn::accept(&engine).await;
    let (_, agent_pid) = fx.hello(&mut conn).await;
    assert_eq!(agent_pid, None);
    assert_eq!(conn.exit().await, exited_with(127));
    conn.send(&EngineMessage::Bye).await;
    assert_eq!(fx.shim_exit().await, 127);
    assert!(
        fx.pane().contains("cannot start the agent"),
        "{}",
        fx.pane()
    );
}

#[tokio::test]
async fn worker_without_a_secret_exits_2() {
    let fx = Fixture::new();
    let _engine = fx.listen();
    let out = std::process::Command::new(BIN)
        .args(["worker", "--command", "true"])
        .env(env::SOCKET, fx.socket())
        .env(env::TASK, "T1")
        .env(env::ATTEMPT, "1")
        .env_remove(env::SECRET)
        .output()
        .expect("run the shim");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SWITCHBOARD_SECRET is not set"));
}

#[tokio::test]
async fn worker_without_an_engine_socket_exits_2() {
    let out = std::process::Command::new(BIN)
        .args(["worker", "--command", "true"])
        .env_remove(env::SOCKET)
        .output()
        .expect("run the shim");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SWITCHBOARD_SOCKET is not set"));
}

fn report_outside(socket: Option<&Path>) -> std::process::Output {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["report", "done", "--message", "x"]);
    match socket {
        Some(path) => cmd.env(env::REPORT_SOCKET, path),
        None => cmd.env_remove(env::REPORT_SOCKET),
    };
    cmd.output().expect("run report")
}

#[test]
fn report_outside_a_worker_exits_2() {
    let out = report_outside(None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "switchboard report: not inside a switchboard worker \
         (SWITCHBOARD_REPORT_SOCKET is not set)"
    );
}

#[test]
fn report_to_a_missing_socket_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = report_outside(Some(&dir.path().join("gone.sock")));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the worker's report socket"),
        "{stderr}"
    );
}

/// A fake agent that leaves processes the way real ones do: a daemon in its
/// own session that ignores SIGTERM and SIGHUP (codex's app-server), a
/// double-forked process that catches SIGHUP (gemini's node), and an orphan
/// that exits with 7 before the agent does (its exit must not pass for the
/// agent's).
/// Then `exit 3`, or (`wait`) runs until stopped.
const LEAKY_AGENT: &str = r#"
setsid sh -c 'trap "" TERM HUP; touch "$DIR/daemon.ready"; exec sleep 300' &
( sh -c 'trap "echo caught HUP" HUP; touch "$DIR/catcher.ready"; while :; do sleep 1; done' & )
( sh -c 'exit 7' & )
until [ -e "$DIR/daemon.ready" ] && [ -e "$DIR/catcher.ready" ]; do sleep 0.02; done
touch "$DIR/ready"
[ "$1" = wait ] && exec sleep 300
exit 3
"#;

/// Start the leaky agent with `mode` (`exit` or `wait`) under a shim whose
/// own stop grace is short.
async fn start_leaky(fx: &mut Fixture, mode: &str) -> Conn {
    std::fs::write(fx.path("leaky.sh"), LEAKY_AGENT).expect("write the fake agent");
    let engine = fx.listen();
    let mut cmd = fx.command(&format!(r#"sh "$DIR/leaky.sh" {mode}"#), 1000);
    cmd.args(["--stop-grace-ms", "150"]);
    fx.spawn(cmd);
    let mut conn = Conn::accept(&engine).await;
    fx.hello(&mut conn).await;
    conn
}

/// The attempt's `exit` says its whole tree is gone: nothing but the shim
/// is left right then, and nothing at all the moment the shim has exited.
async fn assert_tree_gone(fx: &mut Fixture, conn: &mut Conn) -> ExitStatus {
    let status = conn.exit().await;
    let shim = fx.shim_pid;
    let left = fx.attempt_processes(shim);
    assert!(left.is_empty(), "left at the exit: {left:?}");
    conn.send(&EngineMessage::Bye).await;
    fx.shim_exit().await;
    let left = fx.attempt_processes(None);
    assert!(left.is_empty(), "left once the shim exited: {left:?}");
    status
}

#[tokio::test]
async fn an_agent_that_exits_leaves_no_process_behind() {
    let mut fx = Fixture::new();
    let mut conn = start_leaky(&mut fx, "exit").await;
    let status = assert_tree_gone(&mut fx, &mut conn).await;
    assert_eq!(
        status,
        exited_with(3),
        "the agent's own status, not the orphan's"
    );
    assert!(
        fx.path("ready").exists(),
        "the agent got as far as its exit"
    );
}

#[tokio::test]
async fn a_halted_agent_leaves_no_process_behind() {
    let mut fx = Fixture::new();
    let mut conn = start_leaky(&mut fx, "wait").await;
    fx.wait_for_file("ready").await;
    conn.send(&EngineMessage::Halt {
        halt_id: 4,
        grace_ms: 150,
    })
    .await;
    assert_eq!(conn.recv().await, ShimMessage::HaltAck { halt_id: 4 });
    assert!(matches!(
        conn.recv().await,
        ShimMessage::Halted { halt_id: 4, .. }
    ));
    let status = assert_tree_gone(&mut fx, &mut conn).await;
    assert!(is_sigint_death(&status), "{status:?}");
}

#[tokio::test]
async fn a_hangup_of_the_shim_leaves_no_process_behind() {
    let mut fx = Fixture::new();
    let mut conn = start_leaky(&mut fx, "wait").await;
    fx.wait_for_file("ready").await;
    let shim = fx.shim_pid.expect("shim pid");
    kill(shim, Signal::SIGHUP).expect("hang up the shim");
    let status = assert_tree_gone(&mut fx, &mut conn).await;
    assert!(is_sigint_death(&status), "{status:?}");
}

/// A pool worker's live agent takes its next task: the shim, told so, says
/// hello again on a new connection for the new attempt with its secret, and
/// the agent's next reports go there. The agent is the same process.
#[tokio::test]
async fn a_reassigned_shim_speaks_for_its_new_attempt() {
    let mut fx = Fixture::new();
    let engine = fx.listen();
    let bin = quoted(BIN);
    fx.start(
        &format!(
            "while [ ! -e \"$DIR/go\" ]; do sleep 0.02; done; {bin} report done; exec sleep 100"
        ),
        1000,
    );
    let mut first = Conn::accept(&engine).await;
    let (shim, agent) = fx.hello(&mut first).await;
    let secret = AttemptSecret::new("0123456789abcdef0123456789abcdef");
    first
        .send(&EngineMessage::Reassign {
            task: "T7".into(),
            attempt: 1,
            secret: secret.clone(),
        })
        .await;
    let mut second = Conn::accept(&engine).await;
    match second.recv_any().await {
        ShimMessage::Hello {
            task,
            attempt,
            shim_pid,
            agent_pid,
            secret: said,
            ..
        } => {
            assert_eq!((task.as_str(), attempt), ("T7", 1));
            assert_eq!(said, secret);
            assert_eq!(
                (shim_pid, agent_pid),
                (shim, agent),
                "the same shim and agent"
            );
        }
        other => panic!("expected a new hello, got {other:?}"),
    }
    std::fs::write(fx.path("go"), "").expect("go");
    assert_eq!(
        second.recv().await,
        ShimMessage::Report {
            state: ReportState::Done,
            message: None,
            usage: None,
        }
    );
    assert!(fx.shim_running());
}

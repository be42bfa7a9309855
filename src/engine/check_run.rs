//! A plan's check commands (`command` validations, integration checks) run
//! with a deadline: `sh -c` in a process group of its own, so a test suite
//! that hangs is stopped whole, its children with it, and fails as timed out
//! instead of holding the merge queue forever.

use super::attempt_log;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// After SIGTERM, how long a timed-out check has to end before SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// How a check command ended.
#[derive(Debug)]
pub enum Ended {
    Exited(ExitStatus),
    /// Still running at the deadline: stopped.
    TimedOut(Duration),
}

impl Ended {
    pub fn success(&self) -> bool {
        matches!(self, Ended::Exited(s) if s.success())
    }

    /// "`cmd` exited 0", "`cmd` failed (exit status: 1)", "`cmd` timed out …".
    pub fn words(&self, command: &str) -> String {
        match self {
            Ended::Exited(s) if s.success() => format!("`{command}` exited 0"),
            Ended::Exited(s) => format!("`{command}` failed ({s})"),
            Ended::TimedOut(limit) => format!(
                "`{command}` timed out after {} (settings.checkTimeoutMinutes) and was stopped",
                crate::engine::words::duration(limit.as_millis() as u64)
            ),
        }
    }
}

/// Run `sh -c COMMAND` in `dir`, stdin closed, output where the caller says;
/// stopped (SIGTERM, then SIGKILL) when it outlives `limit`. Whatever of its
/// group is still alive once it ended is killed too: a leftover would keep
/// the caller's output open and outlive the run.
pub fn run_sh(
    command: &str,
    dir: &Path,
    stdout: Stdio,
    stderr: Stdio,
    limit: Duration,
) -> io::Result<Ended> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()?;
    let group = Pid::from_raw(child.id() as i32);
    let ended = match wait_until(&mut child, Instant::now() + limit)? {
        Some(status) => Ended::Exited(status),
        None => {
            let _ = killpg(group, Signal::SIGTERM);
            if wait_until(&mut child, Instant::now() + GRACE)?.is_none() {
                let _ = killpg(group, Signal::SIGKILL);
                child.wait()?;
            }
            Ended::TimedOut(limit)
        }
    };
    let _ = killpg(group, Signal::SIGKILL);
    Ok(ended)
}

/// The child's status, or None if it still runs at `deadline`. Polled: a
/// check takes seconds to minutes, and a few wakeups a second on a blocking
/// thread cost nothing next to it.
fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Lines of the integration check's output kept in the journal.
const CHECK_TAIL_LINES: usize = 20;
/// And at most this many bytes of them.
const CHECK_TAIL_BYTES: usize = 4096;

/// The integration check: `sh -c COMMAND` in `dir`, stdout and stderr
/// together into `log`; what it says is how it ended and the end of that log
/// (bounded: the output may be a whole test suite's). The plan's text
/// reaches a shell on purpose, as for `command` validations.
pub fn run_integration_check(
    command: &str,
    dir: &Path,
    log: &Path,
    shown: &str,
    limit: Duration,
) -> (bool, String) {
    let file = log
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::File::create(log));
    let (out, err) = match file.and_then(|f| Ok((f.try_clone()?, f))) {
        Ok(pair) => pair,
        Err(e) => return (false, format!("cannot write {}: {e}", log.display())),
    };
    let ended = match run_sh(command, dir, out.into(), err.into(), limit) {
        Ok(ended) => ended,
        Err(e) => return (false, format!("cannot run `{command}`: {e}")),
    };
    let tail = attempt_log::read_tail(log, CHECK_TAIL_LINES)
        .map(|t| t.lines.join("\n"))
        .unwrap_or_default();
    let cut = tail.len().saturating_sub(CHECK_TAIL_BYTES);
    let cut = (cut..tail.len())
        .find(|&i| tail.is_char_boundary(i))
        .unwrap_or(tail.len());
    let tail = &tail[cut..];
    let words = ended.words(command);
    let detail = if tail.trim().is_empty() {
        format!("{words}; no output")
    } else {
        format!("{words}; the end of its output ({shown}):\n{tail}")
    };
    (ended.success(), detail)
}

/// A `command` validation: `sh -c RUN` in the worktree; the plan's text
/// reaches a shell here on purpose, as the plan author wrote it. Its stderr
/// goes to an unnamed temporary file (no pipe for a leftover to hold open),
/// and the last lines of it explain a failure.
pub fn run_check(run: &str, dir: &Path, limit: Duration) -> (bool, String) {
    let stderr = match tempfile::tempfile() {
        Ok(f) => f,
        Err(e) => return (false, format!("cannot run `{run}`: no temporary file: {e}")),
    };
    let reader = stderr.try_clone();
    let ended = match run_sh(run, dir, Stdio::null(), stderr.into(), limit) {
        Ok(ended) => ended,
        Err(e) => return (false, format!("cannot run `{run}`: {e}")),
    };
    let words = ended.words(run);
    if ended.success() {
        return (true, words);
    }
    let tail = reader.map(|f| stderr_tail(f, 3)).unwrap_or_default();
    if tail.is_empty() {
        (false, words)
    } else {
        (false, format!("{words}: {}", tail.join(" / ")))
    }
}

/// The last `n` lines of a check's stderr, read from the end (bounded).
fn stderr_tail(mut file: std::fs::File, n: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(CHECK_TAIL_BYTES as u64);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().rev().take(n).collect();
    lines.into_iter().rev().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(command: &str, limit_ms: u64) -> Ended {
        let dir = tempfile::tempdir().unwrap();
        run_sh(
            command,
            dir.path(),
            Stdio::null(),
            Stdio::null(),
            Duration::from_millis(limit_ms),
        )
        .unwrap()
    }

    #[test]
    fn a_check_that_ends_reports_its_status() {
        assert!(run("true", 10_000).success());
        let failed = run("exit 3", 10_000);
        assert!(!failed.success());
        assert!(failed.words("exit 3").contains("failed"), "{failed:?}");
    }

    #[test]
    fn a_check_past_its_limit_is_stopped_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let cmd = format!("sleep 600 & echo $! > '{}'; wait", pidfile.display());
        let ended = run_sh(
            &cmd,
            dir.path(),
            Stdio::null(),
            Stdio::null(),
            // Long enough for `sh` to start its child and write the pid
            // file on a loaded machine; the test is about what happens next.
            Duration::from_secs(3),
        )
        .unwrap();
        assert!(matches!(ended, Ended::TimedOut(_)), "{ended:?}");
        assert!(ended.words("x").contains("timed out"));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The sleep was in the check's group: SIGKILLed when run_sh
        // returned. A SIGKILL is not instant on a loaded machine (the
        // process is seen running its exit for a moment), so it is given
        // a hang guard's while to be gone (a zombie until init reaps it
        // counts as gone).
        let stat = || {
            let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            text.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .to_string()
        };
        let gone = |state: &str| state.is_empty() || state.starts_with('Z');
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !gone(&stat()) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let state = stat();
        assert!(gone(&state), "{state}");
    }

    #[test]
    fn what_a_finished_check_left_running_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let cmd = format!("sleep 600 & echo $! > '{}'", pidfile.display());
        let ended = run_sh(
            &cmd,
            dir.path(),
            Stdio::null(),
            Stdio::null(),
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(ended.success());
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SIGKILL is delivered before killpg returns; give the kernel a
        // moment to mark it (bounded wait, not a timing assertion).
        let gone = (0..200).any(|_| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let s = s.rsplit(')').next().unwrap_or("").trim_start().to_string();
            let dead = s.is_empty() || s.starts_with('Z');
            if !dead {
                std::thread::sleep(Duration::from_millis(10));
            }
            dead
        });
        assert!(gone);
    }
}

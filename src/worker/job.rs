//! Job control for the agent, as a shell does it: its own process group, the
//! terminal's foreground, signals to the whole group, and reaping.
//!
//! Everything here is synchronous and thin over libc; the async keeper in
//! `agent.rs` decides when to call it.

use super::protocol::{ExitStatus, env};
use nix::errno::Errno;
use nix::sys::signal::{self, SigHandler, Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, getpgrp, getpid, setpgid, tcgetpgrp, tcsetpgrp};
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Signals a job-control shell ignores for itself. Ignored dispositions survive
/// `exec`, so the agent gets each of them back at its default before exec.
const SHELL_IGNORED: [Signal; 5] = [
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
];

/// Ignore Ctrl-C, Ctrl-\ and Ctrl-Z, and the background-tty signals (so the
/// shim may hand the terminal over and take it back).
pub fn ignore_job_control_signals() -> nix::Result<()> {
    for sig in SHELL_IGNORED {
        // SAFETY: SIG_IGN installs no handler code, so nothing can run
        // unsafely inside a signal context.
        unsafe { signal::signal(sig, SigHandler::SigIgn) }?;
    }
    Ok(())
}

/// Adopt orphaned descendants: whatever the agent starts stays below the
/// shim even after `setsid` or a double fork, so the shim can find and end
/// it (`tree::descendants`), and reaps it rather than leaving a zombie.
#[cfg(target_os = "linux")]
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Elsewhere orphans go to init, which reaps them.
#[cfg(not(target_os = "linux"))]
pub fn become_subreaper() -> nix::Result<()> {
    Ok(())
}

/// The controlling terminal, when the shim holds its foreground (as the first
/// process of a tmux pane does).
#[derive(Debug)]
pub struct Terminal {
    tty: File,
}

impl Terminal {
    /// None without a controlling terminal, or when the shim is not in the
    /// terminal's foreground group (started from another shell's background,
    /// or by a test): then the terminal is not the shim's to hand over.
    pub fn acquire() -> Option<Terminal> {
        let tty = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        let foreground = tcgetpgrp(&tty).ok()?;
        (foreground == getpgrp()).then_some(Terminal { tty })
    }

    /// Take the foreground back once the agent is gone, as a shell does
    /// before printing its prompt. Fails quietly on a hung-up terminal.
    pub fn reclaim(&self) {
        if let Err(e) = tcsetpgrp(&self.tty, getpgrp()) {
            tracing::debug!("cannot take the terminal back: {e}");
        }
    }
}

/// Start `sh -c command` as the leader of a new process group, in the
/// terminal's foreground when a terminal is given. Returns the agent's pid,
/// which is also its process group id. The attempt's secret stays with the
/// shim: an agent that knew it could pass as its shim.
pub fn spawn_agent<'a>(
    command: &str,
    envs: impl IntoIterator<Item = (&'a str, &'a OsStr)>,
    terminal: Option<&Terminal>,
) -> io::Result<Pid> {
    let tty_fd = terminal.map(|t| t.tty.as_raw_fd());
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .env_remove(env::SECRET)
        .envs(envs);
    // SAFETY: between fork and exec only async-signal-safe calls happen
    // (setpgid, getpid, tcsetpgrp, sigaction); nothing allocates or locks.
    // The tty fd is open in the child until exec (it is close-on-exec).
    unsafe {
        cmd.pre_exec(move || {
            // The child joins its own group and takes the terminal before
            // exec, so the agent never runs as a background job that would
            // be stopped by SIGTTIN on its first read.
            setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
            if let Some(fd) = tty_fd {
                // Allowed from a background group because SIGTTOU is still
                // ignored here (inherited from the shim).
                let _ = tcsetpgrp(BorrowedFd::borrow_raw(fd), getpid());
            }
            for sig in SHELL_IGNORED.into_iter().chain([Signal::SIGPIPE]) {
                signal::signal(sig, SigHandler::SigDfl)?;
            }
            Ok(())
        });
    }
    // std waits for the exec to succeed or fail before returning, so by now
    // the group and the terminal handover are in place. The `Child` handle is
    // dropped without waiting: `reap` collects the status.
    let child = cmd.spawn()?;
    let pid = i32::try_from(child.id())
        .map_err(|_| io::Error::other("agent pid does not fit in pid_t"))?;
    Ok(Pid::from_raw(pid))
}

/// Collect every ended child without blocking (the agent and any orphaned
/// descendants adopted as subreaper). Returns the agent's status if the agent
/// was among them: an orphan's exit is reaped and otherwise ignored. A stopped agent (Ctrl-Z in the pane) is continued: with no
/// shell prompt to `fg` from, a stopped agent would only look hung.
pub fn reap(agent: Pid) -> Option<ExitStatus> {
    let mut status = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::WUNTRACED)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == agent => {
                status = Some(ExitStatus {
                    code: Some(code),
                    signal: None,
                });
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == agent => {
                status = Some(ExitStatus {
                    code: None,
                    signal: Some(sig as i32),
                });
            }
            Ok(WaitStatus::Stopped(pid, sig)) => {
                tracing::info!("process {pid} stopped by {sig}; continuing its group");
                signal_group(agent, Signal::SIGCONT);
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return status,
            Ok(_) => {}
        }
    }
}

/// Send `sig` to the agent's whole group; a group that is already gone is fine.
pub fn signal_group(pgid: Pid, sig: Signal) {
    match killpg(pgid, sig) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => tracing::warn!("cannot send {sig} to process group {pgid}: {e}"),
    }
}

/// Whether any process of the group still exists (zombies included, which is
/// why the caller reaps first).
pub fn group_alive(pgid: Pid) -> bool {
    !matches!(killpg(pgid, None), Err(Errno::ESRCH))
}

/// The shell's convention for a child's status as a process exit code.
pub fn exit_code(status: &ExitStatus) -> u8 {
    match (status.code, status.signal) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        let code = |code, signal| exit_code(&ExitStatus { code, signal });
        assert_eq!(code(Some(0), None), 0);
        assert_eq!(code(Some(3), None), 3);
        assert_eq!(code(Some(127), None), 127);
        assert_eq!(code(None, Some(9)), 137);
        assert_eq!(code(None, Some(2)), 130);
        assert_eq!(code(None, None), 1);
    }
}

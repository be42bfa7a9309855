//! Where a worker's tmux session lives — this machine's tmux server, or a
//! host's reached over the engine's ssh master (issue 14) — and the commands
//! that ask whether the session is there and attach to it.
//!
//! On a host the command is `ssh -t <the engine's options> <destination>
//! 'tmux -L <socket> attach-session -t =<session>'`: ssh hands its last
//! word to the host's shell, so each word of the tmux command is quoted for
//! it. Nothing from the plan reaches a shell unquoted; locally the commands
//! are argv.

use super::attach::{self, Surroundings};
use crate::engine::snapshot::Snapshot;
use crate::hosts::ssh::{last_line, run_timed};
use std::process::Command;
use std::time::Duration;

/// How long asking a host whether a session is there may take: over the
/// engine's master it takes milliseconds; a host that stopped answering
/// since the last snapshot is given up on.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// ssh's own failure (it cannot tell it from the remote command's 255).
const SSH_FAILED: i32 = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerServer {
    /// This machine: `tmux -L <socket>`, or the default server.
    Local { socket: Option<String> },
    /// A host's tmux server, over ssh.
    Host {
        name: String,
        /// `ssh` and its arguments up to the remote command (the engine's
        /// master): [`HostView::ssh`](crate::engine::host_link::HostView).
        ssh: Vec<String>,
        /// Its tmux server for the workers (`tmux -L`).
        tmux_socket: String,
    },
}

/// What asking for a session found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCheck {
    There,
    /// No such session (the worker ended, or its server is gone).
    Gone,
    /// The question got no answer: the host's or ssh's words.
    Unanswered(String),
}

impl WorkerServer {
    /// The server of `task`'s worker, which runs on `host` (None: this
    /// machine), or why nobody can attach to it now: its host does not
    /// answer (since when, in `clock`'s words) or is not in the snapshot.
    pub fn of(
        snapshot: &Snapshot,
        task: &str,
        host: Option<&str>,
        clock: impl Fn(u64) -> String,
    ) -> Result<WorkerServer, String> {
        let Some(name) = host else {
            return Ok(WorkerServer::Local {
                socket: snapshot.tmux_socket.clone(),
            });
        };
        let Some(view) = snapshot.hosts.iter().find(|h| h.name == name) else {
            return Err(format!(
                "{task} runs on {name}, a host the engine does not list: cannot attach"
            ));
        };
        if !view.reachable {
            let mut words = format!(
                "cannot attach to {task}: {name} is unreachable since {}",
                clock(view.since_ms)
            );
            if let Some(why) = &view.why {
                words.push_str(&format!(" ({})", crate::plan::diagnostic::printable(why)));
            }
            return Err(words);
        }
        if view.ssh.is_empty() {
            return Err(format!(
                "cannot attach to {task}: the engine gave no ssh command for {name}"
            ));
        }
        Ok(WorkerServer::Host {
            name: name.to_string(),
            ssh: view.ssh.clone(),
            tmux_socket: view.tmux_socket.clone(),
        })
    }

    /// The host's name; None on this machine.
    pub fn host(&self) -> Option<&str> {
        match self {
            WorkerServer::Local { .. } => None,
            WorkerServer::Host { name, .. } => Some(name),
        }
    }

    /// The command that attaches this terminal to `session` (`=`: by its
    /// exact name, so `sb-T1` never lands in `sb-T10`).
    pub fn attach_argv(&self, session: &str, env: &Surroundings) -> Result<Vec<String>, String> {
        match self {
            WorkerServer::Local { socket } => {
                Ok(attach::attach_argv(socket.as_deref(), session, env))
            }
            WorkerServer::Host { .. } => {
                self.over_ssh("-t", &["attach-session", "-t", &format!("={session}")])
            }
        }
    }

    /// The command whose status says whether `session` is there.
    pub fn has_session_argv(
        &self,
        session: &str,
        env: &Surroundings,
    ) -> Result<Vec<String>, String> {
        match self {
            WorkerServer::Local { socket } => {
                Ok(attach::has_session_argv(socket.as_deref(), session, env))
            }
            WorkerServer::Host { .. } => {
                self.over_ssh("-T", &["has-session", "-t", &format!("={session}")])
            }
        }
    }

    /// `ssh <tty> …options… <destination> 'tmux -L <socket> <args>'`. The
    /// tty flag goes first: after the destination it would need ssh to
    /// read options there, and `--` in the options would end them.
    fn over_ssh(&self, tty: &str, args: &[&str]) -> Result<Vec<String>, String> {
        let WorkerServer::Host {
            name,
            ssh,
            tmux_socket,
        } = self
        else {
            return Err("not on a host".into());
        };
        let mut tmux = vec!["tmux", "-L", tmux_socket];
        tmux.extend(args);
        let remote = shlex::try_join(tmux)
            .map_err(|_| format!("a NUL byte in the tmux command for {name}"))?;
        let mut argv = ssh.clone();
        argv.insert(1.min(argv.len()), tty.to_string());
        argv.push(remote);
        Ok(argv)
    }

    /// Ask whether `session` is there. Blocking (call it off the async
    /// threads); on a host, bounded by [`CHECK_TIMEOUT`].
    pub fn check(&self, session: &str, env: &Surroundings) -> SessionCheck {
        match self {
            WorkerServer::Local { socket } => {
                if attach::session_exists(socket.as_deref(), session, env) {
                    SessionCheck::There
                } else {
                    SessionCheck::Gone
                }
            }
            WorkerServer::Host { name, .. } => {
                let argv = match self.has_session_argv(session, env) {
                    Ok(argv) => argv,
                    Err(why) => return SessionCheck::Unanswered(why),
                };
                let mut command = Command::new(&argv[0]);
                command.args(&argv[1..]);
                host_answer(name, run_timed(&mut command, CHECK_TIMEOUT))
            }
        }
    }
}

/// What a host's `has-session` said: 0 there, 1 (tmux: no such session,
/// or no server) gone, ssh's 255 or anything else no answer.
fn host_answer(
    name: &str,
    out: Result<crate::hosts::ssh::Output, crate::hosts::ssh::SshError>,
) -> SessionCheck {
    match out {
        Ok(out) if out.success() => SessionCheck::There,
        Ok(out) if out.code == Some(1) => SessionCheck::Gone,
        Ok(out) if out.code == Some(SSH_FAILED) => SessionCheck::Unanswered(format!(
            "{name} does not answer: {}",
            last_line(&out.stderr)
        )),
        Ok(out) => SessionCheck::Unanswered(format!(
            "tmux on {name}: {} ({})",
            last_line(&out.stderr),
            out.code
                .map_or("killed by a signal".to_string(), |c| format!("exit {c}"))
        )),
        Err(e) => SessionCheck::Unanswered(format!("{name}: {e}")),
    }
}

#[cfg(test)]
#[path = "worker_server_tests.rs"]
mod tests;

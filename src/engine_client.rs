//! `switchboard status | halt | resume`: talk to this repository's running
//! engine over its control socket, from any terminal in the repo.

use crate::engine::command::{Command, Reply};
use crate::engine::snapshot::{HaltReport, Snapshot};
use crate::engine::socket;
use std::path::PathBuf;
use std::process::ExitCode;

/// The socket of the engine for the repository around the current directory.
fn engine_socket() -> Result<PathBuf, String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let repo = crate::git::Repo::discover(&cwd).map_err(|e| e.to_string())?;
    let key = crate::tmux::names::repo_key(&repo.root);
    let path =
        socket::socket_path(&key).map_err(|e| format!("cannot find the runtime directory: {e}"))?;
    if path.exists() && std::os::unix::net::UnixStream::connect(&path).is_ok() {
        return Ok(path);
    }
    // The first engine stopped; another one (a second headless run) answers.
    let dot = repo.root.join(".switchboard");
    let beside = crate::engine::claim_files::live_engines(&dot)
        .into_iter()
        .find(|seat| seat.socket.exists());
    match beside {
        Some(seat) => Ok(seat.socket),
        // A socket nobody answers on: the call says so.
        None if path.exists() => Ok(path),
        None => Err(format!(
            "no switchboard engine is running for {}",
            repo.root.display()
        )),
    }
}

/// Whether this repository has a running engine to ask.
pub fn engine_running() -> bool {
    engine_socket().is_ok()
}

async fn call(command: Command) -> Result<Reply, ExitCode> {
    let path = engine_socket().map_err(|e| {
        eprintln!("switchboard: {e}");
        ExitCode::from(2)
    })?;
    // A halt waits for stubborn agents (SIGKILL comes after 3 × graceMs);
    // anything else is answered at once by a live engine.
    let limit = match command {
        Command::Halt => std::time::Duration::from_secs(60),
        _ => std::time::Duration::from_secs(10),
    };
    let Ok(answer) = tokio::time::timeout(limit, socket::call(&path, &command)).await else {
        eprintln!(
            "switchboard: the engine at {} did not answer within {} s (is its control room suspended with Ctrl-Z? `fg` brings it back)",
            path.display(),
            limit.as_secs()
        );
        return Err(ExitCode::from(2));
    };
    match answer {
        Ok(Reply::Error { message }) => {
            eprintln!("switchboard: {message}");
            Err(ExitCode::from(2))
        }
        Ok(reply) => Ok(reply),
        Err(e) => {
            eprintln!(
                "switchboard: no switchboard engine is answering at {} ({e})",
                path.display()
            );
            Err(ExitCode::from(2))
        }
    }
}

pub async fn status(json: bool) -> ExitCode {
    let snap = match call(Command::Status).await {
        Ok(Reply::Status(s)) => s,
        Ok(_) => return ExitCode::from(2),
        Err(code) => return code,
    };
    if json {
        println!("{}", status_json(&snap));
    } else {
        print!("{}", status_text(&snap));
    }
    ExitCode::SUCCESS
}

/// The `status --json` document: run state; per task state, light,
/// attempt, restarts, profile, the agent's own state and what it reported
/// spending (null: not reported); the run's usage; the last halt.
pub fn status_json(s: &Snapshot) -> serde_json::Value {
    let sum = s.usage_total();
    serde_json::json!({
        "plan": s.plan_name,
        "phase": s.phase,
        "integration_branch": s.integration_branch,
        "tasks": s.tasks.iter().map(|t| serde_json::json!({
            "id": t.id, "group": t.group, "state": t.state, "light": t.light,
            "attempt": t.attempt, "restarts": t.restarts, "profile": t.profile,
            "message": t.message, "agent_state": t.agent_state, "usage": t.usage,
            "host": t.host,
        })).collect::<Vec<_>>(),
        "usage": {
            "total": (sum.reported > 0).then_some(sum.total),
            "tasks_reported": sum.reported,
            "tasks_not_reported": sum.not_reported,
        },
        "halt": s.last_halt,
        "pools": s.pools,
        "hosts": s.hosts,
    })
}

pub fn status_text(s: &Snapshot) -> String {
    let mut out = format!(
        "{}  {:?}  integration: {}\n",
        s.plan_name, s.phase, s.integration_branch
    )
    .to_lowercase();
    out.push_str("task    group     state       light     attempt  restarts  profile\n");
    for t in &s.tasks {
        // An interactive agent's own state beside its row.
        let agent = t
            .agent_state
            .as_deref()
            .map(|a| format!("  [{}]", crate::plan::diagnostic::printable(a)))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<7} {:<9} {:<11} {:<9} {:<8} {:<9} {}{agent}\n",
            t.id,
            t.group,
            t.state.as_str(),
            t.light.as_str(),
            t.attempt,
            t.restarts,
            t.profile
        ));
        // What a person must answer, and where: the question under its row.
        if t.state.needs_attention()
            && let Some(why) = &t.message
        {
            let attach = t
                .session
                .as_ref()
                .filter(|_| t.state == crate::engine::snapshot::TaskState::Waiting)
                .map(|s| format!("  (answer in tmux session {s})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "        ! {}{attach}\n",
                crate::plan::diagnostic::printable(why)
            ));
        }
    }
    for pool in &s.pools {
        out.push_str(&pool_text(pool));
    }
    if !s.hosts.is_empty() {
        out.push_str(&hosts_text(s));
    }
    if s.tasks.iter().any(|t| t.attempt > 0) {
        out.push_str(&crate::headless::usage_line(s));
    }
    if let Some(h) = &s.last_halt {
        out.push_str(&format!("last halt: {}", halt_text(h)));
    }
    out
}

/// A line per machine: its workers and room, or since when it is
/// unreachable and why; then which task runs where.
fn hosts_text(s: &Snapshot) -> String {
    let here = s
        .tasks
        .iter()
        .filter(|t| t.state.is_active() && t.host.is_none())
        .count();
    let mut out = format!("hosts: {} {here} workers", crate::hosts::LOCAL);
    for h in &s.hosts {
        if h.reachable {
            out.push_str(&format!(
                "; {} {}/{} workers",
                h.name, h.workers, h.capacity
            ));
            if let Some(load) = h.load {
                out.push_str(&format!(" load {load:.2}"));
            }
        } else {
            let since = crate::engine::words::clock_time(h.since_ms);
            out.push_str(&format!("; {} unreachable since {since}", h.name));
            if let Some(why) = &h.why {
                out.push_str(&format!(" ({})", crate::plan::diagnostic::printable(why)));
            }
        }
    }
    out.push('\n');
    for t in s.tasks.iter().filter(|t| t.state.is_active()) {
        if let Some(host) = &t.host {
            out.push_str(&format!("  {:<7} on {host}\n", t.id));
        }
    }
    out
}

/// A pool: what each worker does, and the tasks waiting for one.
fn pool_text(p: &crate::engine::pool::PoolView) -> String {
    let mut out = format!("{}\n", p.summary());
    for w in &p.workers {
        let replaced = match w.replaced {
            0 => String::new(),
            n => format!("  (replaced {n}x)"),
        };
        out.push_str(&format!(
            "  worker {:<3} {:<34} {}{replaced}\n",
            w.worker,
            crate::plan::diagnostic::printable(&w.doing),
            w.session
        ));
    }
    out
}

pub async fn halt(json: bool) -> ExitCode {
    let report = match call(Command::Halt).await {
        Ok(Reply::Halt(r)) => r,
        Ok(_) => return ExitCode::from(2),
        Err(code) => return code,
    };
    if json {
        match serde_json::to_string(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("switchboard: {e}"),
        }
    } else {
        print!("{}", halt_text(&report));
    }
    ExitCode::SUCCESS
}

pub fn halt_text(r: &HaltReport) -> String {
    let mut out = format!(
        "halt #{}: {}/{} workers acknowledged, {} stopped, {} failed to acknowledge; total latency {:.2} ms\n",
        r.halt_id, r.acks_received, r.total_workers, r.stopped, r.acks_failed, r.total_latency_ms
    );
    // Over several machines, each worker says where it ran.
    let spread = r.spread();
    for w in &r.workers {
        let ack = w
            .ack_ms
            .map(|m| format!("{m:.2} ms"))
            .unwrap_or_else(|| "no ack".into());
        let stop = w
            .stop_ms
            .map(|m| format!("{m:.2} ms"))
            .unwrap_or_else(|| "-".into());
        let on = match (&w.host, spread) {
            (_, false) => String::new(),
            (Some(h), true) => format!("on {h:<10} "),
            (None, true) => format!("on {:<10} ", crate::hosts::LOCAL),
        };
        out.push_str(&format!(
            "  {:<8} {on}ack {ack:<10} stopped {stop:<10} by {}\n",
            w.task, w.signal
        ));
    }
    if spread {
        out.push_str(&per_host(r));
    }
    out
}

/// A line per machine: its acks, its slowest one, and a word for one whose
/// workers did not answer (a host that cannot be reached: they are stopped
/// when it answers again).
fn per_host(r: &HaltReport) -> String {
    let mut out = String::new();
    for h in r.per_host() {
        let name = h.host.unwrap_or(crate::hosts::LOCAL);
        let mut line = format!("  {name}: {}/{} acknowledged", h.acked, h.workers);
        if let Some(ms) = h.slowest_ms {
            line.push_str(&format!(", slowest {ms:.2} ms"));
        }
        if h.acked < h.workers && h.host.is_some() {
            line.push_str(" (not reached: its workers are stopped when it answers again)");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `recheck` and `mark-done`: a recovery action on one task.
pub async fn recover(command: Command) -> ExitCode {
    let said = match &command {
        Command::Recheck { task } => format!("{task}: its checks run again"),
        Command::MarkDone { task, .. } => format!("{task}: marked done"),
        Command::RebaseMerge { task } => format!("{task}: rebasing, then its checks and merge"),
        _ => String::new(),
    };
    match call(command).await {
        Ok(_) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

pub async fn resume() -> ExitCode {
    match call(Command::Resume).await {
        Ok(_) => {
            println!("resumed: dispatching again");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over hosts: where each worker ran, then a line per machine, this one
    /// first; a host not reached says what becomes of its workers.
    #[test]
    fn a_halt_over_hosts_reads_per_machine() {
        let text = halt_text(&crate::tui::fixture::halt_report_on_hosts());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].contains("T4       on big1"), "{text}");
        assert!(lines[5].contains("T16      on local"), "{text}");
        assert_eq!(
            lines[6..],
            [
                "  local: 2/2 acknowledged, slowest 52.00 ms",
                "  big1: 2/2 acknowledged, slowest 41.00 ms",
                "  big2: 0/1 acknowledged (not reached: its workers are stopped when it answers again)",
            ]
        );
        // On this machine alone: no word of hosts.
        let text = halt_text(&crate::tui::fixture::halt_report());
        assert!(!text.contains(" on ") && !text.contains("local"), "{text}");
    }
}

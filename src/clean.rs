//! `switchboard clean`: remove what no live engine owns — this repository's
//! tmux sessions and, with `--worktrees`, the worktrees of merged tasks;
//! with `--logs`, the attempts' pane logs. Unmerged work is never deleted
//! without `--force`; logs are history, kept unless `--logs`.

use crate::engine::command::{Command, Reply};
use crate::engine::snapshot::RunPhase;
use crate::engine::socket;
use crate::git::Repo;
use crate::tmux::command::Tmux;
use crate::tmux::names;
use std::path::Path;
use std::process::ExitCode;

pub struct CleanOptions<'a> {
    pub tmux_socket: Option<String>,
    pub workspace_dir: &'a str,
    pub integration_branch: &'a str,
    pub worktrees: bool,
    pub force: bool,
    pub logs: bool,
}

pub async fn run(opts: CleanOptions<'_>) -> ExitCode {
    let repo = match std::env::current_dir()
        .map_err(|e| e.to_string())
        .and_then(|d| Repo::discover(&d).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboard clean: {e}");
            return ExitCode::from(2);
        }
    };
    let key = names::repo_key(&repo.root);
    if let Ok(path) = socket::socket_path(&key)
        && tokio::net::UnixStream::connect(&path).await.is_ok()
    {
        // A halted engine still owns its workers' panes and worktrees.
        let halted = matches!(
            socket::call(&path, &Command::Status).await,
            Ok(Reply::Status(s)) if s.phase == RunPhase::Halted
        );
        let how = if halted {
            "it is halted, not stopped: quit it (q in the control room, or Ctrl-C on a headless run) or `switchboard resume` it"
        } else {
            "halt or quit it first (`switchboard halt`)"
        };
        eprintln!("switchboard clean: an engine is running for this repository; {how}");
        return ExitCode::from(2);
    }
    // An engine beside the first (a second headless run) owns its workers too.
    let engines = crate::engine::claim_files::live_engines(&repo.root.join(".switchboard"));
    if let Some(seat) = engines.first() {
        eprintln!(
            "switchboard clean: engine {} (pid {}) is running for this repository; stop it first",
            seat.tag.id, seat.tag.pid
        );
        return ExitCode::from(2);
    }
    let tmux = Tmux::new(opts.tmux_socket.clone());
    let sessions = tmux.sessions_alive().unwrap_or_default();
    let (mut removed, mut kept) = (0, 0);
    // The (sanitised) tasks whose workers were left at work: their logs are
    // still being written.
    let mut at_work: Vec<&str> = Vec::new();
    for (s, alive) in sessions.iter().filter(|(s, _)| names::is_ours(s, &key)) {
        // A worker still at work was left running on purpose (quit with
        // "leave workers running"): the next switchboard re-adopts it.
        let worker = names::task_of(s, &key).is_some();
        if worker && *alive && !opts.force {
            kept += 1;
            at_work.extend(names::task_of(s, &key));
            println!(
                "kept tmux session {s}: its worker is still at work (left running to be re-adopted; --force removes it)"
            );
            continue;
        }
        match tmux.kill_session(s) {
            Ok(_) => {
                removed += 1;
                println!("removed tmux session {s}");
            }
            Err(e) => eprintln!("switchboard clean: cannot remove session {s}: {e}"),
        }
    }
    println!("{removed} tmux session(s) removed");
    // Launch files are read (and removed) by a shim as it starts; with no
    // engine running, any left belong to shims that never ran.
    let launch = repo
        .root
        .join(".switchboard")
        .join(crate::worker::launch::DIR);
    if let Ok(entries) = std::fs::read_dir(&launch) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    if kept > 0 {
        println!(
            "{kept} session(s) with a live worker kept: `switchboard` re-adopts them, `switchboard clean --force` removes them"
        );
    }
    let logs = crate::engine::attempt_log::dir(&repo.root);
    if opts.logs {
        clean_logs(&logs, &at_work);
    } else {
        let n = attempt_logs(&logs).len();
        if n > 0 {
            println!("kept {n} attempt log(s) in .switchboard/logs (--logs removes them)");
        }
    }
    if opts.worktrees {
        return clean_worktrees(&repo, &opts);
    }
    ExitCode::SUCCESS
}

/// The attempts' logs in `dir`, by file name.
fn attempt_logs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(crate::engine::attempt_log::is_attempt_log)
        })
        .collect()
}

/// Remove every attempt log but those of the tasks still `at_work`.
fn clean_logs(dir: &Path, at_work: &[&str]) {
    let mut removed = 0;
    for path in attempt_logs(dir) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let task = name.split('.').next().unwrap_or_default();
        if at_work.contains(&task) {
            println!("kept {name}: its worker is still at work");
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) => eprintln!("switchboard clean: cannot remove {}: {e}", path.display()),
        }
    }
    println!("{removed} attempt log(s) removed");
}

fn clean_worktrees(repo: &Repo, opts: &CleanOptions) -> ExitCode {
    let base = repo.root.join(opts.workspace_dir);
    let list = match repo.list_worktrees() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("switchboard clean: cannot list worktrees: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut kept = 0;
    let mut failed = 0;
    for wt in list.iter().filter(|w| w.path.starts_with(&base)) {
        // Merged means git shows the task's merge (a `Merge <TASK>:` commit
        // whose second parent is the branch's tip), not merely a branch
        // contained in the integration branch: one with no commit of its own
        // yet (a task at work, failed or halted early) is that too.
        let merged = wt
            .branch
            .as_deref()
            .is_some_and(|b| merged_task(repo, opts, b))
            && !repo.has_uncommitted(&wt.path).unwrap_or(true);
        if merged || opts.force {
            match repo.remove_worktree(&wt.path, opts.force) {
                Ok(()) => println!(
                    "removed worktree {}{}",
                    shown(&wt.path, &repo.root),
                    if merged { "" } else { " (unmerged, --force)" }
                ),
                Err(e) => {
                    failed += 1;
                    eprintln!(
                        "switchboard clean: cannot remove {}: {e}",
                        wt.path.display()
                    );
                }
            }
        } else {
            kept += 1;
            println!(
                "kept worktree {} (unmerged or uncommitted work; --force removes it, its branch stays)",
                shown(&wt.path, &repo.root)
            );
        }
    }
    let _ = repo.prune();
    if kept > 0 {
        println!("{kept} unmerged worktree(s) kept");
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether the task of branch `agent/<TASK>/<TYPE>` is merged, per git.
fn merged_task(repo: &Repo, opts: &CleanOptions, branch: &str) -> bool {
    let Some(task) = branch
        .strip_prefix("agent/")
        .and_then(|rest| rest.rsplit_once('/'))
        .map(|(task, _)| task)
    else {
        return false;
    };
    repo.merged_tasks(opts.integration_branch, &[(task, branch)])
        .is_ok_and(|m| m.contains_key(task))
}

fn shown(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

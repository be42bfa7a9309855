//! `switchboard host-worker`: what runs on a host for the engine, over ssh.
//! It does there what the engine's workshop does here (worktree, instruction,
//! hooks, launch file, the shim in a tmux session), with the same code and
//! this binary as the shim.

use super::orders::{Order, Reply, SpawnOrder};
use crate::engine::workshop as shop;
use crate::git::Repo;
use crate::instruction;
use crate::tmux::command::Tmux;
use crate::worker::protocol::env;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Read one order from stdin, carry it out, print the reply.
pub fn run() -> ExitCode {
    let mut input = String::new();
    let reply = match std::io::stdin().read_to_string(&mut input) {
        Err(e) => Reply::Failed {
            error: format!("cannot read the order: {e}"),
        },
        Ok(_) => match serde_json::from_str::<Order>(&input) {
            Err(e) => Reply::Failed {
                error: format!("not an order this switchboard knows ({e}): another version?"),
            },
            Ok(order) => carry_out(order).unwrap_or_else(|error| Reply::Failed { error }),
        },
    };
    let failed = matches!(reply, Reply::Failed { .. });
    match serde_json::to_string(&reply) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("switchboard host-worker: {e}"),
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn carry_out(order: Order) -> Result<Reply, String> {
    match order {
        Order::Init { workdir } => init(&workdir),
        Order::Spawn(order) => spawn(&order),
        Order::Save { worktree, message } => {
            let repo = Repo::at(PathBuf::from(&worktree));
            let commit = repo
                .commit_all(Path::new(&worktree), &message)
                .map_err(|e| e.to_string())?;
            Ok(Reply::Saved { commit })
        }
        Order::Remove { clone, worktree } => {
            let repo = Repo::at(PathBuf::from(clone));
            repo.remove_worktree(Path::new(&worktree), true)
                .map_err(|e| e.to_string())?;
            Ok(Reply::Removed)
        }
        Order::Close {
            tmux_socket,
            engine_socket,
            keep_workers,
            control_session,
        } => {
            let tmux = Tmux::new(Some(tmux_socket.clone()));
            let _ = std::fs::remove_file(&engine_socket);
            if keep_workers {
                let _ = tmux.kill_session(&control_session);
                return Ok(Reply::Closed);
            }
            // No server is fine: it ended with its last session.
            let _ = tmux.kill_server();
            let gone = |within| {
                crate::tmux::private_server::remove_socket_when_gone(&tmux_socket, within);
                !crate::tmux::private_server::socket_file(&tmux_socket).exists()
            };
            // A server ending twenty workers on a busy host can take a few
            // seconds to stop listening; one waiting on a client that no
            // longer reads (a control client whose ssh went with a
            // partition) never does: that client and the server end here.
            if !gone(std::time::Duration::from_secs(5)) {
                kill_tmux_of(&tmux_socket);
                gone(std::time::Duration::from_secs(2));
            }
            Ok(Reply::Closed)
        }
    }
}

/// SIGKILL every tmux process of the server `-L socket` on this host (its
/// clients and the server, which shares their command line).
fn kill_tmux_of(socket: &str) {
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let is_tmux = args.first().is_some_and(|a| a.ends_with(b"tmux"));
        let ours = args
            .windows(2)
            .any(|w| w[0] == b"-L" && w[1] == socket.as_bytes());
        if is_tmux && ours {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// `workdir` with `~/` (or `~`) as the home directory.
fn expand_home(workdir: &str) -> Result<PathBuf, String> {
    let home = || std::env::var_os("HOME").ok_or("HOME is not set on the host".to_string());
    if workdir == "~" {
        return Ok(PathBuf::from(home()?));
    }
    match workdir.strip_prefix("~/") {
        Some(rest) => Ok(PathBuf::from(home()?).join(rest)),
        None if Path::new(workdir).is_absolute() => Ok(PathBuf::from(workdir)),
        // Relative: to the home, as ssh's own commands start there.
        None => Ok(PathBuf::from(home()?).join(workdir)),
    }
}

/// The clone, made once: a repository whose HEAD names a branch nobody
/// pushes, so that every branch (the integration branch included) may be
/// pushed to it.
fn init(workdir: &str) -> Result<Reply, String> {
    let clone = expand_home(workdir)?;
    std::fs::create_dir_all(&clone)
        .map_err(|e| format!("cannot create {}: {e}", clone.display()))?;
    if !clone.join(".git").exists() {
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(&clone)
                .args(args)
                .output()
                .map_err(|e| format!("cannot run git: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "git {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        git(&["init", "--quiet"])?;
        git(&["symbolic-ref", "HEAD", "refs/heads/switchboard-host"])?;
    }
    let clone = clone.canonicalize().unwrap_or(clone);
    Ok(Reply::Init {
        clone: clone.display().to_string(),
    })
}

fn spawn(order: &SpawnOrder) -> Result<Reply, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let repo = Repo::at(PathBuf::from(&order.clone));
    let excluded: Vec<&str> = order.excluded.iter().map(String::as_str).collect();
    repo.ensure_excluded(&excluded).map_err(|e| e.to_string())?;
    let worktree = repo.root.join(&order.worktree);
    repo.add_worktree(&worktree, &order.branch, &order.base)
        .map_err(|e| e.to_string())?;
    let inputs = shop::resolve_inputs(&order.task, &worktree);
    let mut md = instruction::render(&order.task, &inputs, true);
    if let Some(note) = &order.note {
        md.push_str(note);
    }
    std::fs::write(worktree.join(instruction::FILE_NAME), md)
        .map_err(|e| format!("cannot write {}: {e}", instruction::FILE_NAME))?;
    shop::install_hooks(&order.agent, &worktree, &exe).map_err(|e| e.to_string())?;
    let preaccepted = shop::preaccept(&order.agent, &worktree);
    let launch_path = shop::launch_file(&repo.root, &order.task, order.attempt);
    order
        .launch
        .write(&launch_path)
        .map_err(|e| e.to_string())?;
    let envs: Vec<(String, String)> = vec![
        (env::SOCKET.into(), order.engine_socket.clone()),
        (env::TASK.into(), order.task.task_id.clone()),
        (env::ATTEMPT.into(), order.attempt.to_string()),
        ("PATH".into(), shop::worker_path(&exe)),
    ];
    let argv = shop::shim_argv(&exe, &launch_path, order.heartbeat_ms);
    let tmux = Tmux::new(Some(order.tmux_socket.clone()));
    // A previous attempt's kept (dead) pane makes way for this one.
    if tmux.has_session(&order.session).unwrap_or(false) {
        let _ = tmux.kill_session(&order.session);
    }
    let label = shop::shim_label(&order.task, order.attempt);
    // The attempt's log, kept in the clone as locally in the repository:
    // the engine reads its end over ssh and copies it home with the work.
    let log = shop::pane_log(&repo.root, &order.task, order.attempt, &exe);
    let pane = tmux
        .new_labelled_session(
            &order.session,
            Some(&label),
            Some(&log),
            &worktree,
            &envs,
            &argv,
            (200, 50),
        )
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&launch_path);
        })
        .map_err(|e| e.to_string())?;
    Ok(Reply::Spawned {
        worktree: worktree.display().to_string(),
        pane_id: pane.id,
        pane_pid: pane.pid,
        preaccepted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdirs_start_from_the_host_s_home() {
        let home = std::env::var("HOME").unwrap();
        assert_eq!(expand_home("~").unwrap(), PathBuf::from(&home));
        assert_eq!(
            expand_home("~/w/r").unwrap(),
            PathBuf::from(&home).join("w/r")
        );
        assert_eq!(expand_home("/srv/r").unwrap(), PathBuf::from("/srv/r"));
        assert_eq!(expand_home("w").unwrap(), PathBuf::from(&home).join("w"));
    }

    #[test]
    fn an_order_from_another_version_is_refused_in_words() {
        let err = serde_json::from_str::<Order>(r#"{"order":"teleport"}"#).unwrap_err();
        assert!(err.to_string().contains("teleport"), "{err}");
    }
}

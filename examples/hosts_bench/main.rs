//! Workers on two hosts and this machine (issue 14), with the real binary
//! over real OpenSSH. The hosts are network namespaces on this machine,
//! each with its own sshd, made as the integration tests make them
//! (tests/integration/netns.rs): no network latency, and the same cores.
//! Prints one JSON object:
//! - `spawn`: 60 sim workers, 20 here and 20 on each host, from the
//!   engine's start until each machine's last worker was spawned and the
//!   last one's agent was heard (its `report start`, through the shim's
//!   socket, forwarded over ssh for a host's);
//! - `halt`: `switchboard halt --json` over the 60: ack latency by machine;
//! - `poll_list_panes`: the poll's one `list-panes -a` over a tmux
//!   control-mode client, here and over a host's ssh master, against the
//!   live servers of those ~20 workers each;
//! - `merge`: tasks run one after another, here and on each host: a
//!   task's end (its agent reported done, or exited) until its merge (for
//!   a host's, its work saved there and its branch fetched back first),
//!   and its start (for a host's, the integration branch pushed there).
//!
//! `left_by_the_engine` lists tmux servers and forwarded sockets of the
//! engine's still there once it exited (none expected); the benchmark
//! removes them, the namespaces, their sshd and its temp dirs in any case.
//!
//! Needs root for the namespaces; without it (or without `ip`, `sshd`)
//! it prints `{"skipped": why}` and exits 0.
//!
//! `cargo build --release && cargo run --release --example hosts_bench`

mod engine_run;
#[allow(dead_code)]
#[path = "../../tests/integration/netns.rs"]
mod netns;
mod phases;

use color_eyre::eyre::{Result, WrapErr, bail};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

const HOSTS: [&str; 2] = ["host1", "host2"];

fn main() -> Result<()> {
    color_eyre::install()?;
    // Ctrl-C ends the waits, so that everything below is cleaned up.
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            engine_run::INTERRUPTED.store(true, Ordering::SeqCst);
        }
    });
    let lab = match netns::Lab::new(&HOSTS) {
        Ok(lab) => lab,
        Err(why) => {
            println!("{}", serde_json::json!({ "skipped": why }));
            return Ok(());
        }
    };
    let bin = switchboard_binary()?;
    // Where `switchboard hosts install` would put it.
    for host in &lab.hosts {
        let dir = host.home.join(".local/bin");
        std::fs::create_dir_all(&dir)?;
        std::fs::copy(&bin, dir.join("switchboard")).wrap_err("installing on a host")?;
    }
    let dir = tempfile::Builder::new().prefix("sbbench-hosts").tempdir()?;
    let started = Instant::now();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let bench = phases::Bench {
        lab: &lab,
        bin,
        dir: dir.path().to_path_buf(),
        runtime: &runtime,
    };
    let runs = bench
        .spawn_poll_halt()
        .and_then(|spread| Ok((spread, bench.merge()?)));
    let (spread, (merge, merge_left)) = match runs {
        Err(e) if engine_run::INTERRUPTED.load(Ordering::SeqCst) => {
            return Err(e.wrap_err("interrupted (everything made is removed)"));
        }
        other => other?,
    };
    let report = serde_json::json!({
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "machine": {
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "load_average_at_start": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            "hosts": "network namespaces on this machine, each with its own sshd",
        },
        "spawn": spread.spawn,
        "halt": spread.halt,
        "poll_list_panes": spread.poll,
        "merge": merge,
        "left_by_the_engine": { "spread": spread.left, "merge": merge_left },
        "wall_s": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// The release binary beside this example (`cargo build --release` makes
/// it; `cargo run --example` builds only the example).
fn switchboard_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let bin = profile_dir.join("switchboard");
    if !bin.exists() {
        bail!(
            "no {} (run `cargo build{}` first)",
            bin.display(),
            if cfg!(debug_assertions) {
                ""
            } else {
                " --release"
            }
        );
    }
    Ok(bin)
}

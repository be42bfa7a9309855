//! What one multiplexed connection per host saves: reaching a host (the
//! master's start), then N commands over the master against N commands
//! each with a connection of its own, and doctor's probe and a tmux
//! control-mode round trip over the master. Prints one JSON object.
//!
//! `cargo run --release --example ssh_mux_bench -- "<a host's ssh setting>" [N]`
//! (any host you can reach with keys: `dev@big1`, `-p 2222 big1`).

use color_eyre::eyre::{Result, WrapErr, eyre};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use switchboard::hosts::ssh::{SshHost, run_timed};
use switchboard::hosts::ssh_args::SshArgs;
use switchboard::hosts::{control, probe};

const STEP: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let ssh = args
        .next()
        .ok_or_else(|| eyre!("usage: ssh_mux_bench \"<ssh setting>\" [N]"))?;
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(50);
    let runtime = tempfile::tempdir()?;
    let host = SshHost::new("bench", &ssh, runtime.path(), Duration::from_secs(60))
        .map_err(|e| eyre!(e))?;

    let started = Instant::now();
    let conn = host.connect(STEP).wrap_err("reaching the host")?;
    let connect = started.elapsed();

    let started = Instant::now();
    for _ in 0..n {
        let out = conn.run(&["true"], STEP)?;
        if !out.success() {
            return Err(eyre!("`true` failed over the master: {}", out.stderr));
        }
    }
    let over_master = started.elapsed();

    // The same command with no master: a whole connection each time.
    let parsed = SshArgs::parse(&ssh).map_err(|e| eyre!(e))?;
    let started = Instant::now();
    for _ in 0..n {
        let mut cmd = Command::new("ssh");
        cmd.args(["-o", "ControlMaster=no", "-o", "ControlPath=none"])
            .args(["-o", "BatchMode=yes", "-T"])
            .args(parsed.expanded_options())
            .arg(&parsed.destination)
            .arg("true")
            .stdin(Stdio::null());
        let out = run_timed(&mut cmd, STEP)?;
        if !out.success() {
            return Err(eyre!("`true` failed on its own connection: {}", out.stderr));
        }
    }
    let fresh = started.elapsed();

    let started = Instant::now();
    probe::remote(&conn, None, &["git", "tmux"], STEP)?;
    let doctor_probe = started.elapsed();

    let socket = format!("sbbench-{}", std::process::id());
    let client = control::connect(&conn, Some(&socket), "bench--control")
        .await
        .wrap_err("tmux control mode over ssh")?;
    let started = Instant::now();
    for _ in 0..n {
        client.list_panes().await?;
    }
    let list_panes = started.elapsed();
    // The last handle gone, tmux kills the control session, its only one,
    // and the host's server exits; its socket file stays behind.
    drop(client);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let remove =
        r#"tmux -L "$1" kill-server 2>/dev/null; rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$1""#;
    conn.run(&["sh", "-c", remove, "sh", &socket], STEP)?;
    conn.close();

    let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
    let each = |d: Duration| ms(d / n as u32);
    println!(
        "{}",
        serde_json::json!({
            "commands": n,
            "connect_ms": ms(connect),
            "command_over_master_ms": each(over_master),
            "command_own_connection_ms": each(fresh),
            "doctor_probe_ms": ms(doctor_probe),
            "control_mode_list_panes_ms": each(list_panes),
        })
    );
    Ok(())
}

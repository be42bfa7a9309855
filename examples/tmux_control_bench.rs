//! How much the control-mode connection saves over one `tmux` process per
//! command: 100 `send-keys` and 100 `display-message` each way, on a private
//! server. Prints one JSON object. `cargo run --example tmux_control_bench`

use color_eyre::eyre::{Result, WrapErr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;
use switchboard::tmux::{ControlClient, PrivateServer, names};

const N: usize = 100;

#[tokio::main]
async fn main() -> Result<()> {
    let server = PrivateServer::new("sbbench");
    let tmux = server.tmux();
    let argv = vec!["cat".to_string()];
    let pane = tmux
        .new_session("bench", Path::new("/"), &[], &argv, (120, 40))
        .wrap_err("starting the bench pane")?;
    let client = ControlClient::connect(Some(server.name()), "bench--control")
        .await
        .wrap_err("connecting in control mode")?;
    let target = names::quote(&pane);

    // One at a time: each request waits for its reply.
    let started = Instant::now();
    for _ in 0..N {
        client.send_keys(&pane, &["x"]).await?;
    }
    let control_send_keys = started.elapsed();

    let started = Instant::now();
    for i in 0..N {
        client
            .run(&format!("display-message -p -t {target} n{i}"))
            .await?;
    }
    let control_display = started.elapsed();

    // All in flight at once, from separate tasks.
    let started = Instant::now();
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let client = client.clone();
            let pane = pane.clone();
            tokio::spawn(async move { client.send_keys(&pane, &["y"]).await })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let control_send_keys_pipelined = started.elapsed();

    let started = Instant::now();
    for _ in 0..N {
        one_off(server.name(), &["send-keys", "-t", &pane, "z"])?;
    }
    let process_send_keys = started.elapsed();

    let started = Instant::now();
    for i in 0..N {
        one_off(
            server.name(),
            &["display-message", "-p", "-t", &pane, &format!("n{i}")],
        )?;
    }
    let process_display = started.elapsed();

    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let report = serde_json::json!({
        "commands": N,
        "control_send_keys_ms": ms(control_send_keys),
        "control_send_keys_pipelined_ms": ms(control_send_keys_pipelined),
        "control_display_message_ms": ms(control_display),
        "process_send_keys_ms": ms(process_send_keys),
        "process_display_message_ms": ms(process_display),
    });
    println!("{report}");
    Ok(())
}

fn one_off(socket: &str, args: &[&str]) -> Result<()> {
    let status = Command::new("tmux")
        .args(["-L", socket])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .wrap_err("running tmux")?;
    color_eyre::eyre::ensure!(status.success(), "tmux {args:?} failed: {status}");
    Ok(())
}

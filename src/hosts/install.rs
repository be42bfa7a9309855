//! `switchboard hosts install [HOST]`: this very build copied to a host's
//! `~/.local/bin/switchboard` with `scp` over the host's connection, when
//! the host's `uname` names this build's target; then run there to prove
//! it, and looked for as `doctor` looks for it.

use super::probe;
use super::ssh::{Connection, SshError, SshHost, last_line};
use super::verdict::ThisBuild;
use crate::plan::diagnostic::printable;
use crate::plan::{Host, Settings};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Reaching a host and each command there must be over within this.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// The copy itself: a debug build is a few hundred MB.
const COPY_TIMEOUT: Duration = Duration::from_secs(600);

/// Install on `only` (a host's name), or on every host of the plan.
pub fn run(settings: &Settings, only: Option<&str>) -> ExitCode {
    let hosts: Vec<&Host> = match only {
        Some(super::LOCAL) => {
            eprintln!("switchboard hosts install: 'local' is this machine, which runs this build");
            return ExitCode::from(2);
        }
        Some(name) => match settings.hosts.iter().find(|h| h.name == name) {
            Some(h) => vec![h],
            None => {
                let known: Vec<&str> = settings.hosts.iter().map(|h| h.name.as_str()).collect();
                eprintln!(
                    "switchboard hosts install: no host '{}' in the plan's settings.hosts ({})",
                    printable(name),
                    if known.is_empty() {
                        "it lists none".to_string()
                    } else {
                        format!("it lists {}", known.join(", "))
                    }
                );
                return ExitCode::from(2);
            }
        },
        None if settings.hosts.is_empty() => {
            eprintln!("switchboard hosts install: the plan lists no settings.hosts");
            return ExitCode::from(2);
        }
        None => settings.hosts.iter().collect(),
    };
    let this = ThisBuild::current();
    let runtime = match crate::engine::socket::runtime_dir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("switchboard hosts install: no runtime directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = 0;
    for host in hosts {
        // What the host printed is shown escaped: it must not drive this terminal.
        match install(host, &runtime, &this) {
            Ok(lines) => lines.iter().for_each(|l| println!("{}", printable(l))),
            Err(why) => {
                failed += 1;
                println!("✗ {}: {}", host.name, printable(&why));
            }
        }
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// What was done, as lines to print; or why it could not be.
fn install(host: &Host, runtime: &Path, this: &ThisBuild) -> Result<Vec<String>, String> {
    let ssh = SshHost::new(&host.name, &host.ssh, runtime, Duration::from_secs(60))?;
    let conn = ssh
        .connect(STEP_TIMEOUT)
        .map_err(|e| format!("cannot install: {e}"))?;
    let result = install_over(&conn, this);
    conn.close();
    result
}

fn install_over(conn: &Connection, this: &ThisBuild) -> Result<Vec<String>, String> {
    let name = conn.host().name();
    let before = probe::remote(conn, None, &[], STEP_TIMEOUT).map_err(|e| e.to_string())?;
    if !this.runs_on(&before.os, &before.arch) {
        return Err(format!(
            "it is {} {} and this build is for {} {}: build switchboard there \
             (`cargo install --path .` in a checkout) and put it on PATH",
            before.os, before.arch, this.os, this.arch
        ));
    }
    if before.home.is_empty() || !before.home.starts_with('/') {
        return Err(format!(
            "its HOME is '{}', not a directory to install into",
            before.home
        ));
    }
    let dir = format!("{}/.local/bin", before.home);
    let dest = format!("{dir}/switchboard");
    let part = format!("{dir}/.switchboard.{}.part", std::process::id());
    must(conn, &["mkdir", "-p", "--", &dir], "mkdir")?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this build: {e}"))?;
    let start = Instant::now();
    if let Err(e) = conn.copy_to(&exe, &part, COPY_TIMEOUT) {
        let _ = conn.run(&["rm", "-f", "--", &part], STEP_TIMEOUT);
        return Err(e.to_string());
    }
    let took = start.elapsed();
    // Proven to run there before it replaces anything (a running
    // switchboard keeps its old file: the rename does not touch it).
    let says = conn
        .run(
            &[
                "sh",
                "-c",
                "chmod 755 \"$1\" && \"$1\" --version",
                "sh",
                &part,
            ],
            STEP_TIMEOUT,
        )
        .map_err(|e| e.to_string())?;
    let want = format!("switchboard {}", this.version);
    if !says.success() || says.stdout.trim() != want {
        let _ = conn.run(&["rm", "-f", "--", &part], STEP_TIMEOUT);
        return Err(format!(
            "the copy does not run there: {}",
            last_line(&format!("{}\n{}", says.stdout, says.stderr))
        ));
    }
    must(conn, &["mv", "-f", "--", &part, &dest], "mv")?;
    let bytes = exe.metadata().map(|m| m.len()).unwrap_or(0);
    let mut lines = vec![format!(
        "✓ {name}: installed switchboard {} at {dest} ({:.1} MB in {:.1} s)",
        this.version,
        bytes as f64 / 1e6,
        took.as_secs_f64()
    )];
    let after = probe::remote(conn, None, &[], STEP_TIMEOUT).map_err(|e| e.to_string())?;
    match (&after.switchboard, after.switchboard_version()) {
        (Some((at, _)), Some(v)) if at == &dest && v == this.version => {}
        (Some((at, says)), _) => lines.push(format!(
            "! {name}: {at} comes first on its PATH ({says}): remove it, or put \
             ~/.local/bin before it"
        )),
        (None, _) => lines.push(format!(
            "! {name}: {dest} is there but is not found as doctor looks for it"
        )),
    }
    Ok(lines)
}

/// Run a command that must succeed; its error names the step.
fn must(conn: &Connection, argv: &[&str], step: &str) -> Result<(), String> {
    let out = conn
        .run(argv, STEP_TIMEOUT)
        .map_err(|e: SshError| format!("{step}: {e}"))?;
    if out.success() {
        Ok(())
    } else {
        Err(format!("{step} failed: {}", last_line(&out.stderr)))
    }
}

//! One benchmark repository and the real `switchboard` binary run in it:
//! a temp git repo holding the plan, the engine's private tmux server, its
//! journal read back, and everything of it on this machine and the hosts
//! ended on drop (engine, tmux servers, forwarded sockets), even when the
//! benchmark fails or is interrupted.

use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use switchboard::tmux::PrivateServer;

/// Set by Ctrl-C: every wait gives up, so the guards clean up.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Poll `done` every 100 ms until it holds; an error past `limit` (a hang
/// guard, not a timing) or on Ctrl-C.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let start = Instant::now();
    while !done()? {
        if INTERRUPTED.load(Ordering::SeqCst) {
            bail!("interrupted while waiting for {what}");
        }
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

pub struct Repo {
    pub path: PathBuf,
    bin: PathBuf,
    runtime: PathBuf,
    log: PathBuf,
    /// The hosts' names: their tmux servers and forwarded sockets are
    /// named for this repository and them.
    hosts: Vec<String>,
    tmux: PrivateServer,
}

impl Repo {
    /// A repository at `path` with one commit holding `plan`.
    pub fn new(
        path: PathBuf,
        plan: &str,
        bin: &Path,
        runtime: &Path,
        hosts: &[String],
    ) -> Result<Repo> {
        std::fs::create_dir_all(&path)?;
        let path = path.canonicalize()?;
        let tmux = PrivateServer::new("sbbench-hosts");
        let log = path.with_extension("log");
        let repo = Repo {
            path,
            bin: bin.to_path_buf(),
            runtime: runtime.to_path_buf(),
            log,
            hosts: hosts.to_vec(),
            tmux,
        };
        repo.git(&["init", "-q", "-b", "main"])?;
        repo.git(&["config", "user.name", "bench"])?;
        repo.git(&["config", "user.email", "bench@example.invalid"])?;
        std::fs::write(repo.path.join("dispatcher.yaml"), plan)?;
        repo.git(&["add", "."])?;
        repo.git(&["commit", "-q", "-m", "bench plan"])?;
        Ok(repo)
    }

    fn git(&self, args: &[&str]) -> Result<()> {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.path)
            .output()
            .wrap_err("running git")?;
        if !out.status.success() {
            bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// The engine's tmux server here (`tmux -L`).
    pub fn tmux_socket(&self) -> &str {
        self.tmux.name()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .current_dir(&self.path)
            .env("SWITCHBOARD_TMUX_SOCKET", self.tmux.name())
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env_remove("TMUX")
            .stdin(Stdio::null());
        c
    }

    /// A command's JSON output (`status --json`, `halt --json`).
    pub fn json(&self, args: &[&str]) -> Result<Value> {
        let out = self.cmd(args).output().wrap_err("running switchboard")?;
        serde_json::from_slice(&out.stdout).wrap_err_with(|| {
            format!(
                "switchboard {args:?} gave no JSON: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })
    }

    /// `switchboard ARGS` in the background, its output in the log.
    pub fn start(&self, args: &[&str]) -> Result<Engine<'_>> {
        let log = std::fs::File::create(&self.log)?;
        let child = self
            .cmd(args)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .wrap_err("starting switchboard")?;
        Ok(Engine {
            repo: self,
            child: Some(child),
        })
    }

    pub fn journal(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path.join(".switchboard/journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The last lines the engine printed, for an error.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// The tmux servers (here and the hosts') and the hosts' forwarded
    /// sockets of this repository's engine still there: none once the
    /// engine has exited.
    pub fn leftovers(&self) -> Vec<String> {
        let key = switchboard::tmux::names::repo_key(&self.path);
        let servers = std::iter::once(self.tmux.name().to_string())
            .chain(self.hosts.iter().map(|h| format!("sb-{key}-{h}")));
        let mut left: Vec<String> = servers
            .filter_map(|name| {
                let file = switchboard::tmux::private_server::socket_file(&name);
                let answers = Command::new("tmux")
                    .args(["-L", &name, "list-sessions"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                let what = if answers {
                    "its server still runs"
                } else {
                    "its server is gone"
                };
                file.exists()
                    .then(|| format!("{} ({what})", file.display()))
            })
            .collect();
        let forwarded = format!("switchboard-{key}-");
        left.extend(
            std::fs::read_dir("/tmp")
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&forwarded))
                .map(|e| e.path().display().to_string()),
        );
        left
    }
}

impl Drop for Repo {
    /// The engine closes its hosts itself; this is for a run that failed.
    fn drop(&mut self) {
        let key = switchboard::tmux::names::repo_key(&self.path);
        for host in &self.hosts {
            drop(PrivateServer::named(format!("sb-{key}-{host}")));
        }
        let forwarded = format!("switchboard-{key}-");
        for entry in std::fs::read_dir("/tmp").into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&forwarded) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        // The local server's kill hangs up on its shims and agents; any
        // still there after 3 s (an engine stopped mid-spawn) is killed.
        let start = Instant::now();
        loop {
            let left = processes_in(&self.path);
            if left.is_empty() {
                break;
            }
            if start.elapsed() > Duration::from_secs(3) {
                for pid in left {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Live processes working in `dir` (their cwd) or on a file of it (their
/// command line): this machine's shims and agents of a repository.
fn processes_in(dir: &Path) -> Vec<nix::unistd::Pid> {
    let needle = dir.display().to_string();
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_string_lossy().parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let zombie = stat.rsplit(')').next()?.trim_start().starts_with('Z');
            let cwd = std::fs::read_link(e.path().join("cwd")).ok();
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let ours = cwd.is_some_and(|c| c.starts_with(dir))
                || String::from_utf8_lossy(&cmdline).contains(&needle);
            (ours && !zombie && pid != me).then(|| nix::unistd::Pid::from_raw(pid))
        })
        .collect()
}

/// A running engine; interrupted (it halts its workers and closes its
/// hosts) and waited for on drop.
pub struct Engine<'a> {
    repo: &'a Repo,
    child: Option<Child>,
}

impl Engine<'_> {
    /// An error with its last words if it has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            self.child = None;
            return Err(eyre!(
                "switchboard exited early ({status}):\n{}",
                self.repo.log_tail()
            ));
        }
        Ok(())
    }

    /// Wait for it to end by itself; its exit code.
    pub fn wait(mut self, limit: Duration) -> Result<Option<i32>> {
        let mut code = None;
        wait_for("switchboard to exit", limit, || {
            let child = self.child.as_mut().ok_or_else(|| eyre!("not running"))?;
            Ok(child.try_wait()?.map(|s| code = s.code()).is_some())
        })
        .wrap_err_with(|| self.repo.log_tail())?;
        self.child = None;
        Ok(code)
    }
}

impl Drop for Engine<'_> {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

//! One connection per host, made by OpenSSH itself: the first `ssh` to a
//! host becomes the master of a control socket in switchboard's runtime
//! directory (`ControlMaster=auto`, `ControlPersist`), and every later
//! command, `scp` included, rides on it. Closing sends `ssh -O exit`, so no
//! master process or socket file is left behind.

use super::ssh_args::SshArgs;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// ssh binds its control socket under a temporary name 17 bytes longer,
/// and a Unix socket path holds at most 107 bytes.
const SOCKET_PATH_MAX: usize = 107 - 17;

/// How long ssh may take to reach a host, unless the host's own options
/// say otherwise (the user's `-o ConnectTimeout=…` comes first and wins).
pub const CONNECT_TIMEOUT_S: u64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("no answer in {0} s")]
    Timeout(u64),
    #[error(
        "the control socket {path} would be {len} bytes long, and ssh needs it at most \
         {SOCKET_PATH_MAX}: set XDG_RUNTIME_DIR to a shorter directory"
    )]
    SocketPath { path: String, len: usize },
    #[error("a remote command holds a NUL byte")]
    Nul,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    /// None when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// How to reach one host: its ssh options and destination, and the
/// control socket its connection lives on.
#[derive(Debug, Clone)]
pub struct SshHost {
    name: String,
    args: SshArgs,
    control_path: PathBuf,
    persist_s: u64,
}

impl SshHost {
    /// `runtime_dir` is switchboard's (engine::socket::runtime_dir). The
    /// socket is named for the host and its `ssh` setting, so a master
    /// made for another destination under the same name is never reused.
    pub fn new(
        name: &str,
        ssh: &str,
        runtime_dir: &Path,
        persist: Duration,
    ) -> Result<SshHost, String> {
        let args = SshArgs::parse(ssh).map_err(|why| format!("ssh {why}"))?;
        let digest = Sha256::digest(ssh.as_bytes());
        let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let control_path = runtime_dir.join(format!("ssh-{name}-{tag}.sock"));
        Ok(SshHost {
            name: name.to_string(),
            args,
            control_path,
            persist_s: persist.as_secs().max(1),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn control_path(&self) -> &Path {
        &self.control_path
    }

    pub fn destination(&self) -> &str {
        &self.args.destination
    }

    /// ssh's arguments: ours that must hold first (ssh keeps the first value
    /// it reads of each option), the host's own, our defaults the host's
    /// may override, `extra` (`-O exit`, `-T`), the destination, then the
    /// remote command, one word for the remote shell.
    pub fn ssh_argv(&self, extra: &[&str], remote: Option<&str>) -> Vec<String> {
        let mut argv: Vec<String> = [
            "-o",
            "ControlMaster=auto",
            "-o",
            &format!("ControlPath={}", self.control_path.display()),
            "-o",
            &format!("ControlPersist={}", self.persist_s),
            "-o",
            "BatchMode=yes",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.extend(self.args.expanded_options());
        argv.extend(
            [
                "-o",
                &format!("ConnectTimeout={CONNECT_TIMEOUT_S}"),
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=3",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv.push(self.args.destination.clone());
        argv.extend(remote.map(str::to_string));
        argv
    }

    /// ssh as git runs it (`GIT_SSH_COMMAND`, read by a shell): every
    /// option, this host's master; git adds the destination and command.
    pub fn git_ssh_command(&self) -> String {
        let mut argv = self.ssh_argv(&[], None);
        argv.pop(); // the destination: git's URL names it
        argv.insert(0, "ssh".into());
        shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| "ssh".into())
    }

    /// The git URL of the absolute `path` on this host.
    pub fn git_url(&self, path: &str) -> String {
        format!("{}:{path}", self.args.destination)
    }

    /// Ask the master to forward the host's Unix socket `remote` to the
    /// local `local` (`ssh -O forward -R`), or with `cancel`, to stop.
    pub fn forward_socket(&self, remote: &str, local: &Path, cancel: bool) -> Result<(), SshError> {
        let spec = format!("{remote}:{}", local.display());
        let op = if cancel { "cancel" } else { "forward" };
        let mut cmd = Command::new("ssh");
        cmd.args(self.ssh_argv(&["-O", op, "-R", &spec], None));
        let out = run_timed(&mut cmd, Duration::from_secs(CONNECT_TIMEOUT_S))?;
        if out.success() {
            Ok(())
        } else {
            Err(SshError::Unreachable(format!(
                "ssh -O {op} -R: {}",
                last_line(&out.stderr)
            )))
        }
    }

    /// Reach the host: reuse its master when one is up, else start one.
    /// The connection closes the master on drop only if it started it (an
    /// engine's master stays up for the engine).
    pub fn connect(&self, timeout: Duration) -> Result<Connection, SshError> {
        let len = self.control_path.as_os_str().len();
        if len > SOCKET_PATH_MAX {
            return Err(SshError::SocketPath {
                path: self.control_path.display().to_string(),
                len,
            });
        }
        let was_up = self.master_up();
        if !was_up && self.control_path.exists() {
            // A master killed outright leaves its socket: ssh would then
            // refuse to multiplex at all.
            let _ = std::fs::remove_file(&self.control_path);
        }
        let conn = Connection {
            host: self.clone(),
            owns_master: !was_up,
        };
        let out = conn.run(&["true"], timeout)?;
        if out.code == Some(255) {
            return Err(SshError::Unreachable(last_line(&out.stderr)));
        }
        Ok(conn)
    }

    /// End the host's master, whoever started it (`ssh -O exit`).
    pub fn exit_master(&self) {
        if !self.control_path.exists() {
            return;
        }
        let mut cmd = Command::new("ssh");
        cmd.args(self.ssh_argv(&["-O", "exit"], None));
        if let Err(e) = run_timed(&mut cmd, Duration::from_secs(10)) {
            tracing::warn!("{}: ssh -O exit: {e}", self.name);
        }
        // A master that could not answer leaves its socket.
        let _ = std::fs::remove_file(&self.control_path);
    }

    /// Whether a master answers on the control socket.
    pub fn master_up(&self) -> bool {
        self.control_path.exists()
            && run_timed(
                Command::new("ssh").args(self.ssh_argv(&["-O", "check"], None)),
                Duration::from_secs(5),
            )
            .is_ok_and(|o| o.success())
    }
}

/// A host reached: commands and copies go over its one connection.
#[derive(Debug)]
pub struct Connection {
    host: SshHost,
    owns_master: bool,
}

impl Connection {
    pub fn host(&self) -> &SshHost {
        &self.host
    }

    /// Run `argv` on the host, each word quoted for its shell. Exit code
    /// 255 is ssh's own failure (or the command's: ssh cannot tell them
    /// apart).
    pub fn run(&self, argv: &[&str], timeout: Duration) -> Result<Output, SshError> {
        self.run_with_input(argv, b"", timeout)
    }

    /// [`Self::run`] with `input` as the command's standard input (a
    /// script for `sh -s`: no shell's quoting rules to meet).
    pub fn run_with_input(
        &self,
        argv: &[&str],
        input: &[u8],
        timeout: Duration,
    ) -> Result<Output, SshError> {
        let remote = shlex::try_join(argv.iter().copied()).map_err(|_| SshError::Nul)?;
        let mut cmd = Command::new("ssh");
        cmd.args(self.host.ssh_argv(&["-T"], Some(&remote)));
        run_timed_with_input(&mut cmd, input, timeout)
    }

    /// Copy `local` to the absolute path `remote` on the host with `scp`,
    /// over the same connection. scp gets the host's options too, in its
    /// own words: were the master gone, it would reach the same host.
    /// A host whose sshd has no sftp subsystem (scp's default protocol
    /// since OpenSSH 9.0) gets the copy over the original scp protocol.
    pub fn copy_to(&self, local: &Path, remote: &str, timeout: Duration) -> Result<(), SshError> {
        let scp = |legacy: bool| -> Result<Output, SshError> {
            let mut cmd = Command::new("scp");
            cmd.args(["-q", "-o", "ControlMaster=no", "-o"])
                .arg(format!("ControlPath={}", self.host.control_path.display()))
                .args(["-o", "BatchMode=yes"]);
            if legacy {
                cmd.arg("-O");
            }
            cmd.args(self.host.args.scp_options())
                .arg("--")
                .arg(local)
                .arg(self.host.args.scp_target(remote));
            run_timed(&mut cmd, timeout)
        };
        let out = scp(false)?;
        if out.success() {
            return Ok(());
        }
        let again = scp(true)?;
        if again.success() {
            return Ok(());
        }
        Err(SshError::Io(std::io::Error::other(format!(
            "scp failed: {} (and over the original scp protocol, -O: {})",
            last_line(&out.stderr),
            last_line(&again.stderr)
        ))))
    }

    /// Close the master if this connection started it (also done on drop).
    pub fn close(mut self) {
        self.close_master();
    }

    fn close_master(&mut self) {
        if !std::mem::take(&mut self.owns_master) || !self.host.control_path.exists() {
            return;
        }
        let mut cmd = Command::new("ssh");
        cmd.args(self.host.ssh_argv(&["-O", "exit"], None));
        if let Err(e) = run_timed(&mut cmd, Duration::from_secs(10)) {
            tracing::warn!("{}: ssh -O exit: {e}", self.host.name);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close_master();
    }
}

/// The last non-empty line: ssh's reason for failing.
pub fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no message)")
        .to_string()
}

/// Run `cmd` with no input, its output in anonymous files rather than
/// pipes (a master ssh leaves in the background must not hold a pipe we
/// wait on), killed after `timeout`.
pub fn run_timed(cmd: &mut Command, timeout: Duration) -> Result<Output, SshError> {
    run_timed_with_input(cmd, b"", timeout)
}

/// [`run_timed`] with `input` on the command's standard input (from a
/// file as well: nothing to write while waiting).
pub fn run_timed_with_input(
    cmd: &mut Command,
    input: &[u8],
    timeout: Duration,
) -> Result<Output, SshError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let stdin = if input.is_empty() {
        Stdio::null()
    } else {
        let mut file = tempfile::tempfile()?;
        std::io::Write::write_all(&mut file, input)?;
        file.rewind()?;
        Stdio::from(file)
    };
    let mut out = tempfile::tempfile()?;
    let mut err = tempfile::tempfile()?;
    let mut child = cmd
        .stdin(stdin)
        .stdout(out.try_clone()?)
        .stderr(err.try_clone()?)
        .spawn()
        .map_err(|source| SshError::Spawn { program, source })?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SshError::Timeout(timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |f: &mut std::fs::File| -> std::io::Result<String> {
        let mut bytes = Vec::new();
        f.rewind()?;
        f.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    Ok(Output {
        code: status.code(),
        stdout: read(&mut out)?,
        stderr: read(&mut err)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(ssh: &str) -> SshHost {
        SshHost::new("big1", ssh, Path::new("/run/sb"), Duration::from_secs(60)).unwrap()
    }

    #[test]
    fn ours_come_first_the_host_s_options_beat_our_defaults() {
        let h = host("-p 2222 -o ConnectTimeout=3 dev@big1");
        let argv = h.ssh_argv(&["-T"], Some("'tmux' '-V'"));
        let sock = h.control_path().display().to_string();
        assert!(sock.starts_with("/run/sb/ssh-big1-") && sock.ends_with(".sock"));
        let want: Vec<String> = [
            "-o",
            "ControlMaster=auto",
            "-o",
            &format!("ControlPath={sock}"),
            "-o",
            "ControlPersist=60",
            "-o",
            "BatchMode=yes",
            "-p",
            "2222",
            "-o",
            "ConnectTimeout=3",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "ServerAliveCountMax=3",
            "-T",
            "dev@big1",
            "'tmux' '-V'",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(argv, want);
    }

    #[test]
    fn another_destination_gets_another_socket() {
        assert_ne!(
            host("dev@big1").control_path(),
            host("dev@big2").control_path()
        );
        assert_eq!(
            host("dev@big1").control_path(),
            host("dev@big1").control_path()
        );
    }

    #[test]
    fn a_socket_path_too_long_for_ssh_is_refused_before_ssh_runs() {
        let deep = PathBuf::from(format!("/{}", "d".repeat(80)));
        let h = SshHost::new("big1", "big1", &deep, Duration::from_secs(1)).unwrap();
        let err = h.connect(Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("set XDG_RUNTIME_DIR"), "{err}");
    }

    #[test]
    fn remote_words_reach_the_remote_shell_as_words() {
        let words = ["printf", "%s\\n", "a b", "$(reboot)", "it's"];
        let joined = shlex::try_join(words).unwrap();
        let out = run_timed(
            Command::new("sh").arg("-c").arg(&joined),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out.stdout, "a b\n$(reboot)\nit's\n");
    }
}

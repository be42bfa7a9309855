//! Real hosts on this machine: each a network namespace (`ip netns`) joined
//! to this one by a veth pair with a private /30 (10.231.x.y), running its
//! own OpenSSH `sshd` on a config, host key and `authorized_keys` made for
//! the test, with a client key made for the test. The namespaces share this
//! machine's filesystem: each host gets its own HOME (sshd's `SetEnv`) and
//! workdir. Everything (sshd, its sessions, ssh masters, veth, namespace,
//! keys) goes on drop, even when the test fails.
//!
//! A machine that cannot do this (not root, no `ip netns`, no sshd) gives
//! [`Lab::new`] an `Err` saying why: the test prints it and skips.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";
/// Namespace slots: `sbh<N>`, subnet 10.231.(N/64).(N%64*4)/30.
const SLOTS: u32 = 4096;
static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct LabHost {
    pub name: String,
    /// The namespace's address, where its sshd listens.
    pub addr: String,
    /// Its user's HOME (sshd sets it) and its workdir, apart from the other host's.
    pub home: PathBuf,
    pub workdir: PathBuf,
    ns: String,
    veth: String,
    /// The pair's end inside the namespace.
    inside: String,
    sshd: Option<Child>,
    /// Its sshd offers the sftp subsystem (scp's default protocol).
    sftp: bool,
}

impl LabHost {
    /// Pull the host's network cable (`up` false) or plug it back: its
    /// end of the pair goes down, addresses and routes stay.
    pub fn set_link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        run("ip", &["-n", &self.ns, "link", "set", &self.inside, state])
            .unwrap_or_else(|e| panic!("{}: link {state}: {e}", self.name));
    }
}

pub struct Lab {
    dir: tempfile::TempDir,
    pub hosts: Vec<LabHost>,
    /// switchboard's runtime directory for the test (XDG_RUNTIME_DIR):
    /// where its ssh control sockets go.
    pub runtime: PathBuf,
    key: PathBuf,
    known_hosts: PathBuf,
}

/// Run a command that must succeed; its stderr otherwise.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Lab {
    /// Hosts named `names`, each in its own namespace with its sshd up.
    pub fn new(names: &[&str]) -> Result<Lab, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("not root: network namespaces need root".into());
        }
        for program in ["ip", "ssh", "scp", "ssh-keygen"] {
            if !have(program) {
                return Err(format!("no `{program}` on PATH"));
            }
        }
        if !Path::new(SSHD).exists() {
            return Err(format!(
                "no {SSHD} (apt-get install openssh-server; .ci/run does)"
            ));
        }
        // sshd's privilege separation directory (Debian's package makes it
        // at boot, not at install).
        std::fs::create_dir_all("/run/sshd").map_err(|e| format!("/run/sshd: {e}"))?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let key = dir.path().join("client_key");
        keygen(&key)?;
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .map_err(|e| e.to_string())?;
        let runtime = dir.path().join("run");
        std::fs::create_dir_all(&runtime).map_err(|e| e.to_string())?;
        let mut lab = Lab {
            runtime,
            known_hosts: dir.path().join("known_hosts"),
            dir,
            hosts: Vec::new(),
            key,
        };
        let mut known = String::new();
        for name in names {
            lab.add_host(name)?;
            let host_key = lab.dir.path().join(format!("host_{name}"));
            keygen(&host_key)?;
            let public = std::fs::read_to_string(host_key.with_extension("pub"))
                .map_err(|e| e.to_string())?;
            let mut words = public.split_whitespace();
            let (kind, b64) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            known.push_str(&format!("{} {kind} {b64}\n", lab.host(name).addr));
        }
        std::fs::write(&lab.known_hosts, known).map_err(|e| e.to_string())?;
        for i in 0..lab.hosts.len() {
            lab.start_sshd(i)?;
        }
        Ok(lab)
    }

    /// A namespace, its veth pair and addresses; registered at once so a
    /// later failure still removes it.
    fn add_host(&mut self, name: &str) -> Result<(), String> {
        let first = (std::process::id() * 37 + NEXT.fetch_add(1, Ordering::SeqCst)) % SLOTS;
        // `ip netns add` fails when the name exists: whoever made it owns
        // the slot, across test threads and processes alike.
        let slot = (0..SLOTS)
            .map(|k| (first + k) % SLOTS)
            .find(|n| run("ip", &["netns", "add", &format!("sbh{n}")]).is_ok())
            .ok_or("no free namespace slot (or `ip netns add` is not permitted)")?;
        let home = self.dir.path().join(format!("home-{name}"));
        let workdir = self.dir.path().join(format!("work-{name}"));
        std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
        // The /30's first address is this side's, the second the host's.
        let (prefix, last) = (format!("10.231.{}", slot / 64), (slot % 64) * 4);
        self.hosts.push(LabHost {
            name: name.into(),
            addr: format!("{prefix}.{}", last + 2),
            home,
            workdir,
            ns: format!("sbh{slot}"),
            veth: format!("sbh{slot}a"),
            inside: format!("sbh{slot}b"),
            sshd: None,
            sftp: true,
        });
        let host = self.hosts.last().expect("just pushed");
        let (ns, outside, inside) = (&host.ns, &host.veth, format!("sbh{slot}b"));
        let here = format!("{prefix}.{}/30", last + 1);
        let there = format!("{}/30", host.addr);
        run(
            "ip",
            &[
                "link", "add", outside, "type", "veth", "peer", "name", &inside,
            ],
        )?;
        run("ip", &["link", "set", &inside, "netns", ns])?;
        run("ip", &["addr", "add", &here, "dev", outside])?;
        run("ip", &["link", "set", outside, "up"])?;
        run("ip", &["-n", ns, "addr", "add", &there, "dev", &inside])?;
        run("ip", &["-n", ns, "link", "set", &inside, "up"])?;
        run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    fn start_sshd(&mut self, i: usize) -> Result<(), String> {
        let d = self.dir.path().to_path_buf();
        let host = &mut self.hosts[i];
        let name = host.name.clone();
        let config = d.join(format!("sshd_{name}.conf"));
        std::fs::write(
            &config,
            format!(
                "ListenAddress {addr}\n\
                 HostKey {d}/host_{name}\n\
                 PidFile {d}/sshd_{name}.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\n\
                 PermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 {sftp}\
                 SetEnv HOME={home}\n\
                 PrintMotd no\n\
                 PrintLastLog no\n",
                addr = host.addr,
                d = d.display(),
                home = host.home.display(),
                sftp = if host.sftp {
                    "Subsystem sftp internal-sftp\n"
                } else {
                    ""
                },
            ),
        )
        .map_err(|e| e.to_string())?;
        let log =
            std::fs::File::create(d.join(format!("sshd_{name}.log"))).map_err(|e| e.to_string())?;
        let child = Command::new("ip")
            .args(["netns", "exec", &host.ns, SSHD, "-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start sshd: {e}"))?;
        host.sshd = Some(child);
        // Ready when it accepts a connection (a hang guard, not a timing).
        let addr: SocketAddr = format!("{}:22", host.addr)
            .parse()
            .map_err(|e| format!("{e}"))?;
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                let log = std::fs::read_to_string(d.join(format!("sshd_{name}.log")));
                return Err(format!("sshd of {name} never listened: {log:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Start `name`'s sshd again without the sftp subsystem, as some
    /// minimal servers run.
    pub fn drop_sftp(&mut self, name: &str) -> Result<(), String> {
        let i = self
            .hosts
            .iter()
            .position(|h| h.name == name)
            .ok_or("no such lab host")?;
        if let Some(mut sshd) = self.hosts[i].sshd.take() {
            let _ = sshd.kill();
            let _ = sshd.wait();
        }
        self.hosts[i].sftp = false;
        self.start_sshd(i)
    }

    pub fn host(&self, name: &str) -> &LabHost {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .expect("a lab host")
    }

    /// The plan's `ssh` for a host: the test's key and known_hosts, none
    /// of this machine's own ssh configuration.
    pub fn ssh(&self, name: &str) -> String {
        self.ssh_to(&self.host(name).addr, &[])
    }

    /// `ssh` to `addr` with extra options (`-p 2`, say).
    pub fn ssh_to(&self, addr: &str, extra: &[&str]) -> String {
        let key = self.key.display().to_string();
        let known = format!("UserKnownHostsFile={}", self.known_hosts.display());
        let mut words = vec![
            "-F",
            "/dev/null",
            "-i",
            &key,
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            &known,
            "-o",
            "StrictHostKeyChecking=yes",
        ];
        words.extend(extra);
        let dest = format!("root@{addr}");
        words.push(&dest);
        shlex::try_join(words).expect("quotable")
    }

    /// A `settings.hosts` entry for a lab host, as YAML.
    pub fn host_yaml(&self, name: &str) -> String {
        let host = self.host(name);
        format!(
            "    - {{ name: {name}, ssh: {}, workdir: {} }}\n",
            serde_json::to_string(&self.ssh(name)).expect("json"),
            serde_json::to_string(&host.workdir.display().to_string()).expect("json"),
        )
    }
}

fn keygen(path: &Path) -> Result<(), String> {
    let p = path.display().to_string();
    run(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "switchboard-test",
            "-f",
            &p,
        ],
    )
    .map(|_| ())
}

/// ssh masters still listening in `runtime` (switchboard should leave none).
pub fn control_sockets(runtime: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![runtime.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if entry.file_name().to_string_lossy().starts_with("ssh-") {
                found.push(path);
            }
        }
    }
    found
}

/// Close any ssh master left in `runtime` (after a failed test).
pub fn close_masters(runtime: &Path) {
    for socket in control_sockets(runtime) {
        let _ = Command::new("ssh")
            .arg("-o")
            .arg(format!("ControlPath={}", socket.display()))
            .args(["-O", "exit", "lab"])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(socket);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        close_masters(&self.runtime);
        for host in &mut self.hosts {
            if let Some(mut sshd) = host.sshd.take() {
                let _ = sshd.kill();
                let _ = sshd.wait();
            }
            // sshd's per-connection processes live on in the namespace.
            if let Ok(pids) = run("ip", &["netns", "pids", &host.ns]) {
                for pid in pids
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            let _ = run("ip", &["link", "del", &host.veth]);
            let _ = run("ip", &["netns", "del", &host.ns]);
            remove_host_files(&host.name);
        }
    }
}

/// What a host's tmux server and forwarded engine socket leave as files (the
/// namespaces share this filesystem) when a failed test's engine never
/// closed them: gone with the lab, so the next test of that host name does
/// not find them.
fn remove_host_files(name: &str) {
    let tmux_dir = PathBuf::from(format!("/tmp/tmux-{}", nix::unistd::getuid()));
    for (dir, prefix, suffix) in [
        (tmux_dir, "sb-", format!("-{name}")),
        (
            PathBuf::from("/tmp"),
            "switchboard-",
            format!("-{name}.sock"),
        ),
    ] {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file.starts_with(prefix) && file.ends_with(&suffix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

//! Hosts over real OpenSSH (issue 14): `doctor` and `hosts install` against
//! two namespace hosts (netns.rs), each with its own sshd, plus a third
//! that refuses connections. Skipped, with the reason, where namespaces
//! cannot be made.

use crate::harness::{Sandbox, bin, stderr};
use crate::netns::{Lab, control_sockets};
use std::process::Output;

/// A plan whose profiles run the sim agent, git (found everywhere), a
/// program no host has, and one more that only runs where the label `gpu`
/// is; `hosts` is the `settings.hosts` list.
fn plan(hosts: &str) -> String {
    format!(
        "settings:\n  hosts:\n{hosts}\
         agents:\n  sim: {{ command: \"switchboard sim-agent --duration 0.2\" }}\n  \
         tool: {{ command: \"git --version\" }}\n  \
         ghost: {{ command: \"nosuch-agent-xyz --go\" }}\n  \
         gpuonly: {{ command: \"nosuch-gpu-tool\", capabilities: [gpu] }}\n\
         groups: [ {{ id: G }} ]\n\
         tasks:\n  - {{ taskId: T1, title: One, group: G, agent: {{ type: sim }} }}\n"
    )
}

fn lab(names: &[&str]) -> Option<Lab> {
    match Lab::new(names) {
        Ok(lab) => Some(lab),
        Err(why) => {
            eprintln!("skipped: cannot make namespace hosts here: {why}");
            None
        }
    }
}

/// Run switchboard in `sb` with the lab's runtime directory.
fn sb_run(sb: &Sandbox, lab: &Lab, args: &[&str]) -> Output {
    let child = sb
        .cmd(args)
        .env("XDG_RUNTIME_DIR", &lab.runtime)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn switchboard");
    crate::harness::wait_with_guard(child, std::time::Duration::from_secs(180))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The block `doctor` printed for `host`.
fn block<'a>(said: &'a str, host: &str) -> &'a str {
    let start = said
        .find(&format!("host {host} ("))
        .unwrap_or_else(|| panic!("no block for {host}:\n{said}"));
    let rest = &said[start..];
    let end = ["\nhost ", "\nhosts:"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

/// Neither an ssh master nor its socket is left.
fn assert_no_master_left(lab: &Lab, what: &str) {
    let sockets = control_sockets(&lab.runtime);
    assert!(sockets.is_empty(), "{what}: sockets left: {sockets:?}");
    let needle = lab.runtime.display().to_string();
    let masters: Vec<String> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("ssh") && c.contains(&needle))
        .collect();
    assert!(masters.is_empty(), "{what}: ssh left running: {masters:?}");
}

#[test]
fn doctor_reports_each_namespace_host_and_an_unreachable_one() {
    let Some(lab) = lab(&["nsa", "nsb"]) else {
        return;
    };
    // A third host on nsa's address, on a port nothing listens on.
    let gone = lab.ssh_to(&lab.host("nsa").addr, &["-p", "2"]);
    let hosts = format!(
        "{}{}    - {{ name: gone, ssh: {} }}\n",
        lab.host_yaml("nsa"),
        lab.host_yaml("nsb").replace(" }\n", ", labels: [gpu] }\n"),
        serde_json::to_string(&gone).unwrap()
    );
    let sb = Sandbox::new(&plan(&hosts));
    let out = sb_run(&sb, &lab, &["doctor"]);
    let said = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{said}\n{}", stderr(&out));

    let local = block(&said, "local");
    assert!(local.contains("(this machine)"), "{local}");
    // Only nsb carries `gpu`: the profile asking for it is checked there.
    assert!(!local.contains("nosuch-gpu-tool"), "{local}");
    assert!(!block(&said, "nsa").contains("nosuch-gpu-tool"), "{said}");
    let nsb = block(&said, "nsb");
    assert!(
        nsb.contains("! agent nosuch-gpu-tool")
            && nsb.contains("not found: profile gpuonly cannot run here"),
        "{nsb}"
    );
    assert!(local.contains("✓ switchboard"), "{local}");
    assert!(
        local.contains(&format!("(this build, at {})", bin())),
        "{local}"
    );

    for name in ["nsa", "nsb"] {
        let b = block(&said, name);
        let host = lab.host(name);
        assert!(b.contains("✓ ssh "), "{b}");
        assert!(b.contains("reachable as root@"), "{b}");
        assert!(b.contains("(as this machine)"), "{b}");
        assert!(b.contains("✓ tmux ") && b.contains("tmux 3"), "{b}");
        assert!(b.contains("✓ git ") && b.contains("git version"), "{b}");
        assert!(
            b.contains("✗ switchboard")
                && b.contains(&format!(
                    "not found on PATH or in ~/.local/bin: `switchboard hosts install {name}`"
                )),
            "{b}"
        );
        assert!(b.contains("✓ agent git "), "{b}");
        assert!(
            b.contains("! agent nosuch-agent-xyz")
                && b.contains("not found: profile ghost cannot run here"),
            "{b}"
        );
        // Its workdir is not made yet: the free space is its parent's.
        let parent = host.workdir.parent().unwrap().display().to_string();
        assert!(
            b.contains(&format!(
                "free in {parent} ({} is not made yet)",
                host.workdir.display()
            )),
            "{b}"
        );
        assert!(b.contains("✓ memory ") && b.contains("available of"), "{b}");
    }
    let gone = block(&said, "gone");
    assert!(
        gone.contains("✗ ssh  unreachable:") && gone.contains("Connection refused"),
        "{gone}"
    );
    assert!(
        said.contains(
            "hosts: 1 usable, unusable: nsa (switchboard); nsb (switchboard); gone (ssh)"
        ),
        "{said}"
    );
    assert_no_master_left(&lab, "after doctor");
}

#[test]
fn hosts_install_copies_this_build_and_doctor_then_finds_it() {
    let Some(mut lab) = lab(&["insa", "insb"]) else {
        return;
    };
    // insb's sshd has no sftp: its copy goes over scp's original protocol.
    lab.drop_sftp("insb").expect("sshd without sftp");
    let hosts = format!("{}{}", lab.host_yaml("insa"), lab.host_yaml("insb"));
    let sb = Sandbox::new(&plan(&hosts));

    let out = sb_run(&sb, &lab, &["hosts", "install", "insa"]);
    let said = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{said}\n{}", stderr(&out));
    let a = lab.host("insa");
    let dest = a.home.join(".local/bin/switchboard");
    assert!(
        said.contains(&format!(
            "✓ insa: installed switchboard {} at {}",
            env!("CARGO_PKG_VERSION"),
            dest.display()
        )),
        "{said}"
    );
    assert_eq!(
        std::fs::read(&dest).expect("installed"),
        std::fs::read(bin()).expect("this build"),
        "the installed file is this build"
    );
    let b = lab.host("insb");
    assert!(!b.home.join(".local/bin/switchboard").exists());
    let leftovers: Vec<_> = std::fs::read_dir(a.home.join(".local/bin"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers, ["switchboard"], "no partial copy is left");
    assert_no_master_left(&lab, "after install");

    let out = sb_run(&sb, &lab, &["doctor"]);
    let said = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    let insa = block(&said, "insa");
    assert!(
        insa.contains("✓ switchboard")
            && insa.contains(&format!(
                "{} at {} (as this build)",
                env!("CARGO_PKG_VERSION"),
                dest.display()
            )),
        "{said}"
    );
    assert!(block(&said, "insb").contains("✗ switchboard"), "{said}");

    // Every host, then: all usable (a missing agent is a note, not a blocker).
    let out = sb_run(&sb, &lab, &["hosts", "install"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("✓ insb: installed"),
        "{}",
        stdout(&out)
    );
    let out = sb_run(&sb, &lab, &["doctor"]);
    let said = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("hosts: 3 usable"), "{said}");

    for (args, want) in [
        (
            &["hosts", "install", "nosuch"][..],
            "no host 'nosuch' in the plan's settings.hosts (it lists insa, insb)",
        ),
        (
            &["hosts", "install", "local"][..],
            "'local' is this machine",
        ),
    ] {
        let out = sb_run(&sb, &lab, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
    assert_no_master_left(&lab, "at the end");
}

/// The connection itself (item 2): one master per host, reused, words
/// reaching the remote shell as words, scp over it (and, the master gone,
/// on its own with the same options), nothing left once closed.
#[test]
fn one_master_per_host_carries_commands_and_copies_and_leaves_nothing() {
    use std::time::Duration;
    use switchboard::hosts::ssh::{SshError, SshHost};
    let Some(lab) = lab(&["conn"]) else {
        return;
    };
    let host = lab.host("conn");
    let persist = Duration::from_secs(30);
    let ssh = SshHost::new("conn", &lab.ssh("conn"), &lab.runtime, persist).expect("ssh");
    let conn = ssh.connect(Duration::from_secs(30)).expect("reachable");
    assert!(ssh.master_up(), "a master runs");
    assert_eq!(control_sockets(&lab.runtime), [ssh.control_path()]);

    let trap = host.home.join("pwned");
    let hostile = format!("$(touch {})", trap.display());
    let out = conn
        .run(
            &["printf", "%s|", "a b", &hostile, "it's", "*"],
            Duration::from_secs(30),
        )
        .expect("run");
    assert_eq!(out.stdout, format!("a b|{hostile}|it's|*|"));
    assert!(!trap.exists(), "an argument ran as a command");
    let out = conn
        .run(&["sh", "-c", "exit 7"], Duration::from_secs(30))
        .unwrap();
    assert_eq!(out.code, Some(7));

    // A second connection rides on the first's master and leaves it up.
    let second = ssh.connect(Duration::from_secs(30)).expect("again");
    second.close();
    assert!(
        ssh.master_up(),
        "the second connection did not own the master"
    );

    let local = lab.runtime.join("payload");
    std::fs::write(&local, "copied over the master\n").unwrap();
    let remote = host.home.join("payload");
    conn.copy_to(
        &local,
        &remote.display().to_string(),
        Duration::from_secs(60),
    )
    .expect("scp");
    assert_eq!(
        std::fs::read_to_string(&remote).unwrap(),
        "copied over the master\n"
    );

    conn.close();
    assert!(!ssh.master_up());
    assert_no_master_left(&lab, "after close");

    // Without a master, scp reaches the host with the host's own options.
    let conn = ssh.connect(Duration::from_secs(30)).expect("reachable");
    let out = std::process::Command::new("ssh")
        .args(ssh.ssh_argv(&["-O", "exit"], None))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&remote).unwrap();
    conn.copy_to(
        &local,
        &remote.display().to_string(),
        Duration::from_secs(60),
    )
    .expect("scp on its own");
    assert!(remote.exists());
    drop(conn);
    assert_no_master_left(&lab, "after the master went");

    let refused = SshHost::new(
        "refused",
        &lab.ssh_to(&host.addr, &["-p", "2"]),
        &lab.runtime,
        persist,
    )
    .unwrap();
    match refused.connect(Duration::from_secs(30)) {
        Err(SshError::Unreachable(why)) => assert!(why.contains("Connection refused"), "{why}"),
        other => panic!("not unreachable: {other:?}"),
    }
    assert_no_master_left(&lab, "after a refused connection");
}

/// A host's tmux driven over its ssh connection with the control-mode
/// client the engine uses locally: a session made there, listed, typed
/// into, read back and killed; then nothing of it left on the host.
#[test]
fn a_host_s_tmux_answers_the_control_client_over_ssh() {
    use std::time::Duration;
    use switchboard::hosts::ssh::SshHost;
    let Some(lab) = lab(&["ctl"]) else {
        return;
    };
    let ssh = SshHost::new(
        "ctl",
        &lab.ssh("ctl"),
        &lab.runtime,
        Duration::from_secs(30),
    )
    .expect("ssh");
    let conn = ssh.connect(Duration::from_secs(30)).expect("reachable");
    let socket = format!("sbhost-{}", std::process::id());
    // The host shares this machine's /tmp: its tmux socket file is here too.
    let _socket_file = RemoveOnDrop(switchboard::tmux::private_server::socket_file(&socket));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = switchboard::hosts::control::connect(&conn, Some(&socket), "sb-control")
            .await
            .expect("control mode over ssh");
        client
            .run("new-session -d -s work -x 80 -y 24 cat")
            .await
            .expect("a session on the host");
        let panes = client.list_panes().await.expect("list-panes");
        let work = panes
            .iter()
            .find(|p| p.session_name == "work")
            .unwrap_or_else(|| panic!("no work pane: {panes:?}"));
        client
            .send_text(&work.pane_id, "over ssh; $(not run)", true)
            .await
            .unwrap();
        let mut screen = Vec::new();
        for _ in 0..100 {
            screen = client.capture_screen(&work.pane_id).await.unwrap();
            if screen
                .iter()
                .filter(|l| l.contains("over ssh; $(not run)"))
                .count()
                == 2
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            screen
                .iter()
                .filter(|l| l.contains("over ssh; $(not run)"))
                .count(),
            2,
            "typed and echoed by cat: {screen:?}"
        );
        client.kill_session("work").await.unwrap();
    });
    // The last handle is gone: the control session was killed, and with no
    // session left the host's tmux server exits.
    let mut left = String::from("?");
    for _ in 0..100 {
        let out = conn
            .run(
                &["tmux", "-L", &socket, "list-sessions"],
                Duration::from_secs(30),
            )
            .unwrap();
        if !out.success() {
            left.clear();
            break;
        }
        left = out.stdout;
        // Driving the runtime lets the client's last task say goodbye.
        runtime.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
    }
    assert!(left.is_empty(), "sessions left on the host: {left}");
    conn.close();
    assert_no_master_left(&lab, "after the control connection");
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

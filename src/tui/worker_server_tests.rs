use super::*;
use crate::hosts::ssh::{Output, SshError};
use crate::tui::attach::{AttachPlan, ClientSpot};
use crate::tui::fixture;

fn clock(ms: u64) -> String {
    crate::engine::words::clock_time_at(ms, 0)
}

fn big1() -> WorkerServer {
    WorkerServer::of(&fixture::on_hosts(), "T4", Some("big1"), clock).expect("big1 answers")
}

const SSH: [&str; 8] = [
    "ssh",
    "-o",
    "ControlMaster=auto",
    "-o",
    "ControlPath=/run/user/1000/switchboard/ssh-big1-1a2b3c4d.sock",
    "-o",
    "BatchMode=yes",
    "dev@big1",
];

#[test]
fn a_worker_here_is_on_the_run_s_tmux_server() {
    let server = WorkerServer::of(&fixture::on_hosts(), "T7", None, clock).unwrap();
    assert_eq!(
        server,
        WorkerServer::Local {
            socket: Some("switchboard".into())
        }
    );
    assert_eq!(server.host(), None);
    let env = Surroundings::default();
    assert_eq!(
        server.attach_argv("sb-T7", &env).unwrap(),
        [
            "tmux",
            "-L",
            "switchboard",
            "attach-session",
            "-t",
            "=sb-T7"
        ]
    );
    assert_eq!(
        server.has_session_argv("sb-T7", &env).unwrap(),
        ["tmux", "-L", "switchboard", "has-session", "-t", "=sb-T7"]
    );
}

#[test]
fn a_worker_on_a_host_is_reached_over_the_engine_s_ssh_master() {
    let server = big1();
    assert_eq!(server.host(), Some("big1"));
    let env = Surroundings::default();
    let mut want: Vec<String> = SSH.map(String::from).to_vec();
    want.insert(1, "-t".into());
    want.push("tmux -L sb-3f2a-big1 attach-session -t '=sb-T4'".into());
    assert_eq!(server.attach_argv("sb-T4", &env).unwrap(), want);

    let mut want: Vec<String> = SSH.map(String::from).to_vec();
    want.insert(1, "-T".into());
    want.push("tmux -L sb-3f2a-big1 has-session -t '=sb-T4'".into());
    assert_eq!(server.has_session_argv("sb-T4", &env).unwrap(), want);
}

/// Words from the plan reach the host's shell as the words they are.
#[test]
fn the_host_s_shell_gets_each_word_quoted() {
    let server = WorkerServer::Host {
        name: "big1".into(),
        ssh: vec!["ssh".into(), "dev@big1".into()],
        tmux_socket: "sb 'x' $HOME".into(),
    };
    let session = "sb-T4; rm -rf ~ $(reboot)";
    let argv = server
        .attach_argv(session, &Surroundings::default())
        .unwrap();
    assert_eq!(argv[..3], ["ssh", "-t", "dev@big1"]);
    assert_eq!(argv.len(), 4, "one word for the remote shell: {argv:?}");
    assert_eq!(
        shlex::split(&argv[3]).expect("a shell's words"),
        [
            "tmux",
            "-L",
            "sb 'x' $HOME",
            "attach-session",
            "-t",
            "=sb-T4; rm -rf ~ $(reboot)"
        ]
    );
    // A NUL cannot be quoted: refused, never cut short.
    let err = server
        .attach_argv("sb-T4\0x", &Surroundings::default())
        .unwrap_err();
    assert!(err.contains("NUL"), "{err}");
}

/// Inside tmux, the popup's command is read by a shell, then ssh's last
/// word by the host's: both layers of quoting come back to the same words.
#[test]
fn a_popup_runs_the_same_ssh_command() {
    let env = Surroundings {
        tmux: Some("/tmp/tmux-1000/default,4242,0".into()),
        pane: Some("%3".into()),
        mode: None,
    };
    let argv = big1().attach_argv("sb-T4", &env).unwrap();
    let spot = ClientSpot {
        client: "/dev/pts/7".into(),
        window: "@2".into(),
    };
    let AttachPlan::Beside { command, how, .. } =
        attach::plan(argv.clone(), &env, Some(&spot), Some((3, 3)))
    else {
        panic!("a popup inside tmux 3.3");
    };
    assert!(command.args.contains(&"display-popup".to_string()));
    assert!(how.contains("C-b d"), "{how}");
    let shell = command.args.last().expect("the popup's command");
    let words = shlex::split(shell).expect("a shell's words");
    assert_eq!(words[..3], ["env", "-u", "TMUX"]);
    assert_eq!(words[3..], argv[..]);
}

/// Outside tmux, the ssh command takes the terminal as a local attach does.
#[test]
fn outside_tmux_ssh_takes_the_terminal() {
    let env = Surroundings::default();
    let argv = big1().attach_argv("sb-T4", &env).unwrap();
    let AttachPlan::Foreground(command) = attach::plan(argv.clone(), &env, None, None) else {
        panic!("the terminal outside tmux");
    };
    assert_eq!(command.program, "ssh");
    assert_eq!(command.args, argv[1..]);
}

#[test]
fn no_attach_to_a_host_that_does_not_answer() {
    let snap = fixture::on_hosts();
    let err = WorkerServer::of(&snap, "T6", Some("big2"), clock).unwrap_err();
    assert_eq!(
        err,
        "cannot attach to T6: big2 is unreachable since 22:14 \
         (ssh: connect to host 10.77.0.3 port 22: No route to host)"
    );
    let err = WorkerServer::of(&snap, "T6", Some("big9"), clock).unwrap_err();
    assert!(
        err.contains("big9") && err.contains("does not list"),
        "{err}"
    );
    let mut snap = snap;
    snap.hosts[0].ssh.clear();
    let err = WorkerServer::of(&snap, "T4", Some("big1"), clock).unwrap_err();
    assert!(err.contains("no ssh command"), "{err}");
}

#[test]
fn what_a_host_s_answer_means() {
    let out = |code: Option<i32>, stderr: &str| {
        Ok(Output {
            code,
            stdout: String::new(),
            stderr: stderr.into(),
        })
    };
    assert_eq!(host_answer("big1", out(Some(0), "")), SessionCheck::There);
    assert_eq!(
        host_answer("big1", out(Some(1), "can't find session: =sb-T4\n")),
        SessionCheck::Gone
    );
    assert_eq!(
        host_answer(
            "big1",
            out(
                Some(255),
                "Warning: x\nssh: connect to host big1 port 22: Connection refused\n"
            )
        ),
        SessionCheck::Unanswered(
            "big1 does not answer: ssh: connect to host big1 port 22: Connection refused".into()
        )
    );
    assert_eq!(
        host_answer("big1", out(Some(127), "sh: 1: tmux: not found\n")),
        SessionCheck::Unanswered("tmux on big1: sh: 1: tmux: not found (exit 127)".into())
    );
    assert_eq!(
        host_answer("big1", Err(SshError::Timeout(5))),
        SessionCheck::Unanswered("big1: no answer in 5 s".into())
    );
}

/// The question is asked as built: a stand-in for ssh records its argv and
/// answers with the status it is told to.
#[test]
fn the_check_runs_the_has_session_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let said = dir.path().join("argv");
    let fake = dir.path().join("fake-ssh");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nexit \"$(cat '{}')\"\n",
            said.display(),
            dir.path().join("code").display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let server = WorkerServer::Host {
        name: "big1".into(),
        ssh: vec![fake.display().to_string(), "dev@big1".into()],
        tmux_socket: "sb-3f2a-big1".into(),
    };
    let env = Surroundings::default();
    for (code, want) in [
        ("0", SessionCheck::There),
        ("1", SessionCheck::Gone),
        (
            "255",
            SessionCheck::Unanswered("big1 does not answer: (no message)".into()),
        ),
    ] {
        std::fs::write(dir.path().join("code"), code).expect("code");
        assert_eq!(server.check("sb-T4", &env), want, "exit {code}");
    }
    assert_eq!(
        std::fs::read_to_string(&said).expect("argv"),
        "-T\ndev@big1\ntmux -L sb-3f2a-big1 has-session -t '=sb-T4'\n"
    );
}

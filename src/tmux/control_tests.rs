//! The control client against a private tmux server. Timeouts here only guard
//! against hangs; nothing asserts on speed.

use super::*;
use crate::tmux::names::quote;
use crate::tmux::{PaneInfo, PrivateServer, Tmux};
use std::future::Future;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const CTL: &str = "sb-test--control";

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .expect("hang guard: no answer from tmux")
}

async fn connected() -> (PrivateServer, ControlClient) {
    let server = PrivateServer::new("sbtest");
    let client = within(ControlClient::connect(Some(server.name()), CTL))
        .await
        .unwrap();
    (server, client)
}

fn spawn_worker(tmux: &Tmux, name: &str, argv: &[&str]) -> String {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    tmux.new_session(name, Path::new("/"), &[], &argv, (80, 24))
        .unwrap()
}

/// Polls `list_panes` until `pane` satisfies `done`.
async fn wait_pane(
    client: &ControlClient,
    pane: &str,
    done: impl Fn(&PaneInfo) -> bool,
) -> PaneInfo {
    within(async {
        loop {
            let panes = client.list_panes().await.unwrap();
            if let Some(info) = panes.into_iter().find(|p| p.pane_id == pane)
                && done(&info)
            {
                return info;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_from_many_tasks_get_their_own_replies() {
    let (_server, client) = connected().await;
    let mut tasks = Vec::new();
    for t in 0..5 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let reply = client
                    .run(&format!("display-message -p task-{t}-{i}"))
                    .await
                    .unwrap();
                assert_eq!(reply, [format!("task-{t}-{i}")]);
            }
        }));
    }
    // And 100 in flight at once from one task.
    let many: Vec<_> = (0..100)
        .map(|i| {
            let client = client.clone();
            async move { client.run(&format!("display-message -p n{i}")).await }
        })
        .collect();
    let replies = within(futures_join_all(many)).await;
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap(), [format!("n{i}")]);
    }
    for task in tasks {
        within(task).await.unwrap();
    }
}

/// `join_all` without a futures dependency: spawn each, await in order.
async fn futures_join_all<F, T>(futures: Vec<F>) -> Vec<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn multi_line_replies_errors_and_multi_block_lines() {
    let (server, client) = connected().await;
    let tmux = server.tmux();
    for name in ["w1", "w2", "w3"] {
        spawn_worker(&tmux, name, &["sleep", "60"]);
    }
    let mut sessions = within(client.run("list-sessions -F '#{session_name}'"))
        .await
        .unwrap();
    sessions.sort();
    assert_eq!(sessions, [CTL, "w1", "w2", "w3"]);

    let err = within(client.run("no-such-command x")).await.unwrap_err();
    match err {
        TmuxError::Command {
            cmd,
            status,
            stderr,
        } => {
            assert_eq!(cmd, "no-such-command x");
            assert_eq!(status, None);
            assert!(stderr.contains("unknown command"), "{stderr}");
        }
        other => panic!("{other}"),
    }
    let err = within(client.run("kill-session -t =nope"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("can't find session"), "{err}");

    // Lines that make several reply blocks, or none, still pair up exactly.
    let both = within(client.run("display -p a ; display -p b")).await;
    assert_eq!(both.unwrap(), ["a", "b"]);
    let nested = within(client.run("if -F 1 { display -p q ; display -p r }")).await;
    assert_eq!(nested.unwrap(), ["q", "r"]);
    let nothing = within(client.run("# just a comment")).await;
    assert_eq!(nothing.unwrap(), Vec::<String>::new());
    let after = within(client.run("display -p still-in-step")).await;
    assert_eq!(after.unwrap(), ["still-in-step"]);
}

#[tokio::test]
async fn refuses_lines_tmux_would_misread() {
    let (_server, client) = connected().await;
    for bad in [
        "",
        "   ",
        "display -p a\ndisplay -p b",
        "%if 1",
        "x\r",
        "a\0",
    ] {
        let err = client.run(bad).await.unwrap_err();
        assert!(matches!(err, TmuxError::Invalid(_)), "{bad:?}: {err}");
    }
    assert!(matches!(
        client.capture_tail("3", 5).await,
        Err(TmuxError::Invalid(_))
    ));
    let ok = within(client.run("display -p fine")).await.unwrap();
    assert_eq!(ok, ["fine"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_in_between_do_not_confuse_the_framing() {
    let (server, client) = connected().await;
    let tmux = server.tmux();
    spawn_worker(&tmux, "busy", &["sleep", "60"]);
    let churn = {
        let client = client.clone();
        tokio::spawn(async move {
            for i in 0..30 {
                let window = client
                    .run("new-window -d -P -F '#{window_id}' -t =busy: 'sleep 60'")
                    .await
                    .unwrap();
                assert_eq!(window.len(), 1, "{window:?}");
                assert!(window[0].starts_with('@'), "{window:?}");
                client
                    .run(&format!("rename-window -t {} w{i}", quote(&window[0])))
                    .await
                    .unwrap();
                client
                    .run(&format!("kill-window -t {}", quote(&window[0])))
                    .await
                    .unwrap();
            }
        })
    };
    // Sessions come and go from outside too, each a burst of notifications.
    let outside = tokio::task::spawn_blocking(move || {
        for i in 0..10 {
            let name = format!("x{i}");
            spawn_worker(&tmux, &name, &["sleep", "60"]);
            tmux.kill_session(&name).unwrap();
        }
    });
    for i in 0..200 {
        let reply = within(client.run(&format!("display-message -p r{i}"))).await;
        assert_eq!(reply.unwrap(), [format!("r{i}")]);
    }
    within(churn).await.unwrap();
    within(outside).await.unwrap();
}

#[tokio::test]
async fn list_panes_sees_live_and_dead_panes() {
    let (server, client) = connected().await;
    let tmux = server.tmux();
    let live = spawn_worker(&tmux, "live", &["sleep", "60"]);
    let dead = spawn_worker(&tmux, "dead", &["sh", "-c", "exit 3"]);
    let killed = spawn_worker(&tmux, "killed", &["sh", "-c", "kill -TERM $$"]);
    let info = wait_pane(&client, &killed, |p| p.pane_dead_signal.is_some()).await;
    assert_eq!(
        (info.pane_dead_status, info.pane_dead_signal),
        (None, Some(15))
    );
    let info = wait_pane(&client, &dead, |p| p.pane_dead_status.is_some()).await;
    assert!(info.pane_dead);
    assert_eq!(info.pane_dead_status, Some(3));
    assert_eq!(info.session_name, "dead");

    let info = wait_pane(&client, &live, |p| p.pane_current_command == "sleep").await;
    assert!(!info.pane_dead);
    assert_eq!(info.pane_dead_status, None);
    assert!(info.pane_pid.is_some_and(|pid| pid > 1));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        info.activity.is_some_and(|t| (now - t).abs() < 600),
        "{info:?}"
    );

    let panes = within(client.list_panes()).await.unwrap();
    assert!(panes.iter().any(|p| p.session_name == CTL));
    within(client.kill_pane(&live)).await.unwrap();
    within(client.kill_session("dead")).await.unwrap();
    let panes = within(client.list_panes()).await.unwrap();
    assert!(panes.iter().all(|p| p.pane_id != live && p.pane_id != dead));
}

#[tokio::test]
async fn capture_tail_and_keys() {
    let (server, client) = connected().await;
    let tmux = server.tmux();
    let script = "for i in 1 2 3 4 5 6 7 8; do echo line-$i; done; exec cat";
    let pane = spawn_worker(&tmux, "cap", &["sh", "-c", script]);
    let tail = within(async {
        loop {
            let tail = client.capture_tail(&pane, 3).await.unwrap();
            if tail.last().is_some_and(|l| l == "line-8") {
                return tail;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(tail, ["line-6", "line-7", "line-8"]);

    // Literal text, hostile for both the command language and key names.
    let text = "C-c it's $HOME; #{pane_id} ~ \\";
    within(client.send_text(&pane, text, true)).await.unwrap();
    within(async {
        loop {
            let tail = client.capture_tail(&pane, 2).await.unwrap();
            if tail == [text, text] {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    within(client.send_keys(&pane, &["C-c"])).await.unwrap();
    wait_pane(&client, &pane, |p| p.pane_dead).await;
}

/// Screen rules read the visible screen only: a cleared dialog that tmux
/// scrolled into history is not read again. The poll's one `list-panes`
/// carries each pane's title.
#[tokio::test]
async fn the_visible_screen_and_the_pane_title() {
    let (server, client) = connected().await;
    let tmux = server.tmux();
    let script = "for i in $(seq 1 40); do echo old-$i; done; \
                  printf '\\033]2;%s\\033\\\\' 'agent busy'; printf '\\033[H\\033[2J'; \
                  echo fresh; exec cat";
    let pane = spawn_worker(&tmux, "screen", &["sh", "-c", script]);
    let info = wait_pane(&client, &pane, |p| p.title == "agent busy").await;
    assert!(!info.pane_dead);
    let screen = within(async {
        loop {
            let screen = client.capture_screen(&pane).await.unwrap();
            if screen.last().is_some_and(|l| l == "fresh") {
                return screen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(screen, ["fresh"]);
    within(client.kill_pane(&pane)).await.unwrap();
}

#[tokio::test]
async fn hostile_strings_round_trip_through_quote() {
    let (server, client) = connected().await;
    let hostile = [
        "plain",
        "",
        "it's \"quoted\" 'twice'",
        "semi; colon \\; and ; alone",
        "#{session_name} #(echo hi) ##",
        "$HOME ${HOME} $(id)",
        "~ ~root",
        "~",
        "back\\slash \\\\ \\n \\e \\0",
        "line\nbreak\r\n\ttab",
        "\x1b[31mred\x1b[0m \x07\x7f",
        "{ braces } %if %end 1 2 1",
        "-t flag-looking",
        "ünïcödé ✓ 🦀",
    ];
    for (i, s) in hostile.iter().enumerate() {
        let buffer = format!("b{i}");
        within(client.run(&format!("set-buffer -b {buffer} -- {}", quote(s))))
            .await
            .unwrap();
        // Read back raw by a one-off process: control mode escapes show-buffer.
        let out = std::process::Command::new("tmux")
            .args(["-L", server.name(), "show-buffer", "-b", &buffer])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), *s, "{s:?}");

        // display-message expands formats and strftime; escape those two.
        if !s.contains(['\n', '\r']) {
            let literal = s.replace('#', "##").replace('%', "%%");
            let shown = within(client.run(&format!("display-message -p -- {}", quote(&literal))))
                .await
                .unwrap();
            let expected: Vec<String> = if s.is_empty() {
                vec![String::new()]
            } else {
                vec![s.to_string()]
            };
            assert_eq!(shown, expected, "{s:?}");
        }
    }
}

#[tokio::test]
async fn killed_server_closes_every_request_without_hanging() {
    let (server, client) = connected().await;
    let flood: Vec<_> = (0..50)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.run(&format!("display -p {i}")).await })
        })
        .collect();
    server.tmux().kill_server().unwrap();
    for request in flood {
        match within(request).await.unwrap() {
            Ok(_) | Err(TmuxError::Closed) => {}
            Err(other) => panic!("{other}"),
        }
    }
    let err = within(client.run("display -p after")).await.unwrap_err();
    assert!(matches!(err, TmuxError::Closed), "{err}");
    let err = within(client.list_panes()).await.unwrap_err();
    assert!(matches!(err, TmuxError::Closed), "{err}");
}

async fn wait_until_gone(tmux: &Tmux, session: &str) {
    within(async {
        // The server exits with its last session; a has-session racing that
        // exit errors, and a gone server holds no session either.
        while tmux.has_session(session).unwrap_or(false) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn dropping_the_last_handle_removes_the_control_session() {
    let (server, client) = connected().await;
    let tmux = server.tmux();
    spawn_worker(&tmux, "worker", &["sleep", "60"]);
    let other = client.clone();
    drop(client);
    assert_eq!(
        within(other.run("display -p alive")).await.unwrap(),
        ["alive"]
    );
    drop(other);
    wait_until_gone(&tmux, CTL).await;
    // Again, several times: connecting and leaving must never take the
    // server (and the workers on it) down.
    for _ in 0..5 {
        let client = within(ControlClient::connect(Some(server.name()), CTL))
            .await
            .unwrap();
        spawn_worker(&tmux, "short", &["true"]);
        drop(client);
        wait_until_gone(&tmux, CTL).await;
        tmux.kill_session("short").unwrap();
    }
    assert!(
        tmux.has_session("worker").unwrap(),
        "workers are left alone"
    );
}

#[tokio::test]
async fn a_second_connection_keeps_the_shared_session() {
    let (server, first) = connected().await;
    let second = within(ControlClient::connect(Some(server.name()), CTL))
        .await
        .unwrap();
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reply = within(second.run("display -p still-here")).await.unwrap();
    assert_eq!(reply, ["still-here"]);
    assert!(server.tmux().has_session(CTL).unwrap());
    drop(second);
    wait_until_gone(&server.tmux(), CTL).await;
}

#[tokio::test]
async fn connect_errors_are_clear() {
    let err = ControlClient::connect(Some("sbtest-x"), "bad:name")
        .await
        .unwrap_err();
    assert!(matches!(err, TmuxError::Invalid(_)), "{err}");
    // A socket path over the kernel's limit: tmux cannot even start.
    let long = format!("sbtest-{}", "x".repeat(120));
    let err = within(ControlClient::connect(Some(&long), "ctl"))
        .await
        .unwrap_err();
    assert!(matches!(err, TmuxError::Command { .. }), "{err}");
    assert!(err.to_string().contains("-C new-session"), "{err}");
}

/// A session killed right as its pane prints its last line and exits keeps
/// that line in its log; one whose pane still runs is killed after the
/// patience, its earlier output logged.
#[tokio::test]
async fn a_drained_kill_keeps_the_end_of_the_pane_s_log() {
    let (server, client) = connected().await;
    let tmux = server.tmux();
    let dir = tempfile::tempdir().unwrap();
    let log_of = |name: &str| crate::tmux::command::PaneLog {
        path: dir.path().join(format!("{name}.log")),
        copier: ["sh", "-c", r#"exec cat >> "$3""#, "copier"]
            .map(String::from)
            .to_vec(),
    };
    // Each killed right as it is made: its pane is still printing. (The
    // patience only guards against a hang: a pane that prints and exits
    // dies well within it, however loaded the machine.)
    let mut names = Vec::new();
    for i in 0..12 {
        let name = format!("quick{i}");
        let script = format!("seq 1 300; echo last-line-{i}");
        let argv: Vec<String> = ["sh", "-c", &script].map(String::from).to_vec();
        tmux.new_labelled_session(
            &name,
            None,
            Some(&log_of(&name)),
            Path::new("/"),
            &[],
            &argv,
            (80, 24),
        )
        .unwrap();
        within(client.kill_session_drained(&name, Duration::from_secs(10)))
            .await
            .unwrap();
        names.push(name);
    }
    let argv: Vec<String> = ["sh", "-c", "echo alive-line; sleep 30"]
        .map(String::from)
        .to_vec();
    tmux.new_labelled_session(
        "slow",
        None,
        Some(&log_of("slow")),
        Path::new("/"),
        &[],
        &argv,
        (80, 24),
    )
    .unwrap();
    names.push("slow".into());
    within(client.kill_session_drained("slow", Duration::from_millis(300)))
        .await
        .unwrap();
    for name in &names {
        assert!(!tmux.has_session(name).unwrap(), "{name} still there");
    }
    for (i, name) in names.iter().enumerate() {
        let want = if name == "slow" {
            "alive-line".to_string()
        } else {
            format!("last-line-{i}")
        };
        // The copy ends when `cat` has written what it was given.
        let log = dir.path().join(format!("{name}.log"));
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            while !std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(&want)
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: String = text
            .chars()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        assert!(
            found.is_ok(),
            "{name}: no {want:?} in its log, which ends {tail:?}"
        );
    }
    // A session that is not there is fine.
    within(client.kill_session_drained("nobody", Duration::from_millis(50)))
        .await
        .unwrap();
}

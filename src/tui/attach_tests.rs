use super::*;

fn inside(path: &str) -> Surroundings {
    Surroundings {
        tmux: Some(format!("{path},4242,0")),
        pane: Some("%3".into()),
        mode: None,
    }
}

fn spot() -> ClientSpot {
    ClientSpot {
        client: "/dev/pts/7".into(),
        window: "@2".into(),
    }
}

fn line(plan: &AttachPlan) -> String {
    let c = match plan {
        AttachPlan::Foreground(c) => c,
        AttachPlan::Beside { command, .. } => command,
    };
    format!("{} {}", c.program, c.args.join(" "))
}

#[test]
fn outside_tmux_takes_the_terminal() {
    let env = Surroundings::default();
    let p = plan(
        attach_argv(Some("switchboard"), "sb-T4", &env),
        &env,
        None,
        Some((3, 3)),
    );
    assert_eq!(line(&p), "tmux -L switchboard attach-session -t =sb-T4");
    assert!(matches!(
        p,
        AttachPlan::Foreground(AttachCommand {
            unset_tmux: false,
            ..
        })
    ));
    let p = plan(attach_argv(None, "sb-T4", &env), &env, None, None);
    assert_eq!(line(&p), "tmux attach-session -t =sb-T4");
}

#[test]
fn inside_tmux_opens_a_popup_on_the_person_s_client() {
    let env = inside("/tmp/tmux-1000/default");
    let p = plan(
        attach_argv(Some("sb test's"), "sb-T4", &env),
        &env,
        Some(&spot()),
        Some((3, 3)),
    );
    assert_eq!(
        line(&p),
        "tmux -S /tmp/tmux-1000/default display-popup -E -w 90% -h 90% -c /dev/pts/7 \
         env -u TMUX tmux -L \"sb test's\" attach-session -t '=sb-T4'"
    );
    let AttachPlan::Beside {
        command,
        how,
        until_closed: true,
    } = &p
    else {
        panic!("{p:?}")
    };
    assert!(!command.unset_tmux, "the popup command unsets it itself");
    assert!(how.contains("C-b d"), "{how}");
}

#[test]
fn workers_on_the_person_s_own_server_attach_through_its_socket() {
    // No socket: the workers are on the server $TMUX names; the nested
    // client must find it with TMUX unset.
    let env = inside("/tmp/tmux-1000/work");
    let p = plan(
        attach_argv(None, "sb-T4", &env),
        &env,
        Some(&spot()),
        Some((3, 2)),
    );
    assert!(
        line(&p).ends_with("env -u TMUX tmux -S /tmp/tmux-1000/work attach-session -t '=sb-T4'"),
        "{}",
        line(&p)
    );
}

#[test]
fn older_tmux_gets_a_window_and_the_person_may_choose() {
    let env = inside("/tmp/tmux-1000/default");
    let p = plan(
        attach_argv(Some("sw"), "sb-T4", &env),
        &env,
        Some(&spot()),
        Some((3, 1)),
    );
    assert_eq!(
        line(&p),
        "tmux -S /tmp/tmux-1000/default new-window -a -t @2 -n worker \
         env -u TMUX tmux -L sw attach-session -t '=sb-T4'"
    );
    let AttachPlan::Beside {
        how,
        until_closed: false,
        ..
    } = &p
    else {
        panic!("{p:?}")
    };
    assert!(how.contains("C-b C-b d"), "{how}");

    let mut chosen = env.clone();
    chosen.mode = Some("window".into());
    let p = plan(
        attach_argv(Some("sw"), "sb-T4", &chosen),
        &chosen,
        Some(&spot()),
        Some((3, 3)),
    );
    assert!(line(&p).contains(" new-window "), "{}", line(&p));
    chosen.mode = Some("suspend".into());
    let p = plan(
        attach_argv(Some("sw"), "sb-T4", &chosen),
        &chosen,
        Some(&spot()),
        Some((3, 3)),
    );
    assert_eq!(line(&p), "tmux -L sw attach-session -t =sb-T4");
    assert!(matches!(
        p,
        AttachPlan::Foreground(AttachCommand {
            unset_tmux: true,
            ..
        })
    ));
}

#[test]
fn inside_tmux_with_no_client_on_screen_nests_here() {
    let env = inside("/tmp/tmux-1000/default");
    let p = plan(
        attach_argv(Some("sw"), "sb-T4", &env),
        &env,
        None,
        Some((3, 3)),
    );
    assert_eq!(line(&p), "tmux -L sw attach-session -t =sb-T4");
    assert!(matches!(
        p,
        AttachPlan::Foreground(AttachCommand {
            unset_tmux: true,
            ..
        })
    ));
}

#[test]
fn the_client_is_one_that_shows_our_window_never_control_mode() {
    let out = "@2 $1\n\
               1 @2 $1 999 client-4242\n\
               0 @5 $1 300 /dev/pts/4\n\
               0 @2 $1 100 /dev/pts/5\n\
               0 @2 $1 200 /dev/pts/6\n\
               0 @9 $7 900 /dev/pts/9\n";
    let spot = pick_client(out).expect("a client");
    assert_eq!(
        (spot.client.as_str(), spot.window.as_str()),
        ("/dev/pts/6", "@2")
    );
    // Nobody looks at our window: someone on our session will do.
    let out = "@2 $1\n1 @2 $1 999 client-1\n0 @5 $1 300 /dev/pts/4\n";
    assert_eq!(
        pick_client(out).map(|s| s.client).as_deref(),
        Some("/dev/pts/4")
    );
    // Only the engine's control client, or clients of other sessions.
    let out = "@2 $1\n1 @2 $1 999 client-1\n0 @9 $7 900 /dev/pts/9\n";
    assert_eq!(pick_client(out), None);
    assert_eq!(pick_client(""), None);
}

#[test]
fn versions_parse() {
    assert_eq!(parse_version("tmux 3.3a\n"), Some((3, 3)));
    assert_eq!(parse_version("tmux 3.2"), Some((3, 2)));
    assert_eq!(parse_version("tmux next-3.6"), Some((3, 6)));
    assert_eq!(parse_version("tmux master"), None);
    assert!(parse_version("tmux 2.9a").is_some_and(|v| v < (3, 2)));
}

#[test]
fn a_session_is_there_by_its_exact_name() {
    let server = crate::tmux::PrivateServer::new("sbtest");
    let argv = vec!["sleep".to_string(), "30".to_string()];
    server
        .tmux()
        .new_session("sb-T10", std::path::Path::new("/"), &[], &argv, (80, 24))
        .expect("a session");
    let outside = Surroundings::default();
    assert!(session_exists(Some(server.name()), "sb-T10", &outside));
    assert!(!session_exists(Some(server.name()), "sb-T1", &outside));
    // From inside tmux too (TMUX names another server).
    assert!(session_exists(
        Some(server.name()),
        "sb-T10",
        &inside("/tmp/tmux-1000/elsewhere")
    ));
}

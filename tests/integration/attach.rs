//! Attach and come back, end to end, driven through real terminals (tmux
//! windows read with `capture-pane`): from a plain terminal (the control
//! room steps aside for `tmux attach`), and from inside tmux, where the
//! worker opens in a popup on the person's own tmux client — with the
//! workers on another tmux server, and on the person's own server, where
//! the engine's control-mode client is a client of the same server.
//! Detaching (`C-b d`) brings the control room back, still live.

use crate::harness::{Sandbox, plan};
use crate::terminal::{Screen, Terminal};

fn tasks() -> String {
    r#"  - { taskId: alpha, title: Paint the fence, group: G1, agent: { type: slow }, outputs: [{ path: alpha.txt }] }
  - { taskId: bravo, title: Mow the lawn, group: G1, agent: { type: quick }, outputs: [{ path: bravo.txt }] }
"#
    .to_string()
}

fn workers_panel(s: &Screen) -> bool {
    s.contains("┌ Workers ") && s.contains("┌ Log ")
}

/// Alpha's session on the screen: its status line names it, its pane shows
/// the sim agent at work.
fn alpha_shown(s: &Screen) -> bool {
    s.contains("[switchboard alpha attempt 1]") && s.contains("[sim] alpha step")
}

/// Run G1 and wait until alpha works and bravo is merged.
fn run_group(term: &Terminal, sb: &Sandbox) {
    term.wait("the control room, idle", |s| {
        workers_panel(s) && s.phase_is("IDLE")
    });
    term.press(&["g"]);
    term.wait("alpha running, bravo merged", |s| {
        s.state_of("alpha").as_deref() == Some("running")
            && s.state_of("bravo").as_deref() == Some("done")
    });
    sb.wait_for("alpha's agent at work", |sb| {
        std::fs::read_to_string(sb.repo.join(".switchboard/logs/alpha.1.log"))
            .is_ok_and(|log| log.contains("[sim] alpha step"))
    });
    term.wait("alpha selected", |s| s.selected() == ["alpha"]);
}

/// Back from the session: the control room answers keys (j selects bravo),
/// and the engine's control-mode client is still on the workers' server.
fn still_live(term: &Terminal, workers: &Terminal) {
    term.press(&["j"]);
    term.wait("bravo selected after coming back", |s| {
        s.selected() == ["bravo"]
    });
    let clients = workers.tmux(&["list-clients", "-F", "#{client_control_mode}"]);
    assert!(
        String::from_utf8_lossy(&clients.stdout)
            .lines()
            .any(|l| l == "1"),
        "the engine's control client is gone"
    );
}

/// Quit, halting the workers; nothing of the sandbox is left.
pub fn quit(term: &Terminal, sb: &Sandbox) {
    term.press(&["q"]);
    term.wait("the quit question", |s| s.contains("Halt them (h)"));
    term.press(&["h"]);
    let screen = term.wait("switchboard exited", |s| s.contains("EXITED"));
    assert!(screen.contains("EXITED 0"), "{}", screen.text());
    sb.wait_for("no process left", |sb| sb.live_processes().is_empty());
}

#[test]
fn outside_tmux_attach_takes_the_terminal_and_detach_gives_it_back() {
    let sb = Sandbox::new(&plan("", &tasks()));
    // A plain terminal: the window's own tmux is not switchboard's to know.
    let term = Terminal::open_with(&sb, "outer", &["-u", "TMUX", "-u", "TMUX_PANE"]);
    run_group(&term, &sb);

    term.press(&["Enter"]);
    let screen = term.wait("alpha's session in the terminal", alpha_shown);
    assert!(!screen.contains("┌ Workers "), "{}", screen.text());
    term.press(&["C-b", "d"]);
    term.wait("the control room back", |s| {
        workers_panel(s) && !s.contains("[switchboard alpha")
    });
    let workers = Terminal::of_server(&sb.tmux);
    still_live(&term, &workers);

    // bravo merged and its session closed: Tab shows its log, D its detail.
    term.press(&["Tab"]);
    term.wait("bravo's log in the Log panel", |s| {
        s.contains("┌ Log — bravo: pane gone, bravo.1.log ") && s.contains("│[sim] bravo done")
    });
    term.press(&["D"]);
    let screen = term.wait("bravo's detail", |s| {
        s.contains("bravo — detail") && s.contains(".switchboard/logs/bravo.1.log")
    });
    assert!(
        screen.contains("merged into switchboard/integration"),
        "{}",
        screen.text()
    );
    assert!(screen.contains("│ [sim] bravo done"), "{}", screen.text());
    term.press(&["Escape"]);
    term.wait("the detail closed", |s| !s.contains("bravo — detail"));
    quit(&term, &sb);
}

/// The control room in a window of the person's tmux server `user`, shown
/// by a client of it that runs in `term`'s window (what a terminal
/// emulator would do), with the workers on `workers_socket`.
pub fn inside_tmux(sb: &Sandbox, workers_socket: &str) -> (Terminal, Terminal) {
    let socket = format!("SWITCHBOARD_TMUX_SOCKET={workers_socket}");
    let user = Terminal::open_with(sb, "user", &[&socket]);
    // Escape goes through the client as a key of its own, at once.
    user.tmux(&["set-option", "-g", "escape-time", "0"]);
    let term = Terminal::open_running(
        sb,
        "term",
        &[
            "sh",
            "-c",
            r#"unset TMUX; exec tmux -L "$0" attach-session -t ui"#,
            user.server(),
        ],
    );
    (user, term)
}

/// Enter opens a popup over the control room, C-b d closes it.
fn popup_and_back(term: &Terminal, workers: &Terminal) {
    term.press(&["Enter"]);
    let screen = term.wait("alpha's session in a popup", alpha_shown);
    // The control room is still drawn around the popup.
    assert!(screen.contains("switchboard │"), "{}", screen.text());
    let clients = workers.tmux(&[
        "list-clients",
        "-F",
        "#{client_control_mode} #{session_name}",
    ]);
    let clients = String::from_utf8_lossy(&clients.stdout).into_owned();
    assert!(
        clients
            .lines()
            .any(|l| l.starts_with("0 ") && l.ends_with("-alpha")),
        "no client on alpha's session: {clients}"
    );
    term.press(&["C-b", "d"]);
    // The footer is above the person's tmux status line.
    term.wait("the popup closed", |s| {
        workers_panel(s)
            && !s.contains("[switchboard alpha")
            && s.contains(" back from alpha's session │")
    });
}

#[test]
fn inside_tmux_a_popup_shows_a_worker_of_another_server() {
    let sb = Sandbox::new(&plan("", &tasks()));
    let (_user, term) = inside_tmux(&sb, &sb.tmux);
    run_group(&term, &sb);
    let workers = Terminal::of_server(&sb.tmux);
    popup_and_back(&term, &workers);
    still_live(&term, &workers);
    quit(&term, &sb);
}

#[test]
fn inside_tmux_a_popup_shows_a_worker_of_the_person_s_own_server() {
    let sb = Sandbox::new(&plan("", &tasks()));
    let user_server = format!("{}-user", sb.tmux);
    let (user, term) = inside_tmux(&sb, &user_server);
    run_group(&term, &sb);
    popup_and_back(&term, &user);
    still_live(&term, &user);
    quit(&term, &sb);
}

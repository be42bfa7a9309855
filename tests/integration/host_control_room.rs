//! The control room over a namespace host (issue 14, section 6): the Host
//! column and the hosts strip, attaching to the host's worker over ssh and
//! coming back. Skipped, with the reason, where namespaces cannot be made.

use crate::harness::Sandbox;
use crate::host_workers::{assert_hosts_clean, install, lab};
use crate::terminal::{Screen, Terminal};
use std::path::Path;

/// T1's row of the Workers table.
fn row<'a>(s: &'a Screen, id: &str) -> &'a str {
    s.plain
        .iter()
        .find(|l| l.starts_with('│') && l.contains(&format!(" {id} ")))
        .map_or("", String::as_str)
}

#[test]
fn the_control_room_shows_hosts_and_attaches_to_a_host_s_worker() {
    let Some(lab) = lab(&["cra"]) else {
        return;
    };
    install(&lab);
    // Only the host has the label the profile asks for.
    let host = lab
        .host_yaml("cra")
        .replace(" }\n", ", labels: [remote], maxParallel: 3 }\n");
    let yaml = format!(
        "version: 1\nsettings:\n  maxParallel: 2\n  \
         heartbeat: {{ intervalMs: 200 }}\n  halt: {{ graceMs: 500 }}\n  \
         hosts:\n{host}\
         agents:\n  sim: {{ command: \"switchboard sim-agent --duration 120\", capabilities: [remote] }}\n\
         groups:\n  - id: G1\n\
         tasks:\n  - {{ taskId: T1, title: Far away, group: G1, agent: {{ type: sim }}, outputs: [ {{ path: t1.txt }} ] }}\n"
    );
    let sb = Sandbox::new(&yaml);
    // A plain terminal: attach takes it over, as outside tmux.
    let term = Terminal::open_with(&sb, "outer", &["-u", "TMUX", "-u", "TMUX_PANE"]);
    term.wait("the control room with its hosts strip", |s| {
        s.phase_is("IDLE") && s.contains(" hosts local 0/2 · cra 0/3")
    });
    term.press(&["g"]);
    let screen = term.wait("T1 running on cra", |s| {
        s.state_of("T1").as_deref() == Some("running") && s.contains(" hosts local 0/2 · cra 1/3")
    });
    assert!(row(&screen, "T1").contains(" cra "), "{}", screen.text());
    assert!(screen.contains(" Host "), "{}", screen.text());

    // Enter: ssh -t to the host's tmux, in this terminal; C-b d comes back.
    term.press(&["Enter"]);
    let screen = term.wait("T1's session on cra in the terminal", |s| {
        s.contains("[sim] T1") && !s.contains("┌ Workers ")
    });
    assert!(!screen.contains("cannot attach"), "{}", screen.text());
    term.press(&["C-b", "d"]);
    term.wait("the control room back", |s| {
        s.contains("┌ Workers ") && s.state_of("T1").as_deref() == Some("running")
    });

    // Quit, halting T1 there; nothing is left here or on the host.
    term.press(&["q"]);
    term.wait("the quit question", |s| s.contains("Halt them (h)"));
    term.press(&["h"]);
    let screen = term.wait("switchboard exited", |s| s.contains("EXITED"));
    assert!(screen.contains("EXITED 0"), "{}", screen.text());
    sb.wait_for("no process left", |sb| sb.live_processes().is_empty());
    // A worker stopped over ssh takes a moment to go on the host.
    let clone = lab.host("cra").workdir.clone();
    sb.wait_for("no process left in cra's clone", |_| {
        processes_in(&clone).is_empty()
    });
    assert_hosts_clean(&sb, &lab, "after the control room");
}

/// Processes whose working directory is under `dir`.
fn processes_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            cwd.starts_with(dir).then(|| cwd.display().to_string())
        })
        .collect()
}

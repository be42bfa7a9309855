//! The control room over a namespace host (issue 14, section 6): the Host
//! column and the hosts strip, attaching to the host's worker over ssh (the
//! terminal outside tmux, a popup inside) and coming back. Skipped, with the reason, where namespaces cannot be made.

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

/// A plan of one long task that only `name` may run (its label), over a
/// lab with that one host.
fn one_task_on(name: &str) -> Option<(crate::netns::Lab, Sandbox)> {
    let lab = lab(&[name])?;
    install(&lab);
    let host = lab
        .host_yaml(name)
        .replace(" }\n", ", labels: [remote], maxParallel: 3 }\n");
    let yaml = format!(
        "version: 1\nsettings:\n  maxParallel: 2\n  \
         heartbeat: {{ intervalMs: 200 }}\n  halt: {{ graceMs: 500 }}\n  \
         hosts:\n{host}\
         agents:\n  sim: {{ command: \"switchboard sim-agent --duration 120\", capabilities: [remote] }}\n\
         groups:\n  - id: G1\n\
         tasks:\n  - {{ taskId: T1, title: Far away, group: G1, agent: {{ type: sim }}, outputs: [ {{ path: t1.txt }} ] }}\n"
    );
    Some((lab, Sandbox::new(&yaml)))
}

/// Run G1 in the control room on `term`: T1 runs on `name`, as its row and
/// the hosts strip say.
fn run_on_host(term: &Terminal, name: &str) {
    term.wait("the control room with its hosts strip", |s| {
        s.phase_is("IDLE") && s.contains(&format!(" hosts local 0/2 · {name} 0/3"))
    });
    term.press(&["g"]);
    let screen = term.wait("T1 running on the host", |s| {
        s.state_of("T1").as_deref() == Some("running")
            && s.contains(&format!(" hosts local 0/2 · {name} 1/3"))
    });
    assert!(
        row(&screen, "T1").contains(&format!(" {name} ")),
        "{}",
        screen.text()
    );
    assert!(screen.contains(" Host "), "{}", screen.text());
}

/// Quit, halting T1 there; nothing is left here or on the host.
fn quit_and_clean(term: &Terminal, sb: &Sandbox, lab: &crate::netns::Lab, name: &str) {
    crate::attach::quit(term, sb);
    // A worker stopped over ssh takes a moment to go on the host.
    let clone = lab.host(name).workdir.clone();
    sb.wait_for("no process left in the host's clone", |_| {
        processes_in(&clone).is_empty()
    });
    assert_hosts_clean(sb, lab, "after the control room");
}

#[test]
fn outside_tmux_attach_to_a_host_s_worker_takes_the_terminal_over_ssh() {
    let Some((lab, sb)) = one_task_on("cra") else {
        return;
    };
    // A plain terminal: attach takes it over, as outside tmux.
    let term = Terminal::open_with(&sb, "outer", &["-u", "TMUX", "-u", "TMUX_PANE"]);
    run_on_host(&term, "cra");
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
    quit_and_clean(&term, &sb, &lab, "cra");
}

#[test]
fn inside_tmux_a_popup_shows_a_host_s_worker() {
    let Some((lab, sb)) = one_task_on("crb") else {
        return;
    };
    let (_user, term) = crate::attach::inside_tmux(&sb, &sb.tmux);
    run_on_host(&term, "crb");
    term.press(&["Enter"]);
    // The worker's own session is told by its status line, which the
    // control room never draws ("[sim] T1" is in its table too).
    let screen = term.wait("T1's session on crb in a popup", |s| {
        s.contains("[switchboard T1 attempt 1]")
    });
    // The control room is still drawn around the popup.
    assert!(screen.contains("switchboard │"), "{}", screen.text());
    term.press(&["C-b", "d"]);
    term.wait("the popup closed", |s| {
        !s.contains("[switchboard T1 attempt 1]") && s.contains(" back from T1's session │")
    });
    quit_and_clean(&term, &sb, &lab, "crb");
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

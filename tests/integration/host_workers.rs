//! Workers on hosts (issue 14): tasks spread over two namespace hosts
//! (netns.rs) and this machine, each host's work pushed there, run in its
//! own tmux, heard through the forwarded socket, fetched back and merged
//! here; a halt across hosts; a partition. Skipped, with the reason, where
//! namespaces cannot be made.

use crate::harness::{Sandbox, bin, git, stderr};
use crate::netns::{Lab, control_sockets};
use std::path::Path;
use std::process::Output;

pub fn lab(names: &[&str]) -> Option<Lab> {
    match Lab::new(names) {
        Ok(lab) => Some(lab),
        Err(why) => {
            eprintln!("skipped: cannot make namespace hosts here: {why}");
            None
        }
    }
}

/// This build where `hosts install` would put it on each lab host.
pub fn install(lab: &Lab) {
    for host in &lab.hosts {
        let dir = host.home.join(".local/bin");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(bin(), dir.join("switchboard")).unwrap();
    }
}

/// A plan of `tasks` sim tasks in G1 (each writes its own file), over the
/// lab's hosts; `settings` adds to the settings.
fn plan(lab: &Lab, settings: &str, agent: &str, tasks: usize) -> String {
    let hosts: String = lab.hosts.iter().map(|h| lab.host_yaml(&h.name)).collect();
    let tasks: String = (1..=tasks)
        .map(|i| {
            format!(
                "  - {{ taskId: T{i}, title: Task {i}, group: G1, agent: {{ type: sim }},\n      \
                 outputs: [ {{ path: t{i}.txt }} ] }}\n"
            )
        })
        .collect();
    format!(
        "version: 1\nsettings:\n  maxParallel: 2\n  restart: {{ maxRestarts: 2, backoffMs: 100 }}\n  \
         maxFallbacks: 0\n  heartbeat: {{ intervalMs: 200 }}\n  halt: {{ graceMs: 500 }}\n{settings}  \
         hosts:\n{hosts}\
         agents:\n  sim: {{ command: \"{agent}\" }}\n\
         groups:\n  - id: G1\n\
         tasks:\n{tasks}"
    )
}

fn run(sb: &Sandbox, args: &[&str]) -> Output {
    sb.run(args)
}

/// The hosts each task's attempts were spawned on, from the journal.
fn spawned_on(sb: &Sandbox) -> Vec<(String, Option<String>)> {
    sb.events("spawned")
        .iter()
        .map(|e| {
            (
                e["task"].as_str().unwrap_or_default().to_string(),
                e["host"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// Nothing of the run on the hosts: no tmux server of theirs, no
/// forwarded socket, no ssh master, no process of `host-worker`.
pub fn assert_hosts_clean(sb: &Sandbox, lab: &Lab, what: &str) {
    let names: Vec<&str> = lab.hosts.iter().map(|h| h.name.as_str()).collect();
    let uid = nix::unistd::getuid();
    let tmux_dir = format!("/tmp/tmux-{uid}");
    let servers: Vec<String> = std::fs::read_dir(&tmux_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("sb-") && names.iter().any(|h| n.ends_with(&format!("-{h}"))))
        .collect();
    assert!(
        servers.is_empty(),
        "{what}: host tmux servers left: {servers:?}"
    );
    let sockets: Vec<String> = std::fs::read_dir("/tmp")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with("switchboard-")
                && names.iter().any(|h| n.ends_with(&format!("-{h}.sock")))
        })
        .collect();
    assert!(
        sockets.is_empty(),
        "{what}: forwarded sockets left: {sockets:?}"
    );
    let masters = control_sockets(&sb.runtime);
    assert!(masters.is_empty(), "{what}: ssh masters left: {masters:?}");
    let workdirs: Vec<String> = lab
        .hosts
        .iter()
        .map(|h| h.workdir.display().to_string())
        .collect();
    let procs: Vec<String> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            let cwd = cwd.display().to_string();
            workdirs
                .iter()
                .any(|w| cwd.starts_with(w.as_str()))
                .then(|| {
                    format!(
                        "{cwd}: {}",
                        String::from_utf8_lossy(&cmd).replace('\0', " ")
                    )
                })
        })
        .collect();
    assert!(
        procs.is_empty(),
        "{what}: processes left in the hosts' clones: {procs:?}"
    );
}

fn files_on(repo: &Path, rev: &str) -> Vec<String> {
    git(repo, &["ls-tree", "-r", "--name-only", rev])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_plan_spread_over_two_hosts_and_this_machine_merges_everything() {
    let Some(lab) = lab(&["spa", "spb"]) else {
        return;
    };
    install(&lab);
    let sb = Sandbox::new(&plan(&lab, "", "switchboard sim-agent --duration 1", 6));
    let out = run(&sb, &["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for i in 1..=6 {
        assert_eq!(
            sb.state_of(&format!("T{i}")).as_deref(),
            Some("done"),
            "T{i}"
        );
    }
    let on = spawned_on(&sb);
    assert_eq!(
        on.len(),
        6,
        "one attempt each: {on:?}\n{:?}",
        sb.events("state")
            .iter()
            .filter(|e| e["state"] == "failed" || e["state"] == "pending")
            .collect::<Vec<_>>()
    );
    for host in [None, Some("spa"), Some("spb")] {
        assert_eq!(
            on.iter().filter(|(_, h)| h.as_deref() == host).count(),
            2,
            "two tasks on {host:?}: {on:?}\n{:?}",
            sb.events("warning")
        );
    }
    // Every task's output reached the integration branch, each merged once.
    let files = files_on(&sb.repo, "switchboard/integration");
    for i in 1..=6 {
        assert!(files.contains(&format!("t{i}.txt")), "t{i}.txt: {files:?}");
    }
    assert_eq!(sb.events("merged").len(), 6);
    // The hosts' clones hold the work where it was done.
    let remote_branches = |h: &str| {
        git(
            &lab.host(h).workdir,
            &["branch", "--format=%(refname:short)"],
        )
    };
    assert!(remote_branches("spa").contains("switchboard/integration"));
    // Each attempt's pane log came home with its work.
    for (task, _) in &on {
        let log = sb.repo.join(format!(".switchboard/logs/{task}.1.log"));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(text.contains("[sim]"), "{}: {text:?}", log.display());
    }
    sb.assert_nothing_left_now("after the run");
    assert_hosts_clean(&sb, &lab, "after the run");
}

/// The hosts every live attempt of the journal runs on, by task.
fn running_on(sb: &Sandbox) -> Vec<(String, Option<String>)> {
    let mut on = spawned_on(sb);
    on.retain(|(task, _)| sb.state_of(task).as_deref() == Some("running"));
    on
}

#[test]
fn a_halt_reaches_every_host_and_reports_acks_per_host() {
    let Some(lab) = lab(&["hla", "hlb"]) else {
        return;
    };
    install(&lab);
    let sb = Sandbox::new(&plan(&lab, "", "switchboard sim-agent --duration 60", 6));
    let child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("six running", |s| running_on(s).len() == 6);
    let status = sb.run(&["status"]);
    let said = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        said.contains("hosts: local 2 workers; hla 2/2 workers") && said.contains(" on hlb\n"),
        "{said}"
    );
    // A running host task's detail shows its log, read on the host.
    let (remote, _) = running_on(&sb)
        .into_iter()
        .find(|(_, h)| h.is_some())
        .expect("a task on a host");
    let detail = sb
        .engine(&switchboard::engine::command::Command::TaskDetail {
            task: remote.clone(),
            log_lines: 50,
        })
        .expect("the engine answers");
    let log = detail.to_string();
    assert!(log.contains("[sim]"), "{remote}'s detail: {log}");
    let halt = sb.run(&["halt", "--json"]);
    assert_eq!(halt.status.code(), Some(0), "{}", stderr(&halt));
    let report: serde_json::Value = serde_json::from_slice(&halt.stdout).expect("JSON");
    assert_eq!(report["total_workers"], 6, "{report}");
    assert_eq!(report["all_acked"], true, "{report}");
    let workers = report["workers"].as_array().expect("workers");
    for host in [None, Some("hla"), Some("hlb")] {
        let acked = workers
            .iter()
            .filter(|w| w["host"].as_str() == host && w["acked"] == true)
            .count();
        assert_eq!(acked, 2, "acks on {host:?}: {report}");
    }
    // In words: a line per host.
    let text = crate::harness::wait_with_guard(child, std::time::Duration::from_secs(60));
    assert_eq!(text.status.code(), Some(130), "{}", stderr(&text));
    sb.assert_nothing_left_now("after the halt");
    assert_hosts_clean(&sb, &lab, "after the halt");
}

/// A partition: the host's link goes down for longer than `deadAfterMs`;
/// its worker goes DEAD and the task runs again on the other host; the
/// link comes back, the old worker is stopped there, and the task is
/// merged once, from the attempt that ran on the other host.
#[test]
fn a_partitioned_host_s_task_reruns_elsewhere_and_merges_once() {
    let Some(lab) = lab(&["pta", "ptb"]) else {
        return;
    };
    install(&lab);
    // Only the hosts carry the label the profile asks for: never local.
    let hosts: String = lab
        .hosts
        .iter()
        .map(|h| {
            lab.host_yaml(&h.name)
                .replace(" }\n", ", labels: [remote] }\n")
        })
        .collect();
    let yaml = format!(
        "version: 1\nsettings:\n  maxParallel: 2\n  restart: {{ maxRestarts: 2, backoffMs: 100 }}\n  \
         maxFallbacks: 0\n  heartbeat: {{ intervalMs: 200, deadAfterMs: 2000 }}\n  halt: {{ graceMs: 500 }}\n  \
         hosts:\n{hosts}\
         agents:\n  sim: {{ command: \"switchboard sim-agent --duration 8\", capabilities: [remote] }}\n\
         groups:\n  - id: G1\n\
         tasks:\n  - {{ taskId: T1, title: Task 1, group: G1, agent: {{ type: sim }}, outputs: [ {{ path: t1.txt }} ] }}\n"
    );
    let sb = Sandbox::new(&yaml);
    let child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("T1 running on a host", |s| running_on(s).len() == 1);
    let first = spawned_on(&sb)[0].1.clone().expect("on a host");
    let other = if first == "pta" { "ptb" } else { "pta" };
    let cut = lab.host(&first);
    cut.set_link(false);
    sb.wait_for("T1 started again on the other host", |s| {
        spawned_on(s).len() == 2
    });
    assert_eq!(spawned_on(&sb)[1].1.as_deref(), Some(other));
    let unreachable = format!("host {first} is unreachable");
    sb.wait_for("the host known unreachable", |s| {
        s.events("warning").iter().any(|w| {
            w["message"]
                .as_str()
                .is_some_and(|m| m.contains(&unreachable))
        })
    });
    cut.set_link(true);
    let out = crate::harness::wait_with_guard(child, std::time::Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let merged = sb.events("merged");
    assert_eq!(merged.len(), 1, "{merged:?}");
    assert_eq!(merged[0]["attempt"], 2, "{merged:?}");
    // Back, it was told to stop its old worker.
    let said: Vec<String> = sb
        .events("warning")
        .iter()
        .filter_map(|w| w["message"].as_str().map(str::to_string))
        .collect();
    assert!(
        said.iter()
            .any(|w| w.contains(&format!("host {first} answers again"))),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|w| w.starts_with(&format!("host {first}: stopped "))),
        "{said:?}"
    );
    let dead: Vec<_> = sb
        .events("light")
        .into_iter()
        .filter(|l| l["light"] == "DEAD")
        .collect();
    assert!(!dead.is_empty());
    // Judged by its heartbeats' clocks: its pane still lived on the host.
    assert!(
        dead.iter()
            .all(|l| !l["reason"].as_str().unwrap_or_default().contains("pane")),
        "{dead:?}"
    );
    assert!(files_on(&sb.repo, "switchboard/integration").contains(&"t1.txt".to_string()));
    sb.assert_nothing_left_now("after the run");
    assert_hosts_clean(&sb, &lab, "after the run");
}

/// A plan of one six-second task that only host `name` may run (the
/// label its profile asks for).
fn one_task_on(lab: &Lab, name: &str) -> String {
    let hosts = lab
        .host_yaml(name)
        .replace(" }\n", ", labels: [remote] }\n");
    format!(
        "version: 1\nsettings:\n  maxParallel: 1\n  restart: {{ maxRestarts: 1, backoffMs: 100 }}\n  \
         maxFallbacks: 0\n  heartbeat: {{ intervalMs: 200 }}\n  halt: {{ graceMs: 500 }}\n  \
         hosts:\n{hosts}\
         agents:\n  sim: {{ command: \"switchboard sim-agent --duration 6\", capabilities: [remote] }}\n\
         groups:\n  - id: G1\n\
         tasks:\n  - {{ taskId: T1, title: Task 1, group: G1, agent: {{ type: sim }}, outputs: [ {{ path: t1.txt }} ] }}\n"
    )
}

/// The next engine (headless) takes up T1's worker left on `host`: no
/// second spawn, one adoption, one merge of attempt 1, nothing left.
fn next_engine_re_adopts(sb: &Sandbox, lab: &Lab, host: &str) {
    let out = run(sb, &["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        spawned_on(sb),
        vec![("T1".to_string(), Some(host.to_string()))],
        "adopted on its host, not started again"
    );
    let adopted = sb.events("adopted");
    assert_eq!(adopted.len(), 1, "{adopted:?}");
    let merged = sb.events("merged");
    assert_eq!(merged.len(), 1, "{merged:?}");
    assert_eq!(merged[0]["attempt"], 1, "{merged:?}");
    assert!(files_on(&sb.repo, "switchboard/integration").contains(&"t1.txt".to_string()));
    sb.assert_nothing_left_now("after the second engine");
    assert_hosts_clean(sb, lab, "after the second engine");
}

/// The engine dies (SIGKILL) while its task runs on a host: the worker
/// lives on in the host's tmux, the next engine re-adopts it there (no
/// second spawn), fetches its branch from that host and merges it once.
#[test]
fn a_host_s_worker_outlives_a_killed_engine_and_is_re_adopted() {
    let Some(lab) = lab(&["rda"]) else {
        return;
    };
    install(&lab);
    let sb = Sandbox::new(&one_task_on(&lab, "rda"));
    let mut child = sb.spawn(&["--batch-group", "G1"]);
    sb.wait_for("T1 running on the host", |s| running_on(s).len() == 1);
    child.kill().unwrap();
    let _ = child.wait();

    next_engine_re_adopts(&sb, &lab, "rda");
}

/// Quit the control room leaving the workers running: the host's worker
/// stays up in the host's tmux (only the engine's control session and
/// link go), and the next engine re-adopts it there and merges it once.
#[test]
fn workers_left_running_on_a_host_are_re_adopted_by_the_next_engine() {
    use switchboard::engine::command::Command as C;
    let Some(lab) = lab(&["lra"]) else {
        return;
    };
    install(&lab);
    let sb = Sandbox::new(&one_task_on(&lab, "lra"));
    let term = crate::terminal::Terminal::open(&sb);
    term.wait("the control room, idle", |s| s.phase_is("IDLE"));
    sb.engine(&C::RunGroup { group: "G1".into() })
        .expect("the engine answers");
    sb.wait_for("T1 running on the host", |s| running_on(s).len() == 1);
    term.press(&["q"]);
    term.wait("the quit question", |s| {
        s.contains("Leave workers running (l)")
    });
    term.press(&["l"]);
    let screen = term.wait("switchboard exited", |s| s.contains("EXITED 0"));
    assert!(
        screen.contains("1 worker left running"),
        "{}",
        screen.text()
    );
    // Still there, in the host's own tmux server.
    let session = sb.events("spawned")[0]["session"]
        .as_str()
        .expect("session")
        .to_string();
    let server = format!("sb-{}-lra", session.split('-').nth(1).expect("key"));
    // The namespaces share this filesystem: the host's tmux socket is here.
    let alive = std::process::Command::new("tmux")
        .args(["-L", &server, "has-session", "-t", &session])
        .status()
        .expect("tmux");
    assert!(
        alive.success(),
        "{session} on {server} did not outlive the quit"
    );
    drop(term);

    next_engine_re_adopts(&sb, &lab, "lra");
}

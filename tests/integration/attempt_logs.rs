//! Every attempt's pane output is kept in `.switchboard/logs/<TASK>.<n>.log`,
//! after its task merged and its tmux session closed.

use crate::harness::{Sandbox, stderr};

const PLAN: &str = r#"version: 1
settings:
  maxParallel: 2
  restart:
    maxRestarts: 1
    backoffMs: 100
  heartbeat:
    intervalMs: 200
agents:
  quick:
    command: "switchboard sim-agent --duration 0.5"
  second-time:
    command: "if [ -e ../tried-$SWITCHBOARD_TASK ]; then switchboard sim-agent --duration 0.3; else touch ../tried-$SWITCHBOARD_TASK; printf '\\033[31mfirst attempt\\033[0m fails\\n'; exit 3; fi"
groups:
  - id: G1
tasks:
  - { taskId: alpha, title: Paint the fence, group: G1, agent: { type: quick }, outputs: [{ path: alpha.txt }] }
  - { taskId: beta.v2, title: Mow the lawn, group: G1, agent: { type: second-time }, outputs: [{ path: beta.txt }] }
"#;

fn log(sb: &Sandbox, name: &str) -> String {
    let path = sb.repo.join(".switchboard/logs").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn each_attempt_s_output_outlives_its_session() {
    let sb = Sandbox::new(PLAN);
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sb.state_of("alpha").as_deref(), Some("done"));
    assert_eq!(sb.state_of("beta.v2").as_deref(), Some("done"));
    // Merged and closed: no session is left to capture.
    assert!(sb.tmux_sessions().is_empty(), "{:?}", sb.tmux_sessions());

    let alpha = log(&sb, "alpha.1.log");
    // From its first line to its last.
    assert!(alpha.contains("[sim] alpha: Paint the fence"), "{alpha}");
    assert!(alpha.contains("[sim] alpha done"), "{alpha}");
    // Its shim's last word too: the session was closed after the pane's
    // output reached the log.
    assert!(alpha.contains("agent exited: exit code 0"), "{alpha}");

    // A restarted task: one log per attempt, its id made safe as its
    // session's name is (`.` → `_`).
    let first = log(&sb, "beta_v2.1.log");
    assert!(first.contains("first attempt"), "{first}");
    assert!(!first.contains("[sim]"), "{first}");
    let second = log(&sb, "beta_v2.2.log");
    assert!(second.contains("[sim] beta.v2 done"), "{second}");
    assert!(!second.contains("first attempt"), "{second}");

    // `clean` keeps them (they are history) unless asked.
    let out = sb.run(&["clean"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(sb.repo.join(".switchboard/logs/alpha.1.log").exists());
    let out = sb.run(&["clean", "--logs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("3 attempt log(s) removed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let left: Vec<_> = std::fs::read_dir(sb.repo.join(".switchboard/logs"))
        .expect("logs dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("switchboard.log"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

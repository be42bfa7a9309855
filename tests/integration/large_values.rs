//! Plans with large values start: a title, env values and many long output
//! paths reach the agent through the shim's launch file, not the tmux
//! command line (which tmux caps at about 16 KB); and what the validator
//! passes, up to its limits, starts.

use crate::harness::{Sandbox, stderr};

const KIB: usize = 1024;
/// The validator's limits (plan::validate::sizes).
const MAX_VALUE: usize = 100 * KIB;

/// A one-task plan whose agent first checks it got `checks` (shell tests),
/// then does the work.
fn plan(title: &str, env: &[(String, String)], checks: &str, outputs: &[String]) -> String {
    let env: String = env
        .iter()
        .map(|(k, v)| format!("      {k}: \"{v}\"\n"))
        .collect();
    let outputs: String = outputs
        .iter()
        .map(|o| format!("      - {{ path: \"{o}\" }}\n"))
        .collect();
    format!(
        r#"version: 1
settings:
  maxParallel: 1
  restart: {{ maxRestarts: 0, backoffMs: 100 }}
  maxFallbacks: 0
  heartbeat: {{ intervalMs: 200 }}
agents:
  big:
    command: '{checks} && switchboard sim-agent --duration 0.2'
    env:
{env}groups:
  - id: G1
tasks:
  - taskId: T1
    title: "{title}"
    group: G1
    agent: {{ type: big }}
    outputs:
{outputs}    validation: [{{ type: file_exists }}, {{ type: commit }}]
"#
    )
}

fn runs_to_done(sb: &Sandbox, outputs: &[String]) {
    let out = sb.run(&["--validate-only"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the run failed:\n{}",
        stderr(&out)
    );
    assert_eq!(sb.state_of("T1").as_deref(), Some("done"));
    assert_eq!(sb.events("spawned").len(), 1, "started once");
    let files = sb.integration_files();
    for o in outputs {
        assert!(files.contains(o), "{o} missing from integration");
    }
    let launch = sb.repo.join(".switchboard/launch");
    let left: Vec<_> = std::fs::read_dir(&launch)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "launch files left: {left:?}");
    sb.assert_no_process_left("after the run");
}

/// The issue's repro: each of these alone made `tmux new-session` fail
/// with "command too long", and every attempt burn.
#[test]
fn a_task_with_a_20_kb_title_and_env_value_and_100_long_outputs_runs_to_done() {
    let size = 20 * KIB;
    let title = "t".repeat(size);
    let env = [("BIG".to_string(), "v".repeat(size))];
    // 100 outputs of 200 characters each: 20 KB of paths.
    let outputs: Vec<String> = (0..100)
        .map(|i| format!("out/{}/{i:03}.txt", "d".repeat(188)))
        .collect();
    assert!(outputs.iter().all(|o| o.len() == 200));
    let checks =
        format!(r#"test "${{#BIG}}" -eq {size} && test "${{#SWITCHBOARD_TITLE}}" -eq {size}"#);
    let sb = Sandbox::new(&plan(&title, &env, &checks, &outputs));
    runs_to_done(&sb, &outputs);
}

/// At the validator's limits: a 100 KiB title, and ten env values that
/// bring the profile near its 1 MiB.
#[test]
fn a_task_at_the_validators_limits_runs_to_done() {
    let title = "t".repeat(MAX_VALUE);
    let value = "v".repeat(MAX_VALUE - 4);
    let env: Vec<(String, String)> = (0..10).map(|i| (format!("E{i}"), value.clone())).collect();
    let checks = format!(
        r#"test "${{#E9}}" -eq {} && test "${{#SWITCHBOARD_TITLE}}" -eq {MAX_VALUE}"#,
        MAX_VALUE - 4
    );
    let outputs = ["big.txt".to_string()];
    let sb = Sandbox::new(&plan(&title, &env, &checks, &outputs));
    runs_to_done(&sb, &outputs);
}

#[test]
fn values_over_the_limits_are_refused_by_name_before_anything_starts() {
    let title = "t".repeat(MAX_VALUE + 1);
    let env = [("BIG".to_string(), "v".repeat(MAX_VALUE))];
    let sb = Sandbox::new(&plan(&title, &env, "true", &["x".into()]));
    let out = sb.run(&["--validate-only"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("task T1: the title is 102401 bytes"), "{err}");
    assert!(
        err.contains("agent profile 'big': env BIG is 102404 bytes"),
        "{err}"
    );
    let out = sb.run(&["--batch-group", "G1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(sb.events("spawned").is_empty());
}

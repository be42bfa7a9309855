//! The real codex CLI under switchboard, end to end, against the scripted
//! Responses API server (`scripted_responses.rs`) instead of OpenAI: a plan
//! whose profile says `preset: codex`, run headless (`--batch-group`), once
//! interactive and once `mode: headless` (`codex exec --json`). codex writes
//! the task's file and commits it with `exec_command`; its `notify` program
//! (`switchboard hook codex`, set by the preset) says the turn is over;
//! switchboard validates, merges and closes the session with nobody at the
//! keyboard, and nothing of codex is left running. The same hook reads the
//! turn's tokens from codex's rollout: the journal's usage is what the
//! server sent.
//!
//! codex's HOME is the test's own: `~/.codex/auth.json` with a dummy API key
//! (without it the sign-in menu comes first), and `config.toml` with the
//! scripted provider and the task's worktree trusted.
//!
//! The CLI comes from `SWITCHBOARD_TEST_CODEX`, else from where `.ci/run`
//! installs it (`${XDG_CACHE_HOME:-$HOME/.cache}/switchboard-ci/npm`).
//! Without it these tests say they are skipped and pass.

use crate::agent_cli::{self, say};
use crate::harness::{Sandbox, stderr, wait_with_guard};
use crate::scripted_responses::{INPUT_TOKENS, OUTPUT_TOKENS, Script, ScriptedResponses};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A hang guard for one run, not a timing assertion.
const RUN_LIMIT: Duration = Duration::from_secs(240);

/// The codex CLI to run, or None (the reason printed) when there is none.
fn codex() -> Option<PathBuf> {
    agent_cli::find("codex", "codex", "@openai/codex", "SWITCHBOARD_TEST_CODEX")
}

const PLAN: &str = r#"version: 1
settings:
  maxParallel: 1
  restart:
    maxRestarts: 0
    backoffMs: 100
  maxFallbacks: 0
  heartbeat:
    intervalMs: 200
  halt:
    graceMs: 500
agents:
  codex:
    preset: codex
  codex-exec:
    preset: codex
    mode: headless
groups:
  - id: G1
tasks:
  - taskId: A
    title: "Hello from codex"
    group: G1
    agent: { type: AGENT }
    outputs: [{ path: "hello.txt" }]
    validation:
      - type: "file_exists"
      - type: "commit"
"#;

/// codex's HOME: signed in with a dummy key, the scripted provider, the
/// task's worktree trusted. Everything codex writes stays in it.
fn codex_home(dir: &Path, server: &ScriptedResponses, worktree: &Path) -> PathBuf {
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".codex")).unwrap();
    std::fs::write(
        home.join(".codex/auth.json"),
        r#"{ "auth_mode": "apikey", "OPENAI_API_KEY": "sk-switchboard-e2e-dummy" }"#,
    )
    .unwrap();
    let config = format!(
        "{}\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
        server.provider_toml(),
        worktree.display()
    );
    std::fs::write(home.join(".codex/config.toml"), config).unwrap();
    home
}

/// Live processes whose environment names `home` as HOME: codex and
/// anything it started (its app-server daemon would be one).
fn processes_of(home: &Path) -> Vec<String> {
    let needle = format!("HOME={}", home.display());
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()) {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            if !zombie {
                found.push(format!(
                    "{}: {}",
                    e.file_name().to_string_lossy(),
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ));
            }
        }
    }
    found
}

/// Unix sockets under `dir` (codex's app-server control socket would be one).
fn sockets_under(dir: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                todo.push(e.path());
            } else if kind.is_socket() {
                found.push(e.path());
            }
        }
    }
    found
}

/// What codex's app-server daemons keep in `/tmp/codex-daemon-<uid>/`
/// (their control sockets and locks; a daemon of `codex` without
/// `--no-daemon` made one here).
fn daemon_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(format!("/tmp/codex-daemon-{}", nix::unistd::getuid()));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// One task on `agent` (a profile of PLAN), run with `--batch-group G1`:
/// merged, its session closed, nothing of codex left.
fn run_one_task(agent: &str) {
    let Some(codex) = codex() else { return };
    let sb = Sandbox::new(&PLAN.replace("AGENT", agent));
    let worktree = sb
        .repo
        .join(format!(".switchboard/workspaces/agent-A-{agent}"));
    let server = ScriptedResponses::start(Script {
        write: "printf 'hello from codex\\n' > hello.txt".into(),
        commit: "git add hello.txt && git commit -q -m 'A: hello.txt'".into(),
        last_words: "Done: hello.txt is committed.".into(),
        // The busy screen stays up across the engine's pane polls.
        delay: Duration::from_millis(700),
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let home = codex_home(dir.path(), &server, &worktree);
    let bin_dir = codex.parent().expect("the CLI's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let daemons_before = daemon_files();
    let started = Instant::now();
    let child = sb
        .cmd(&["--batch-group", "G1"])
        .env("HOME", &home)
        .env("PATH", path)
        .env_remove("CODEX_HOME")
        .env_remove("OPENAI_API_KEY")
        .env_remove("CODEX_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchboard");
    let out = wait_with_guard(child, RUN_LIMIT);
    say(&format!(
        "real codex ({agent}): run took {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    let journal = sb.journal();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\njournal: {journal:#?}\nrequests: {}",
        stderr(&out),
        server.requests().len()
    );
    sb.assert_nothing_left_now("after the run");
    assert_eq!(
        processes_of(&home),
        Vec::<String>::new(),
        "codex left behind"
    );
    assert_eq!(sockets_under(&home), Vec::<PathBuf>::new(), "sockets left");
    assert_eq!(
        daemon_files(),
        daemons_before,
        "an app-server daemon's files"
    );

    // The task's turn: three answers (write, commit, last words), each
    // after codex ran the one before.
    let requests = server.requests();
    let task_turns: Vec<_> = requests
        .iter()
        .filter(|r| r["tools"].as_array().is_some_and(|t| !t.is_empty()))
        .collect();
    assert_eq!(task_turns.len(), 3, "{requests:#?}");

    let states: Vec<String> = sb
        .events("state")
        .iter()
        .filter(|e| e["task"] == "A")
        .filter_map(|e| e["state"].as_str().map(str::to_string))
        .collect();
    for state in ["running", "validating", "merging", "done"] {
        assert!(states.iter().any(|s| s == state), "{state}: {states:?}");
    }
    let validations = sb.events("validation");
    assert!(
        validations.len() == 2 && validations.iter().all(|v| v["ok"] == true),
        "{validations:?}"
    );
    assert_eq!(sb.events("merged").len(), 1);
    assert!(
        sb.integration_files().contains(&"hello.txt".to_string()),
        "{:?}",
        sb.integration_files()
    );
    assert!(
        sb.integration_log().iter().any(|s| s == "A: hello.txt"),
        "{:?}",
        sb.integration_log()
    );
    // codex's notify said the turn was over: one IDLE with its last words,
    // the title side turn's notify dropped.
    let idle: Vec<_> = sb
        .events("report")
        .into_iter()
        .filter(|e| e["state"] == "IDLE")
        .collect();
    assert_eq!(idle.len(), 1, "{idle:?}");
    assert_eq!(idle[0]["message"], "Done: hello.txt is committed.");
    // The same hook read the turn's tokens from codex's rollout: what the
    // server sent for the task's three answers, no cost.
    let usage = sb.events("usage");
    let journaled: (u64, u64) = usage.iter().fold((0, 0), |(i, o), e| {
        let n = |k: &str| e[k].as_u64().unwrap_or(0);
        (i + n("input_tokens"), o + n("output_tokens"))
    });
    let calls = task_turns.len() as u64;
    assert_eq!(
        journaled,
        (calls * INPUT_TOKENS, calls * OUTPUT_TOKENS),
        "usage events: {usage:?}"
    );
    assert!(
        usage.iter().all(|e| e.get("cost_usd").is_none()),
        "{usage:?}"
    );
    if agent == "codex" {
        // Interactive: the turn ends at the prompt, the session stays open
        // until switchboard closes it.
        assert_eq!(sb.events("turn_finished").len(), 1);
    } else {
        // Headless: the turn is codex exec's life.
        let exits = sb.events("exit");
        assert_eq!(exits.len(), 1, "{exits:?}");
        assert_eq!(exits[0]["code"], 0, "{exits:?}");
    }
}

#[test]
fn real_codex_interactive_turn_finishes_is_merged_and_leaves_nothing() {
    run_one_task("codex");
}

#[test]
fn real_codex_exec_headless_is_merged_and_leaves_nothing() {
    run_one_task("codex-exec");
}

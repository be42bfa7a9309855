//! The real Claude Code CLI under switchboard, end to end, against the
//! scripted model (`scripted_model.rs`) instead of Anthropic's API: a plan
//! whose profile says `preset: claude`, headless (`--batch-group`) and in
//! the control room. Each task's claude writes its file with Write, commits
//! it with Bash and ends its turn; switchboard sees it work, then idle at its
//! prompt (turn finished), validates, merges, and closes the session, with
//! nobody at the keyboard: the per-worktree trust question is pre-accepted
//! (`preaccept: [trust]`), the rest is in the test's own HOME.
//!
//! The CLI comes from `SWITCHBOARD_TEST_CLAUDE`, else from where `.ci/run`
//! installs it (`${XDG_CACHE_HOME:-$HOME/.cache}/switchboard-ci/npm`).
//! Without it these tests say they are skipped and pass.

use crate::agent_cli::{self, say};
use crate::harness::{Sandbox, git, stderr, wait_with_guard};
use crate::scripted_model::{Job, Kind, ScriptedModel};
use crate::terminal::Terminal;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use switchboard::engine::command::Command as EngineCommand;

/// A fake key: the scripted model takes anything.
const KEY: &str = "sk-ant-api03-switchboard-e2e-fake-0123456789abcdefghijABCDEFGHIJ";
/// Each main-loop answer waits this long, so that claude's busy screen is
/// on long enough for switchboard's 500 ms pane poll to see it.
const MODEL_DELAY: Duration = Duration::from_millis(1500);
/// A hang guard for one run, not a timing assertion.
const RUN_LIMIT: Duration = Duration::from_secs(240);

/// The claude CLI to run, or None (the reason printed) when there is none.
fn claude() -> Option<PathBuf> {
    agent_cli::find(
        "claude",
        "claude",
        "@anthropic-ai/claude-code",
        "SWITCHBOARD_TEST_CLAUDE",
    )
}

/// The agent's HOME, made as a person who set claude up once would have it:
/// onboarding done, the API key approved, the bypass-mode warning accepted.
/// Per-worktree trust is left to switchboard's `preaccept`. Also claude's
/// temp dir (CLAUDE_CODE_TMPDIR), so it leaves nothing in /tmp.
struct ClaudeHome {
    _dir: tempfile::TempDir,
    home: PathBuf,
    tmp: PathBuf,
}

impl ClaudeHome {
    fn new() -> ClaudeHome {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("home");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(home.join(".claude")).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        let config = json!({
            "hasCompletedOnboarding": true,
            "switchboardTestMarker": "kept",
            "customApiKeyResponses": {"approved": [&KEY[KEY.len() - 20..]], "rejected": []},
            "projects": {},
        });
        std::fs::write(home.join(".claude.json"), config.to_string()).unwrap();
        let settings = json!({"skipDangerousModePermissionPrompt": true});
        std::fs::write(home.join(".claude/settings.json"), settings.to_string()).unwrap();
        ClaudeHome {
            _dir: dir,
            home,
            tmp,
        }
    }

    fn config(&self) -> Value {
        let text = std::fs::read_to_string(self.home.join(".claude.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

/// The scripted model's job in a worktree `agent-<TASK>-claude`: write
/// `<TASK>.txt` and commit it naming the task.
fn job(cwd: Option<&str>) -> Job {
    let task = cwd
        .and_then(|c| Path::new(c).file_name())
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("agent-"))
        .and_then(|n| n.strip_suffix("-claude"))
        .unwrap_or("UNKNOWN")
        .to_string();
    Job {
        file: format!("{task}.txt"),
        content: format!("hello from claude, {task}\n"),
        commit_message: format!("{task}: say hello"),
    }
}

/// A plan of `tasks` (ids) in group G1, all on one claude profile.
fn claude_plan(model: &ScriptedModel, home: &ClaudeHome, profile: &str, tasks: &[&str]) -> String {
    let mut plan = format!(
        r#"version: 1
settings:
  maxParallel: 2
  restart:
    maxRestarts: 0
  maxFallbacks: 0
  timeoutMinutes: 3
agents:
  claude:
    preset: claude
{profile}    env:
      HOME: "{home}"
      CLAUDE_CODE_TMPDIR: "{tmp}"
      ANTHROPIC_BASE_URL: "{url}"
      ANTHROPIC_API_KEY: "{KEY}"
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1"
groups:
  - id: G1
tasks:
"#,
        home = home.home.display(),
        tmp = home.tmp.display(),
        url = model.base_url(),
    );
    for t in tasks {
        plan.push_str(&format!(
            r#"  - taskId: {t}
    title: "Say hello ({t})"
    group: G1
    agent: {{ type: claude }}
    instruction: "Write {t}.txt saying hello, and commit it."
    outputs: [{{ path: {t}.txt }}]
    validation:
      - {{ type: file_exists }}
      - {{ type: commit }}
      - {{ type: command, run: "grep -qx 'hello from claude, {t}' {t}.txt" }}
"#
        ));
    }
    plan
}

/// `switchboard ARGS` in the sandbox, with claude on PATH and none of the
/// caller's Anthropic or Claude settings (a real key or endpoint must never
/// be reached from a test).
fn start(sb: &Sandbox, claude: &Path, args: &[&str]) -> Child {
    let mut cmd = sb.cmd(args);
    cmd.env("PATH", path_with(claude))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("ANTHROPIC_") || k.starts_with("CLAUDE_") {
            cmd.env_remove(&key);
        }
    }
    cmd.spawn().expect("spawn switchboard")
}

fn path_with(claude: &Path) -> String {
    let dir = claude
        .parent()
        .expect("claude's directory")
        .display()
        .to_string();
    match std::env::var("PATH") {
        Ok(p) if !p.is_empty() => format!("{dir}:{p}"),
        _ => format!("{dir}:/usr/local/bin:/usr/bin:/bin"),
    }
}

/// Poll the engine's status until `child` exits, remembering each agent
/// state every task showed; then its output.
fn watch(sb: &Sandbox, mut child: Child) -> (std::process::Output, BTreeSet<(String, String)>) {
    let mut seen = BTreeSet::new();
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() && start.elapsed() < RUN_LIMIT {
        if let Some(status) = sb.engine(&EngineCommand::Status) {
            for t in status["tasks"].as_array().into_iter().flatten() {
                if let (Some(id), Some(state)) = (t["id"].as_str(), t["agent_state"].as_str()) {
                    seen.insert((id.to_string(), state.to_string()));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (wait_with_guard(child, Duration::from_secs(30)), seen)
}

/// The task's journal, as `event` (or `state:<state>`) words in order.
fn story(sb: &Sandbox, task: &str) -> Vec<String> {
    sb.journal()
        .into_iter()
        .filter(|e| e["task"] == task)
        .map(|e| match e["event"].as_str() {
            Some("state") => format!("state:{}", e["state"].as_str().unwrap_or("")),
            Some("validation") => format!("validation:{}", e["ok"]),
            other => other.unwrap_or("").to_string(),
        })
        .collect()
}

/// `expected` appears in `story`, in order (other entries between).
fn in_order(story: &[String], expected: &[&str]) -> bool {
    let mut it = story.iter();
    expected.iter().all(|want| it.any(|got| got == want))
}

/// What every finished run must show: exit 0; each task done, its file on
/// the integration branch with a merge commit; no question, failure or
/// nudge; the model answered the main loop write, commit, text; nothing
/// left (no process, session, socket).
fn assert_finished(
    sb: &Sandbox,
    out: &std::process::Output,
    model: &ScriptedModel,
    tasks: &[&str],
) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{err}");
    sb.assert_nothing_left_now("right as switchboard exited");
    let sockets = sockets_under(&sb.runtime);
    assert!(sockets.is_empty(), "sockets left: {sockets:?}");
    // tmux leaves its socket file behind when its last session ends (the
    // sandbox removes it); nothing may listen on it.
    let tmux_socket = switchboard::tmux::private_server::socket_file(&sb.tmux);
    assert!(
        std::os::unix::net::UnixStream::connect(&tmux_socket).is_err(),
        "the private tmux server still runs"
    );
    let files = sb.integration_files();
    let log = sb.integration_log();
    for t in tasks {
        assert_eq!(sb.state_of(t).as_deref(), Some("done"), "{t}: {err}");
        assert!(files.contains(&format!("{t}.txt")), "{t}: {files:?}");
        let content = git(
            &sb.repo,
            &["show", &format!("switchboard/integration:{t}.txt")],
        );
        assert_eq!(content, format!("hello from claude, {t}\n"));
        assert!(
            log.iter().any(|s| s.starts_with(&format!("Merge {t}: "))),
            "{log:?}"
        );
        assert!(log.contains(&format!("{t}: say hello")), "{log:?}");
        let story = story(sb, t);
        for never in [
            "state:waiting",
            "prompt",
            "nudged",
            "failure",
            "restart",
            "escalation",
        ] {
            assert!(
                !story.iter().any(|s| s == never),
                "{t}: {never} in {story:?}"
            );
        }
    }
    let kinds: Vec<String> = model
        .main_answers()
        .into_iter()
        .map(|a| a.content)
        .collect();
    let expected: Vec<&str> = tasks
        .iter()
        .flat_map(|_| ["tool_use:Write", "tool_use:Bash", "text"])
        .collect();
    let mut sorted_kinds = kinds.clone();
    sorted_kinds.sort();
    let mut sorted_expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    sorted_expected.sort();
    assert_eq!(
        sorted_kinds, sorted_expected,
        "main-loop answers: {kinds:?}"
    );
    let unknown: Vec<String> = model
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::Unknown)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        unknown.is_empty(),
        "requests the model had no answer for: {unknown:?}"
    );
}

/// The usage the model sent is what switchboard journaled: claude's Stop
/// hook reads each turn's tokens from its transcript (`switchboard hook
/// claude`), summed here over the run; no cost (the transcript has none).
fn assert_usage_recorded(sb: &Sandbox, model: &ScriptedModel) {
    let answers = model.main_answers();
    let sent: (u64, u64) = answers.iter().fold((0, 0), |(i, o), a| {
        (i + a.input_tokens, o + a.output_tokens)
    });
    let usage = sb.events("usage");
    let journaled: (u64, u64) = usage.iter().fold((0, 0), |(i, o), e| {
        let n = |k: &str| e[k].as_u64().unwrap_or(0);
        (i + n("input_tokens"), o + n("output_tokens"))
    });
    assert_eq!(journaled, sent, "usage events: {usage:?}");
    assert!(
        usage.iter().all(|e| e.get("cost_usd").is_none()),
        "{usage:?}"
    );
}

fn sockets_under(dir: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            found.extend(sockets_under(&e.path()));
        } else if kind.is_socket() {
            found.push(e.path());
        }
    }
    found
}

#[test]
fn claude_runs_two_tasks_to_merged_headless() {
    let Some(claude) = claude() else { return };
    let home = ClaudeHome::new();
    let model = ScriptedModel::start(job, MODEL_DELAY);
    let tasks = ["T1", "T2"];
    let sb = Sandbox::new(&claude_plan(
        &model,
        &home,
        "    preaccept: [trust]\n",
        &tasks,
    ));
    let began = Instant::now();
    let (out, seen) = watch(&sb, start(&sb, &claude, &["--batch-group", "G1"]));
    say(&format!(
        "real claude: two tasks to merged in {:.1} s",
        began.elapsed().as_secs_f64()
    ));
    assert_finished(&sb, &out, &model, &tasks);
    for t in tasks {
        // Working (busy on its screen), then its turn finished at the
        // prompt, then the checks, the merge, done.
        assert!(
            seen.contains(&(t.to_string(), "working".to_string())),
            "{t}: status never said working: {seen:?}"
        );
        let story = story(&sb, t);
        assert!(
            in_order(
                &story,
                &[
                    "state:assigned",
                    "preaccepted",
                    "spawned",
                    "state:running",
                    "turn_finished",
                    "state:validating",
                    "validation:true",
                    "state:merging",
                    "merged",
                    "state:done",
                ]
            ),
            "{t}: {story:?}"
        );
        assert!(
            !story.iter().any(|s| s == "validation:false" || s == "exit"),
            "{t}: the agent stayed at its prompt until its checks passed: {story:?}"
        );
        // Trusted by switchboard, in the test's HOME, the rest kept.
        let worktree = sb
            .repo
            .canonicalize()
            .unwrap()
            .join(format!(".switchboard/workspaces/agent-{t}-claude"));
        let config = home.config();
        assert_eq!(
            config["projects"][worktree.to_string_lossy().as_ref()]["hasTrustDialogAccepted"],
            true,
            "{config:#}"
        );
        assert_eq!(config["hasCompletedOnboarding"], true);
        assert_eq!(config["switchboardTestMarker"], "kept", "{config:#}");
        assert_eq!(
            config["customApiKeyResponses"]["approved"][0],
            &KEY[KEY.len() - 20..]
        );
    }
    let said = sb.events("preaccepted");
    assert_eq!(said.len(), 2, "{said:?}");
    let file = home.home.join(".claude.json").display().to_string();
    assert!(said.iter().all(|e| e["file"] == file.as_str()), "{said:?}");
    assert!(
        stderr(&out).contains("pre-accepted claude's folder trust question"),
        "{}",
        stderr(&out)
    );
    assert_usage_recorded(&sb, &model);
}

#[test]
fn claude_headless_mode_runs_a_task_to_merged() {
    let Some(claude) = claude() else { return };
    let home = ClaudeHome::new();
    let model = ScriptedModel::start(job, Duration::ZERO);
    let sb = Sandbox::new(&claude_plan(&model, &home, "    mode: headless\n", &["T1"]));
    let began = Instant::now();
    let (out, _) = watch(&sb, start(&sb, &claude, &["--batch-group", "G1"]));
    say(&format!(
        "real claude: claude -p to merged in {:.1} s",
        began.elapsed().as_secs_f64()
    ));
    assert_finished(&sb, &out, &model, &["T1"]);
    let story = story(&sb, "T1");
    assert!(
        in_order(
            &story,
            &[
                "state:running",
                "exit",
                "state:validating",
                "validation:true",
                "merged",
                "state:done"
            ]
        ),
        "{story:?}"
    );
    let exit = sb.events("exit");
    assert_eq!(exit[0]["code"], 0, "{exit:?}");
    assert!(
        sb.events("preaccepted").is_empty(),
        "claude -p asks no trust question: nothing written"
    );
    assert_usage_recorded(&sb, &model);
}

#[test]
fn claude_runs_a_task_to_merged_in_the_control_room() {
    let Some(claude) = claude() else { return };
    let home = ClaudeHome::new();
    let model = ScriptedModel::start(job, MODEL_DELAY);
    let sb = Sandbox::new(&claude_plan(
        &model,
        &home,
        "    preaccept: [trust]\n",
        &["T1"],
    ));
    let path = format!("PATH={}", path_with(&claude));
    let term = Terminal::open_with(&sb, "outer", &[&path]);
    term.wait("the control room, idle", |s| {
        s.phase_is("IDLE") && s.state_of("T1").as_deref() == Some("pending")
    });
    term.press(&["g"]);
    let working = term.wait("T1 working", |s| {
        s.state_of("T1").as_deref() == Some("running") && s.contains("[working]")
    });
    assert!(!working.contains("[idle at prompt]"), "{}", working.text());
    let screen = term.wait("T1 done", |s| s.state_of("T1").as_deref() == Some("done"));
    assert!(screen.phase_is("FINISHED"), "{}", screen.text());
    assert!(
        screen.contains("T1 pre-accepted claude's folder trust"),
        "{}",
        screen.text()
    );
    // The engine's own control-mode session stays while the room is open.
    sb.wait_for("T1's session closed", |sb| {
        sb.tmux_sessions().iter().all(|s| !s.ends_with("-T1"))
    });
    term.press(&["q"]);
    let screen = term.wait("switchboard exited", |s| s.contains("EXITED"));
    assert!(screen.contains("EXITED 0"), "{}", screen.text());
    sb.assert_no_process_left("after quitting the control room");
    sb.wait_for("no session left", |sb| sb.tmux_sessions().is_empty());
    let story = story(&sb, "T1");
    assert!(
        in_order(
            &story,
            &[
                "preaccepted",
                "state:running",
                "turn_finished",
                "validation:true",
                "merged",
                "state:done"
            ]
        ),
        "{story:?}"
    );
    let files = sb.integration_files();
    assert!(files.contains(&"T1.txt".to_string()), "{files:?}");
    assert_usage_recorded(&sb, &model);
}

/// Without the opt-in switchboard writes nothing outside the worktree:
/// claude's trust question comes up, and the preset's dialog rule answers
/// it on screen with its keys (Enter: "1. Yes, I trust this folder"), as a
/// person would, journaled as `prompt_answered`. The task then runs to
/// merged.
#[test]
fn without_preaccept_claudes_trust_question_is_answered_on_screen() {
    let Some(claude) = claude() else { return };
    let home = ClaudeHome::new();
    let model = ScriptedModel::start(job, Duration::from_millis(1500));
    let sb = Sandbox::new(&claude_plan(&model, &home, "", &["T1"]));
    let run = start(&sb, &claude, &["--batch-group", "G1"]);
    let out = wait_with_guard(run, Duration::from_secs(180));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(sb.events("preaccepted").is_empty());
    let answered = sb.events("prompt_answered");
    assert!(
        answered.iter().any(|e| e["sent"] == "Enter"
            && e["match"]
                .as_str()
                .is_some_and(|p| p.contains("one you trust?"))),
        "{answered:?}"
    );
    assert_eq!(sb.state_of("T1").as_deref(), Some("done"));
    sb.assert_nothing_left_now("after the run");
}

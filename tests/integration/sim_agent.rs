//! `switchboard sim-agent` in throwaway git repositories: the normal run and
//! every misbehaviour switch. Short durations, no assertions on timing.

use crate::common::{switchboard, text};
use assert_cmd::Command;
use std::io::{BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;
use switchboard::instruction;
use tempfile::TempDir;

/// A fresh repository with its own identity, holding the instruction for a
/// task with `outputs` (rendered by the real `instruction::render`).
fn repo_with_task(id: &str, title: &str, outputs: &[&str]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["config", "user.name", "Test Person"]);
    git(
        dir.path(),
        &["config", "user.email", "test@example.invalid"],
    );
    git(dir.path(), &["config", "commit.gpgsign", "false"]);
    write_instruction(dir.path(), id, title, outputs);
    dir
}

fn write_instruction(dir: &Path, id: &str, title: &str, outputs: &[&str]) {
    let outputs: Vec<String> = outputs.iter().map(|o| format!("{{path: '{o}'}}")).collect();
    let yaml = format!(
        "{{taskId: {id}, title: '{title}', group: G, agent: {{type: sim}}, outputs: [{}]}}",
        outputs.join(", ")
    );
    let task: switchboard::plan::Task = serde_norway::from_str(&yaml).expect("task yaml");
    let md = instruction::render(&task, &[], true);
    std::fs::write(dir.join(instruction::FILE_NAME), md).expect("write instruction");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

fn has_commit(dir: &Path) -> bool {
    std::process::Command::new("git")
        .current_dir(dir)
        .args(["rev-parse", "--verify", "-q", "HEAD"])
        .output()
        .expect("run git")
        .status
        .success()
}

fn sim(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = switchboard();
    cmd.current_dir(dir).arg("sim-agent").args(args);
    cmd
}

/// The child's stdout lines, from a thread, so a test waits with a timeout
/// instead of blocking forever on a child that went quiet.
fn line_feed(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("no line containing {needle:?}: {e}"));
        if line.contains(needle) {
            return line;
        }
    }
}

/// A sim agent started directly, SIGINT at its default even if this test
/// process inherited it ignored (a background job in a non-interactive shell).
fn spawn_sim(dir: &Path, args: &[&str]) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.current_dir(dir)
        .arg("sim-agent")
        .args(args)
        .env_remove("SWITCHBOARD_REPORT_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: signal() is async-signal-safe; nothing else runs in the child yet.
    unsafe {
        cmd.pre_exec(|| {
            use nix::sys::signal::{SigHandler, Signal, signal};
            signal(Signal::SIGINT, SigHandler::SigDfl)
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn().expect("spawn sim agent")
}

#[test]
fn writes_outputs_and_commits_them() {
    let repo = repo_with_task("T4", "Retry Engine", &["src/retry.ts", "db/m/001.sql"]);
    let out = sim(repo.path(), &["--duration", "0.3"])
        .output()
        .expect("run");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("[sim] T4 step 1/"), "{stdout}");
    assert!(stdout.contains("writing db/m/001.sql"), "{stdout}");
    for path in ["src/retry.ts", "db/m/001.sql"] {
        let body = std::fs::read_to_string(repo.path().join(path)).expect("output written");
        assert!(body.contains("T4: Retry Engine"), "{path}: {body}");
    }
    assert_eq!(
        git(repo.path(), &["log", "-1", "--format=%s"]),
        "feat(T4): Retry Engine"
    );
    let committed = git(repo.path(), &["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(committed, "db/m/001.sql\nsrc/retry.ts");
    // The instruction stays out of the commit.
    assert_eq!(
        git(repo.path(), &["status", "--porcelain"]),
        "?? TASK_INSTRUCTION.md"
    );
}

#[test]
fn environment_overrides_the_instruction() {
    let repo = repo_with_task("T4", "Retry Engine", &["ignored.txt"]);
    let out = sim(repo.path(), &["--duration", "0.2"])
        .env("SWITCHBOARD_TASK", "X9")
        .env("SWITCHBOARD_TITLE", "From the engine")
        .env("SWITCHBOARD_OUTPUTS", "a.txt\nsub/b.json\n")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!repo.path().join("ignored.txt").exists());
    let json = std::fs::read_to_string(repo.path().join("sub/b.json")).expect("b.json");
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(value["task"], "X9");
    assert_eq!(
        git(repo.path(), &["log", "-1", "--format=%s"]),
        "feat(X9): From the engine"
    );
}

#[test]
fn missing_instruction_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = sim(dir.path(), &["--duration", "0"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no TASK_INSTRUCTION.md in"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn refuses_to_write_outside_the_worktree() {
    let outside = tempfile::tempdir().expect("outside dir");
    let repo = repo_with_task("T1", "Escape", &[]);
    let escape = outside.path().join("abs.txt");
    for bad in ["../escape.txt", escape.to_str().expect("utf-8 path")] {
        let out = sim(repo.path(), &["--duration", "0"])
            .env("SWITCHBOARD_OUTPUTS", bad)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(text(&out.stderr).contains("refusing to write"), "{bad}");
    }
    assert!(!escape.exists());
    assert!(
        !repo
            .path()
            .parent()
            .expect("parent")
            .join("escape.txt")
            .exists()
    );

    // Through a symlink inside the worktree: refused when it is met.
    std::os::unix::fs::symlink(outside.path(), repo.path().join("link")).expect("symlink");
    let out = sim(repo.path(), &["--duration", "0"])
        .env("SWITCHBOARD_OUTPUTS", "link/x.txt")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("symlink"),
        "{}",
        text(&out.stderr)
    );
    assert!(!outside.path().join("x.txt").exists());
    assert!(!has_commit(repo.path()));
}

#[test]
fn commits_as_the_sim_when_git_has_no_identity() {
    let home = tempfile::tempdir().expect("home");
    let repo = tempfile::tempdir().expect("repo");
    git(repo.path(), &["init", "-q"]);
    write_instruction(repo.path(), "T2", "Anonymous", &["x.md"]);
    let out = sim(repo.path(), &["--duration", "0"])
        .env("HOME", home.path())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env_remove("EMAIL")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        git(repo.path(), &["log", "-1", "--format=%an <%ae>"]),
        "switchboard-sim <sim@switchboard.invalid>"
    );
}

#[test]
fn no_outputs_still_commits_under_the_task_id() {
    let repo = repo_with_task("T3", "Think only", &[]);
    let out = sim(repo.path(), &["--duration", "0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        git(repo.path(), &["log", "-1", "--format=%s"]),
        "feat(T3): Think only"
    );
}

#[test]
fn a_rerun_with_nothing_new_does_not_fail() {
    let repo = repo_with_task("T5", "Twice", &["a.txt"]);
    for _ in 0..2 {
        let out = sim(repo.path(), &["--duration", "0"])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    assert_eq!(git(repo.path(), &["rev-list", "--count", "HEAD"]), "1");
}

#[test]
fn fail_exits_1_without_committing() {
    let repo = repo_with_task("T6", "Doomed", &["a.txt"]);
    let out = sim(repo.path(), &["--duration", "0.2", "--fail"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("[sim] T6 error: simulated failure"));
    assert!(!has_commit(repo.path()));
}

#[test]
fn crash_after_dies_by_sigkill() {
    let repo = repo_with_task("T7", "Fragile", &["a.txt"]);
    let out = sim(repo.path(), &["--duration", "5", "--crash-after", "0.2"])
        .output()
        .expect("run");
    assert_eq!(out.status.signal(), Some(9), "{:?}", out.status);
    assert!(!has_commit(repo.path()));
    // Work that ends before the crash waits for it rather than finishing.
    let out = sim(repo.path(), &["--duration", "0", "--crash-after", "0.3"])
        .output()
        .expect("run");
    assert_eq!(out.status.signal(), Some(9));
    assert!(!has_commit(repo.path()));
}

#[test]
fn hang_prints_once_then_goes_silent() {
    let repo = repo_with_task("T8", "Stuck", &["a.txt"]);
    let mut child = spawn_sim(repo.path(), &["--duration", "0.2", "--hang"]);
    let lines = line_feed(&mut child);
    wait_for_line(&lines, "step 1/");
    // Well past the 0.2 s of work: a hung agent is still there, saying nothing.
    std::thread::sleep(Duration::from_millis(800));
    assert!(child.try_wait().expect("try_wait").is_none(), "exited");
    child.kill().expect("kill");
    child.wait().expect("wait");
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(rest.iter().all(|l| !l.contains("step 2/")), "{rest:?}");
    assert!(!has_commit(repo.path()));
}

#[test]
fn prompt_reads_one_line_and_goes_on() {
    let repo = repo_with_task("T9", "Curious", &["a.txt"]);
    let out = sim(
        repo.path(),
        &["--duration", "0.2", "--prompt", "Favourite colour?"],
    )
    .write_stdin("blue\nnot read\n")
    .output()
    .expect("run");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("Favourite colour?"), "{stdout}");
    assert!(
        stdout.contains("[sim] T9 got the answer: blue\n"),
        "{stdout}"
    );
    assert!(has_commit(repo.path()));

    let out = sim(repo.path(), &["--duration", "0", "--prompt", "Anyone?"])
        .write_stdin("")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("no answer (stdin closed)"));
}

#[test]
fn ignore_sigint_shrugs_off_ctrl_c() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let repo = repo_with_task("T10", "Stubborn", &["a.txt"]);
    let sigint = |child: &std::process::Child| {
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
        kill(pid, Signal::SIGINT).expect("send SIGINT");
    };

    let mut child = spawn_sim(repo.path(), &["--duration", "0.6", "--ignore-sigint"]);
    let lines = line_feed(&mut child);
    wait_for_line(&lines, "step 1/");
    sigint(&child);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(has_commit(repo.path()));

    // Without the switch the same signal ends it.
    let mut child = spawn_sim(repo.path(), &["--duration", "5"]);
    let lines = line_feed(&mut child);
    wait_for_line(&lines, "step 1/");
    sigint(&child);
    assert_eq!(child.wait().expect("wait").signal(), Some(2));
}

#[test]
fn reports_only_inside_a_worker_and_survives_a_dead_socket() {
    let repo = repo_with_task("T11", "Chatty", &["a.txt"]);
    let socket = repo.path().join("no-such.sock");
    let out = sim(repo.path(), &["--duration", "0", "--prompt", "Sure?"])
        .env("SWITCHBOARD_REPORT_SOCKET", &socket)
        .write_stdin("y\n")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout) + &text(&out.stderr);
    for state in ["start", "wait", "done"] {
        assert!(
            said.contains(&format!("report {state}"))
                || said.contains(&format!("reported {state}")),
            "no report {state} in:\n{said}"
        );
    }

    let out = sim(repo.path(), &["--duration", "0", "--no-report"])
        .env("SWITCHBOARD_REPORT_SOCKET", &socket)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(!said.contains("report"), "{said}");
}

//! Records the journal the screen snapshots replay: the demo plan, bent so
//! that GROUP_B misbehaves in every way at once (a crash that escalates, a
//! failure, a question, a merge conflict), run for real by the `switchboard`
//! binary on a private tmux server, then halted. Times are shifted to a fixed
//! start and paths masked, so the fixture is stable.
//!
//!     cargo build && cargo run --example record_journal
//!
//! Writes tests/fixtures/journal/mid-run.jsonl and mid-run.plan.yaml.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use switchboard::engine::event::{Entry, Event};
use switchboard::engine::journal;
use switchboard::engine::snapshot::TaskState;

/// The fixture's start: 2023-11-14 22:13:20 UTC.
const T0: u64 = 1_700_000_000_000;
const OUT: &str = "tests/fixtures/journal";
const MASKED_REPO: &str = "/tmp/switchboard-demo/repo";
const MASKED_SOCKET: &str = "switchboard-demo";

fn main() -> Result<(), String> {
    let bin = binary()?;
    let mut plan = switchboard::demo::plan()?;
    for t in &mut plan.tasks {
        match t.task_id.as_str() {
            "T4" => t.agent.kind = "crashy".into(),
            "T5" => t.agent.kind = "failing".into(),
            "T7" => t.agent.kind = "asking".into(),
            // T6 writes T8's file too, and T8 (on a faster profile) merges
            // first, so T6 conflicts.
            "T6" => t.agent.kind = "backend-engineer".into(),
            "T8" => t.agent.kind = "generalist".into(),
            _ => {}
        }
    }
    let shared = plan
        .tasks
        .iter()
        .find(|t| t.task_id == "T8")
        .and_then(|t| t.outputs.first().cloned())
        .ok_or("the demo plan has no T8 output")?;
    if let Some(t6) = plan.tasks.iter_mut().find(|t| t.task_id == "T6") {
        t6.outputs.push(shared);
    }
    let demo = switchboard::demo::create_with(&plan)?;
    let journal_path = demo.repo.join(".switchboard/journal.jsonl");
    let mut engine = Command::new(&bin)
        .args(["--batch-group", "GROUP_B", "--with-deps", "--tmux-socket"])
        .arg(&demo.tmux_socket)
        .current_dir(&demo.repo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let result = record(&bin, &demo.repo, &journal_path, &mut engine);
    let _ = Command::new("kill")
        .args(["-INT", &engine.id().to_string()])
        .status();
    let _ = engine.wait();
    let _ = Command::new("tmux")
        .args(["-L", &demo.tmux_socket, "kill-server"])
        .output();
    let entries = result?;
    let plan_yaml = std::fs::read_to_string(demo.repo.join("dispatcher.yaml"))
        .map_err(|e| format!("reading the demo plan: {e}"))?;
    let _ = std::fs::remove_dir_all(&demo.dir);
    write(&demo, entries, &plan_yaml)
}

/// The `switchboard` binary next to this example's target directory.
fn binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("switchboard"))
        .ok_or("cannot find the target directory")?;
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: run `cargo build` first",
            bin.display()
        ))
    }
}

/// Wait until GROUP_B has crashed, escalated, failed, asked and conflicted,
/// while T4 still runs on its fallback, then halt; the journal up to the halt.
fn record(bin: &Path, repo: &Path, path: &Path, engine: &mut Child) -> Result<Vec<Entry>, String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let seen = |entries: &[Entry], event: &str, task: &str| {
        entries
            .iter()
            .any(|e| event_name(e) == event && e.task.as_deref() == Some(task))
    };
    loop {
        if let Ok(Some(status)) = engine.try_wait() {
            return Err(format!("the engine exited early ({status})"));
        }
        if Instant::now() > deadline {
            return Err("GROUP_B did not misbehave within two minutes".into());
        }
        std::thread::sleep(Duration::from_millis(200));
        let entries = journal::read(path).unwrap_or_default();
        if seen(&entries, "merged", "T4") {
            return Err(
                "T4 finished before the others misbehaved (a slow machine?); run again".into(),
            );
        }
        if seen(&entries, "escalation", "T4")
            && seen(&entries, "failure", "T5")
            && seen(&entries, "conflict", "T6")
            && entries.iter().any(|e| {
                matches!(
                    e.event,
                    Event::State {
                        state: TaskState::Waiting,
                        ..
                    }
                ) && e.task.as_deref() == Some("T7")
            })
        {
            break;
        }
    }
    let halt = Command::new(bin)
        .args(["halt", "--json"])
        .current_dir(repo)
        .output()
        .map_err(|e| format!("switchboard halt: {e}"))?;
    if !halt.status.success() {
        return Err(format!(
            "switchboard halt failed: {}",
            String::from_utf8_lossy(&halt.stderr)
        ));
    }
    let entries = journal::read(path).map_err(|e| format!("reading the journal: {e}"))?;
    let end = entries
        .iter()
        .position(|e| matches!(e.event, Event::Halt(_)))
        .ok_or("the journal has no halt")?;
    Ok(entries[..=end].to_vec())
}

/// The entry's `event` key, as the journal spells it.
fn event_name(e: &Entry) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v["event"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Shift times to T0, mask paths and the socket name, write the fixture.
fn write(
    demo: &switchboard::demo::Demo,
    entries: Vec<Entry>,
    plan_yaml: &str,
) -> Result<(), String> {
    let start = entries.first().map_or(0, |e| e.ts_ms);
    let repo = demo.repo.display().to_string();
    let mask = |s: &str| {
        s.replace(&repo, MASKED_REPO)
            .replace(&demo.tmux_socket, MASKED_SOCKET)
    };
    let mut out = String::new();
    for mut e in entries {
        e.ts_ms = e.ts_ms - start + T0;
        e.ts = chrono::DateTime::from_timestamp_millis(e.ts_ms as i64)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        let mut v = serde_json::to_value(&e).map_err(|e| e.to_string())?;
        mask_value(&mut v, &mask);
        out.push_str(&serde_json::to_string(&v).map_err(|e| e.to_string())?);
        out.push('\n');
    }
    std::fs::create_dir_all(OUT).map_err(|e| e.to_string())?;
    std::fs::write(format!("{OUT}/mid-run.jsonl"), out).map_err(|e| e.to_string())?;
    std::fs::write(format!("{OUT}/mid-run.plan.yaml"), plan_yaml).map_err(|e| e.to_string())?;
    println!("wrote {OUT}/mid-run.jsonl and {OUT}/mid-run.plan.yaml");
    Ok(())
}

fn mask_value(v: &mut Value, mask: &impl Fn(&str) -> String) {
    match v {
        Value::String(s) => *s = mask(s),
        Value::Array(items) => items.iter_mut().for_each(|i| mask_value(i, mask)),
        Value::Object(map) => map.values_mut().for_each(|i| mask_value(i, mask)),
        _ => {}
    }
}

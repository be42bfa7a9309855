//! `switchboard demo`: a scratch git repository in a temp dir with the example
//! plan on fast sim agents — a few misbehaving on purpose — and the control
//! room open on it over a private tmux server.

use crate::plan::{self, AgentProfile, Plan};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

const EXAMPLE: &str = include_str!("../dispatcher.example.yaml");

/// Who misbehaves, and how.
const CRASHES: &str = "T6";
const FAILS: &str = "T22";
const ASKS: &str = "T20";

pub struct Demo {
    pub dir: PathBuf,
    pub repo: PathBuf,
    pub tmux_socket: String,
}

fn profile(command: &str, fallbacks: &[&str]) -> AgentProfile {
    AgentProfile {
        command: command.to_string(),
        preset: None,
        mode: None,
        model: None,
        env: BTreeMap::new(),
        fallbacks: fallbacks.iter().map(|f| f.to_string()).collect(),
        prompt_rules: Vec::new(),
        timeout_minutes: None,
        screen: Default::default(),
        hooks: None,
        type_prompt: None,
        submit: None,
        preaccept: Vec::new(),
        max_parallel: None,
        capabilities: Vec::new(),
        budget: None,
    }
}

/// The example plan, sped up, with one task that crashes (and escalates to a
/// fallback that succeeds), one that fails, and one that asks a question.
pub fn plan() -> Result<Plan, String> {
    let mut p = plan::load::parse("dispatcher.example.yaml", EXAMPLE.as_bytes())
        .map_err(|d| d.to_string())?;
    let s = &mut p.settings;
    s.max_parallel = 6;
    s.restart.max_restarts = 1;
    s.restart.backoff_ms = 800;
    s.max_fallbacks = 1;
    s.stall_after_ms = 8000;
    let durations = [
        ("database-engineer", 4),
        ("backend-engineer", 6),
        ("frontend-engineer", 7),
        ("qa-engineer", 8),
        ("performance-engineer", 8),
    ];
    for (name, secs) in durations {
        p.agents.insert(
            name.into(),
            profile(
                &format!("switchboard sim-agent --duration {secs}"),
                &["generalist"],
            ),
        );
    }
    p.agents.insert(
        "generalist".into(),
        profile("switchboard sim-agent --duration 3", &[]),
    );
    p.agents.insert(
        "crashy".into(),
        profile(
            "switchboard sim-agent --duration 8 --crash-after 2",
            &["generalist"],
        ),
    );
    p.agents.insert(
        "failing".into(),
        profile("switchboard sim-agent --duration 3 --fail", &[]),
    );
    p.agents.insert(
        "asking".into(),
        profile("switchboard sim-agent --duration 4 --prompt 'Use PostgreSQL advisory locks for rate limits? [y/n]'", &["generalist"]),
    );
    for t in &mut p.tasks {
        match t.task_id.as_str() {
            CRASHES => t.agent.kind = "crashy".into(),
            FAILS => t.agent.kind = "failing".into(),
            ASKS => t.agent.kind = "asking".into(),
            _ => {}
        }
    }
    Ok(p)
}

fn git(repo: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=switchboard demo",
            "-c",
            "user.email=demo@switchboard.invalid",
        ])
        .args(args)
        .current_dir(repo)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Create the scratch repository: the plan, a breakdown document the tasks'
/// inputs quote from, one commit.
pub fn create() -> Result<Demo, String> {
    create_with(&plan()?)
}

/// [`create`] with another plan (the journal recorder bends the demo's).
pub fn create_with(plan: &Plan) -> Result<Demo, String> {
    let dir = tempfile::Builder::new()
        .prefix("switchboard-demo-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir: {e}"))?
        .keep();
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("docs")).map_err(|e| e.to_string())?;
    let mut breakdown = String::from("# Breakdown\n\n");
    for t in &plan.tasks {
        breakdown.push_str(&format!(
            "## {}: {}\n\n{}\n",
            t.task_id, t.title, t.instruction
        ));
    }
    std::fs::write(repo.join("docs/breakdown.md"), breakdown).map_err(|e| e.to_string())?;
    let yaml = serde_norway::to_string(plan).map_err(|e| e.to_string())?;
    std::fs::write(
        repo.join("dispatcher.yaml"),
        format!("# switchboard demo plan (generated)\n{yaml}"),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        repo.join("README.md"),
        "A scratch repository made by `switchboard demo`.\n",
    )
    .map_err(|e| e.to_string())?;
    git(&repo, &["init", "-q", "-b", "main"])?;
    git(&repo, &["add", "."])?;
    git(&repo, &["commit", "-q", "-m", "demo: plan and breakdown"])?;
    let tmux_socket = format!("switchboard-demo-{}", std::process::id());
    Ok(Demo {
        dir,
        repo,
        tmux_socket,
    })
}

/// Ask on the terminal whether to remove the demo; remove it if so.
/// `live_workers`: workers left running on quit. Then the default is to
/// keep everything, as the person just chose to leave them running.
pub fn offer_cleanup(demo: &Demo, live_workers: usize) {
    if live_workers > 0 {
        eprint!(
            "Remove the demo repository {} and its tmux server, stopping its {live_workers} running worker(s)? [y/N] ",
            demo.dir.display()
        );
    } else {
        eprint!(
            "Remove the demo repository {} and its tmux server? [Y/n] ",
            demo.dir.display()
        );
    }
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    let answer = answer.trim();
    let yes = answer.eq_ignore_ascii_case("y") || (answer.is_empty() && live_workers == 0);
    if yes {
        let _ = Command::new("tmux")
            .args(["-L", &demo.tmux_socket, "kill-server"])
            .output();
        let _ = std::fs::remove_file(crate::tmux::private_server::socket_file(&demo.tmux_socket));
        match std::fs::remove_dir_all(&demo.dir) {
            Ok(()) => eprintln!("demo removed"),
            Err(e) => eprintln!("switchboard: could not remove {}: {e}", demo.dir.display()),
        }
    } else {
        // This very binary: `switchboard` may not be on PATH (cargo run).
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "switchboard".into());
        eprintln!(
            "demo kept: cd {} && {exe} --tmux-socket {}  (reopens the control room; workers still running are re-adopted)",
            demo.repo.display(),
            demo.tmux_socket
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_plan_is_valid_and_misbehaves_where_it_says() {
        let p = super::plan().expect("demo plan");
        let yaml = serde_norway::to_string(&p).unwrap();
        let parsed = crate::plan::load::parse("demo.yaml", yaml.as_bytes()).expect("round trip");
        let (valid, _) =
            crate::plan::validate::validate("demo.yaml", &yaml, parsed).expect("valid");
        assert_eq!(valid.plan.tasks.len(), 22);
        assert_eq!(valid.task(super::CRASHES).unwrap().agent.kind, "crashy");
        assert_eq!(valid.task(super::FAILS).unwrap().agent.kind, "failing");
        assert_eq!(valid.task(super::ASKS).unwrap().agent.kind, "asking");
    }
}

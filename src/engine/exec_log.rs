//! `.switchboard/EXECUTION_LOG.md`, rendered from the journal as the seed's
//! execution log: group timeline, task status, durations, worktrees and
//! branches, outputs, validation results and blockers.

use super::event::{Entry, Event};
use super::journal;
use super::snapshot::TaskState;
use crate::instruction::code_span;
use crate::plan::ValidPlan;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

#[derive(Default)]
struct TaskLog<'a> {
    state: Option<&'a str>,
    first_ms: Option<u64>,
    last_ms: Option<u64>,
    attempts: u32,
    profile: Option<&'a str>,
    worktree: Option<&'a str>,
    branch: Option<&'a str>,
    checks: Vec<(u32, &'a str, bool, &'a str)>,
    blocker: Option<String>,
    merged_commit: Option<&'a str>,
}

pub fn render(plan: &ValidPlan, entries: &[Entry]) -> String {
    let mut logs: BTreeMap<&str, TaskLog> = BTreeMap::new();
    for e in entries {
        let Some(task) = e.task.as_deref() else {
            continue;
        };
        let log = logs.entry(task).or_default();
        log.first_ms.get_or_insert(e.ts_ms);
        log.last_ms = Some(e.ts_ms);
        if let Some(a) = e.attempt {
            log.attempts = log.attempts.max(a);
        }
        match &e.event {
            Event::State {
                state,
                profile,
                reason,
            } => {
                log.state = Some(state.as_str());
                log.profile = Some(profile.as_str());
                match state {
                    TaskState::Failed
                    | TaskState::Skipped
                    | TaskState::Conflict
                    | TaskState::MergeBlocked
                    | TaskState::Cancelled => log.blocker = reason.clone(),
                    TaskState::Done => log.blocker = None,
                    _ => {}
                }
            }
            Event::Spawned {
                worktree, branch, ..
            } => {
                log.worktree = Some(worktree.as_str());
                log.branch = Some(branch.as_str());
            }
            Event::Validation { check, ok, detail } => {
                log.checks
                    .push((e.attempt.unwrap_or(0), check.as_str(), *ok, detail.as_str()));
            }
            Event::IntegrationCheck {
                ok,
                command,
                detail,
            } => {
                log.checks.push((
                    e.attempt.unwrap_or(0),
                    command.as_str(),
                    *ok,
                    detail.as_str(),
                ));
            }
            Event::Merged { commit, .. } => log.merged_commit = Some(commit.as_str()),
            _ => {}
        }
    }

    let mut out = String::new();
    let _ = writeln!(out, "# Execution log\n");
    let _ = writeln!(
        out,
        "Rendered by switchboard from `.switchboard/journal.jsonl` ({} events).\n",
        entries.len()
    );
    let _ = writeln!(out, "## Group timeline\n");
    let _ = writeln!(
        out,
        "| group | title | started | finished | duration | done |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for &g in &plan.group_order {
        let group = &plan.plan.groups[g];
        let members: Vec<&str> = plan
            .tasks_in_group(g)
            .map(|t| plan.plan.tasks[t].task_id.as_str())
            .collect();
        let start = members
            .iter()
            .filter_map(|m| logs.get(m).and_then(|l| l.first_ms))
            .min();
        let end = members
            .iter()
            .filter_map(|m| logs.get(m).and_then(|l| l.last_ms))
            .max();
        let done = members
            .iter()
            .filter(|m| logs.get(*m).and_then(|l| l.state) == Some("done"))
            .count();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {done}/{} |",
            group.id,
            group.title,
            clock(start),
            clock(end),
            duration(start, end),
            members.len()
        );
    }

    let _ = writeln!(out, "\n## Tasks\n");
    let _ = writeln!(
        out,
        "| task | title | group | status | attempts | profile | duration | worktree | branch |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for &t in &plan.task_order {
        let task = &plan.plan.tasks[t];
        let log = logs.remove(task.task_id.as_str()).unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            task.task_id,
            task.title,
            task.group,
            log.state.unwrap_or("not run"),
            log.attempts,
            log.profile.unwrap_or(&task.agent.kind),
            duration(log.first_ms, log.last_ms),
            log.worktree.map_or_else(|| "-".into(), code_span),
            log.branch.map_or_else(|| "-".into(), code_span),
        );
        logs.insert(task.task_id.as_str(), log);
    }

    let _ = writeln!(out, "\n## Outputs and validation\n");
    for &t in &plan.task_order {
        let task = &plan.plan.tasks[t];
        let Some(log) = logs.get(task.task_id.as_str()) else {
            continue;
        };
        if log.state.is_none() {
            continue;
        }
        let merged = log
            .merged_commit
            .map(|c| format!(" — merged as {}", code_span(c.get(..10).unwrap_or(c))))
            .unwrap_or_default();
        let _ = writeln!(out, "### {}: {}{merged}\n", task.task_id, task.title);
        for o in &task.outputs {
            let _ = writeln!(out, "- output {}", code_span(&o.path));
        }
        for (attempt, check, ok, detail) in &log.checks {
            let mark = if *ok { "passed" } else { "FAILED" };
            let _ = writeln!(out, "- attempt {attempt}: {check}: {mark} ({detail})");
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Usage\n");
    let _ = writeln!(out, "{}\n", usage_words(plan, entries));

    let blockers: Vec<String> = plan
        .task_order
        .iter()
        .filter_map(|&t| {
            let id = plan.plan.tasks[t].task_id.as_str();
            let log = logs.get(id)?;
            let reason = log.blocker.as_ref()?;
            Some(format!("- {id} ({}): {reason}", log.state.unwrap_or("?")))
        })
        .collect();
    let _ = writeln!(out, "## Blockers\n");
    if blockers.is_empty() {
        let _ = writeln!(out, "None.");
    } else {
        for b in blockers {
            let _ = writeln!(out, "{b}");
        }
    }
    out
}

/// Per task and in total, what the agents reported spending; a task that
/// reported nothing is said to, never counted as free.
pub fn usage_words(plan: &ValidPlan, entries: &[Entry]) -> String {
    let records = super::history::records(plan, entries);
    let mut total = crate::worker::protocol::Usage::default();
    let (mut reported, mut silent) = (Vec::new(), 0);
    for &t in &plan.task_order {
        let view = &records[t].view;
        if view.attempts.is_empty() {
            continue;
        }
        match view.usage {
            Some(u) => {
                total = total.plus(u);
                reported.push(format!("- {}: {}", view.id, u.describe()));
            }
            None => silent += 1,
        }
    }
    let mut out = reported.join("\n");
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    let total = if reported.is_empty() {
        "not reported".to_string()
    } else {
        total.describe()
    };
    out.push_str(&format!(
        "Total: {total} ({} tasks reported; {silent} did not, so their usage is unknown).",
        reported.len()
    ));
    out
}

fn clock(ms: Option<u64>) -> String {
    use chrono::TimeZone;
    match ms.map(|m| chrono::Local.timestamp_millis_opt(m as i64)) {
        Some(chrono::LocalResult::Single(t)) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        _ => "-".into(),
    }
}

fn duration(start: Option<u64>, end: Option<u64>) -> String {
    match (start, end) {
        (Some(s), Some(e)) => {
            let secs = e.saturating_sub(s) / 1000;
            format!("{}m{:02}s", secs / 60, secs % 60)
        }
        _ => "-".into(),
    }
}

/// Re-render the log next to the journal.
pub fn write(root: &Path, plan: &ValidPlan, journal_path: &Path) -> std::io::Result<()> {
    let mut entries = journal::read(journal_path)?;
    // Worktrees are shown relative to the repository, as the user would type them.
    let prefix = format!("{}/", root.display());
    for e in &mut entries {
        if let Event::Spawned { worktree: w, .. } = &mut e.event {
            // A merged task's worktree is usually removed: say so rather
            // than list a path that is not there.
            let gone = !Path::new(w.as_str()).exists();
            if let Some(rest) = w.strip_prefix(&prefix) {
                *w = rest.to_string();
            }
            if gone {
                w.push_str(" (removed)");
            }
        }
    }
    // Whole, at once: engines sharing the repository may write it together.
    let path = root.join(".switchboard").join("EXECUTION_LOG.md");
    let tmp = path.with_file_name(format!(".EXECUTION_LOG.md.{}.tmp", std::process::id()));
    std::fs::write(&tmp, render(plan, &entries))?;
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::event::Event;

    #[test]
    fn backticks_in_a_path_keep_its_code_span_whole() {
        let yaml = "agents: { a: { command: x } }\ngroups: [{ id: G }]\ntasks:\n  - { taskId: T1, title: t, group: G, agent: { type: a }, outputs: [{ path: \"a`b.md\" }] }\n";
        let plan = crate::engine::fixture::plan(yaml);
        let state = Event::State {
            state: TaskState::Running,
            profile: "a".into(),
            reason: None,
        };
        let log = render(&plan, &[Entry::new(state, 1).task("T1", 1)]);
        assert!(log.contains("- output ``a`b.md``\n"), "{log}");
    }
}

//! The headless front end: `--batch-group GROUP` / `--task T` / `--all`. Progress lines
//! on stderr (or JSON events on stdout), a summary table, and exit codes:
//! 0 all done, 1 something failed, 2 usage or plan error, 130 interrupted.

use crate::engine::event::{Entry, Event};
use crate::engine::journal;
use crate::engine::schedule::{self, Slot};
use crate::engine::snapshot::{Snapshot, TaskState};
use crate::engine::{self, EngineOptions, command::Command};
use crate::plan::ValidPlan;
use crate::plan::diagnostic::printable;
use std::path::Path;
use std::process::ExitCode;

pub struct Selection {
    pub group: Option<String>,
    pub task: Option<String>,
    /// The whole plan (the scheduler runs it group by group).
    pub all: bool,
    pub with_deps: bool,
}

/// Which tasks to run, or the message for exit 2.
pub fn select(plan: &ValidPlan, root: &Path, sel: &Selection) -> Result<Vec<usize>, String> {
    let entries = journal::read(&root.join(".switchboard/journal.jsonl"))
        .map_err(|e| format!("cannot read the journal: {e}"))?;
    let replay = journal::replay(&entries);
    let slots: Vec<Slot> = plan
        .plan
        .tasks
        .iter()
        .map(|t| Slot {
            state: if replay.merged.contains(&t.task_id) || replay.done.contains(&t.task_id) {
                TaskState::Done
            } else {
                TaskState::Pending
            },
            selected: false,
            not_before_ms: 0,
            forced: false,
            profile: None,
        })
        .collect();
    let (what, mut chosen): (String, Vec<usize>) = match (&sel.group, &sel.task) {
        _ if sel.all => ("the plan".into(), (0..plan.plan.tasks.len()).collect()),
        (Some(g), _) => {
            let gi = plan.group_idx(g).ok_or_else(|| {
                let known: Vec<&str> = plan.plan.groups.iter().map(|g| g.id.as_str()).collect();
                format!("no group '{g}' in the plan (groups: {})", known.join(", "))
            })?;
            (format!("group {g}"), plan.tasks_in_group(gi).collect())
        }
        (None, Some(t)) => {
            let ti = plan
                .task_idx(t)
                .ok_or_else(|| format!("no task '{t}' in the plan"))?;
            (format!("task {t}"), vec![ti])
        }
        (None, None) => {
            return Err("nothing selected: use --batch-group GROUP, --task TASK or --all".into());
        }
    };
    chosen.retain(|&t| slots[t].state != TaskState::Done);
    let mut missing: Vec<usize> = Vec::new();
    for &t in &chosen {
        for d in schedule::missing_prerequisites(plan, &slots, t) {
            if !chosen.contains(&d) && !missing.contains(&d) {
                missing.push(d);
            }
        }
    }
    if !missing.is_empty() {
        if !sel.with_deps {
            let names: Vec<&str> = missing
                .iter()
                .map(|&d| plan.plan.tasks[d].task_id.as_str())
                .collect();
            let mut groups: Vec<&str> = missing
                .iter()
                .map(|&d| plan.plan.tasks[d].group.as_str())
                .collect();
            groups.dedup();
            groups.sort_by_key(|g| {
                plan.group_order
                    .iter()
                    .position(|&o| plan.plan.groups[o].id == *g)
            });
            groups.dedup();
            return Err(format!(
                "{what} needs tasks that are not done: {}. Run --batch-group {} first, or add --with-deps",
                names.join(", "),
                groups.first().copied().unwrap_or("?")
            ));
        }
        chosen.extend(missing);
    }
    chosen.sort_by_key(|&t| plan.task_order.iter().position(|&o| o == t));
    Ok(chosen)
}

pub async fn run(mut options: EngineOptions, sel: &Selection, json: bool) -> ExitCode {
    let chosen = match select(&options.plan, &options.repo_root, sel) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("switchboard: {message}");
            return ExitCode::from(2);
        }
    };
    if chosen.is_empty() {
        eprintln!("switchboard: nothing to do: every selected task is already done");
        return ExitCode::SUCCESS;
    }
    let chosen_ids: Vec<String> = chosen
        .iter()
        .map(|&t| options.plan.plan.tasks[t].task_id.clone())
        .collect();
    options.select = chosen;
    options.exit_when_done = true;
    let mut engine = match engine::start(options).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            return ExitCode::from(2);
        }
    };
    let link = engine.link.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        eprintln!("switchboard: interrupted: stopping every worker (worktrees are kept)");
        let _ = link
            .requests
            .send(engine::link::Request {
                command: Command::Shutdown { halt: true },
                reply: None,
            })
            .await;
    });
    let mut events = engine.events;
    let printer = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(entry) => print_event(&entry, json),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("switchboard: ({n} events not shown)")
                }
                Err(_) => break,
            }
        }
    });
    let outcome = match (&mut engine.done).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("switchboard: the engine stopped unexpectedly: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = printer.await;
    if !json {
        eprint!("{}", summary(&outcome.snapshot));
        eprint!("{}", usage_line(&outcome.snapshot));
    }
    if outcome.interrupted {
        return ExitCode::from(130);
    }
    let all_done = outcome
        .snapshot
        .tasks
        .iter()
        .filter(|t| chosen_ids.contains(&t.id))
        .all(|t| t.state == TaskState::Done);
    if all_done {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_event(e: &Entry, json: bool) {
    if json {
        // JSON escapes control characters itself.
        if let Ok(line) = serde_json::to_string(e) {
            println!("{line}");
        }
        return;
    }
    let time = e.ts.get(11..19).unwrap_or(&e.ts);
    let task = e.task.as_deref().unwrap_or("-");
    // Agents' words (reports, reasons) may hold escape sequences: they are
    // shown escaped, never sent to the terminal.
    let line = match &e.event {
        Event::State {
            state,
            profile,
            reason,
        } => {
            let reason = reason
                .as_ref()
                .map(|r| format!("  ({r})"))
                .unwrap_or_default();
            format!(
                "{time} {task:<6} {:<10} {profile:<20} attempt {}{reason}",
                state.as_str(),
                e.attempt.unwrap_or(0)
            )
        }
        _ => match engine::words::describe(e) {
            Some((_, text)) => format!("{time} {text}"),
            None => return,
        },
    };
    eprintln!("{}", printable(&line));
}

/// What the run's agents reported spending, in one line.
pub fn usage_line(snap: &Snapshot) -> String {
    let sum = snap.usage_total();
    if sum.reported == 0 {
        return "usage: not reported\n".into();
    }
    format!(
        "usage: {} ({} tasks reported, {} not reported)\n",
        sum.total.describe(),
        sum.reported,
        sum.not_reported
    )
}

/// What a row says: where a done task went, else why it is as it is.
fn note(t: &crate::engine::snapshot::TaskView) -> String {
    match t.state {
        TaskState::Done => t.last_line.clone(),
        TaskState::Pending => String::new(),
        _ => t.message.clone().unwrap_or_default(),
    }
}

/// The table printed when a headless run ends.
pub fn summary(snap: &Snapshot) -> String {
    let mut out =
        String::from("\ntask    state       attempts  profile              duration  note\n");
    // The run's own tasks (its selection, with what it pulled in).
    for t in snap.tasks.iter().filter(|t| t.selected) {
        let (start, end) = (
            // This run's attempts: not ones that ended before it began.
            t.attempts
                .iter()
                .find(|a| a.ended_ms.is_none_or(|e| e >= snap.started_ms))
                .map(|a| a.started_ms),
            t.attempts
                .last()
                .and_then(|a| a.ended_ms)
                .or(Some(snap.now_ms)),
        );
        let secs = match (start, end) {
            (Some(s), Some(e)) => format!("{:.1}s", e.saturating_sub(s) as f64 / 1000.0),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:<7} {:<11} {:<9} {:<20} {:<9} {}\n",
            t.id,
            t.state.as_str(),
            t.attempt,
            t.profile,
            secs,
            printable(&note(t))
        ));
    }
    out
}

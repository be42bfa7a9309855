//! A task's detail (k9s's "describe"): where it lives, then each attempt
//! with its profile, times, outcome, exit, checks with their output, the
//! error that ended it, its journal in words and the end of its log.
//! Built from the journal, on request: the attempts' spans come from the
//! one fold ([`super::history::records`]); the rest is read off the same
//! entries, attempt by attempt.

use super::attempt_log::{self, LogTail};
use super::event::{Entry, Event};
use super::snapshot::{AttemptSpan, LogLine};
use super::words;
use crate::plan::ValidPlan;
use crate::worker::protocol::ReportState;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskDetail {
    pub task: String,
    pub title: String,
    pub worktree: Option<String>,
    pub branch: Option<String>,
    /// "merged into switchboard/integration (7097e081e0)".
    pub merged: Option<String>,
    /// The task's journal lines that belong to no attempt (skipped before
    /// it ran, selected, cancelled while pending).
    pub notes: Vec<LogLine>,
    pub attempts: Vec<AttemptDetail>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptDetail {
    pub span: AttemptSpan,
    /// How the agent process ended ("exited 1", "killed by SIGKILL").
    pub exit: Option<String>,
    pub checks: Vec<CheckView>,
    /// What ended it badly: the supervision's reason, a failed state's
    /// reason, or the agent's own error report.
    pub error: Option<String>,
    /// This attempt's journal entries in words, oldest first.
    pub events: Vec<LogLine>,
    /// The end of its pane's log; None when there is none.
    pub log: Option<AttemptLog>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckView {
    pub check: String,
    pub ok: bool,
    /// The check's output: what passed, or the command's failure and its
    /// last lines of stderr.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptLog {
    /// Relative to the repository: `.switchboard/logs/T4.2.log`.
    pub file: String,
    pub size: u64,
    /// It reached its cap; later output is not in it.
    pub capped: bool,
    pub lines: Vec<String>,
}

impl AttemptLog {
    pub fn new(task: &str, attempt: u32, tail: LogTail) -> AttemptLog {
        AttemptLog {
            file: shown_path(task, attempt),
            size: tail.size,
            capped: tail.capped(),
            lines: tail.lines,
        }
    }
}

/// How a log's path is shown: relative to the repository root.
pub fn shown_path(task: &str, attempt: u32) -> String {
    format!(
        ".switchboard/{}/{}",
        attempt_log::DIR,
        attempt_log::file_name(task, attempt)
    )
}

/// The detail of the plan's task `task` (plan index) from `entries`, with
/// `log(attempt)` giving each attempt's log.
pub fn build(
    plan: &ValidPlan,
    task: usize,
    entries: &[Entry],
    log: impl Fn(u32) -> Option<AttemptLog>,
) -> TaskDetail {
    let id = plan.plan.tasks[task].task_id.as_str();
    let record = &super::history::records(plan, entries)[task];
    let view = &record.view;
    let mut detail = TaskDetail {
        task: id.to_string(),
        title: view.title.clone(),
        worktree: view.worktree.clone(),
        branch: view.branch.clone(),
        merged: None,
        notes: Vec::new(),
        attempts: view
            .attempts
            .iter()
            .map(|span| AttemptDetail {
                span: span.clone(),
                exit: None,
                checks: Vec::new(),
                error: None,
                events: Vec::new(),
                log: None,
            })
            .collect(),
    };
    for e in entries.iter().filter(|e| e.task.as_deref() == Some(id)) {
        if let Event::Merged { commit, branch } = &e.event {
            detail.merged = Some(words::merged_into(branch, commit));
        }
        let line = words::log_line(e);
        let Some(a) = e.attempt.and_then(|n| {
            detail
                .attempts
                .iter_mut()
                .rev()
                .find(|a| a.span.attempt == n)
        }) else {
            detail.notes.extend(line);
            continue;
        };
        a.events.extend(line);
        match &e.event {
            Event::Exit { how, .. } => a.exit = Some(how.clone()),
            Event::Validation { check, ok, detail } => a.checks.push(CheckView {
                check: check.clone(),
                ok: *ok,
                detail: detail.clone(),
            }),
            Event::IntegrationCheck {
                ok,
                command,
                detail,
            } => a.checks.push(CheckView {
                check: format!("integration check (merged tree): {command}"),
                ok: *ok,
                detail: detail.clone(),
            }),
            Event::Report {
                state: ReportState::Error,
                message,
            } => {
                a.error = Some(message.clone().unwrap_or_else(|| "reported error".into()));
            }
            Event::Restart(s) | Event::Escalation(s) | Event::Failure(s) => {
                a.error = Some(s.reason.clone());
            }
            Event::State {
                state,
                reason: Some(reason),
                ..
            } if state.is_final() && *state != super::snapshot::TaskState::Done => {
                a.error = Some(reason.clone());
            }
            _ => {}
        }
    }
    for a in &mut detail.attempts {
        a.log = log(a.span.attempt);
    }
    detail
}

#[cfg(test)]
#[path = "detail_tests.rs"]
mod tests;

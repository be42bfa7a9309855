//! Journal entries in human words, for the log pane and headless progress.

use super::event::{Entry, Event};
use super::snapshot::{Light, LogLevel, LogLine, TaskState};
use crate::worker::protocol::ReportState;

/// The entry as a log line, or None for entries too chatty to show.
pub fn log_line(e: &Entry) -> Option<LogLine> {
    let (level, text) = describe(e)?;
    Some(LogLine {
        ts_ms: e.ts_ms,
        level,
        task: e.task.clone(),
        text,
    })
}

/// The sentence and its level, or None for entries too chatty to show.
pub fn describe(e: &Entry) -> Option<(LogLevel, String)> {
    let task = e.task.as_deref().unwrap_or("-");
    let attempt = e.attempt.unwrap_or(0);
    let info = |t: String| Some((LogLevel::Info, t));
    let warn = |t: String| Some((LogLevel::Warn, t));
    let error = |t: String| Some((LogLevel::Error, t));
    match &e.event {
        Event::RunStarted { selection } if selection.is_empty() => {
            info("control room open: nothing running yet (g runs a group, s a task)".into())
        }
        Event::RunStarted { selection } => info(format!("run started: {selection}")),
        Event::RunFinished { summary } => info(format!("run finished: {summary}")),
        Event::Interrupted { signal } => warn(format!(
            "interrupted ({signal}): workers stopped, worktrees kept"
        )),
        Event::State {
            state,
            profile,
            reason,
        } => {
            let reason = reason
                .as_ref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default();
            let text = format!(
                "{task} {} (attempt {attempt}, {profile}){reason}",
                state.as_str()
            );
            match state {
                TaskState::Failed | TaskState::Conflict | TaskState::MergeBlocked => error(text),
                TaskState::Skipped
                | TaskState::Halted
                | TaskState::Cancelled
                | TaskState::Waiting => warn(text),
                _ => info(text),
            }
        }
        Event::Report { state, message } => {
            let msg = message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            let text = format!("{task} reports {}{msg}", state.as_str());
            match state {
                ReportState::Wait | ReportState::Help | ReportState::Error => warn(text),
                _ => info(text),
            }
        }
        Event::Exit { how, .. } => info(format!("{task} agent exited: {how}")),
        Event::Validation { check, ok, .. } => {
            let text = format!(
                "{task} validation {}: {check}",
                if *ok { "passed" } else { "FAILED" }
            );
            if *ok { info(text) } else { error(text) }
        }
        Event::IntegrationCheck { ok, command, .. } => {
            let text = format!(
                "{task} integration check {} on the merged tree: {command}",
                if *ok { "passed" } else { "FAILED" }
            );
            if *ok { info(text) } else { error(text) }
        }
        Event::Merged { commit, branch } => info(format!("{task} {}", merged_into(branch, commit))),
        Event::Conflict { files } => error(format!(
            "{task} conflicts with the integration branch in: {}",
            files.join(", ")
        )),
        Event::PlanRun { tasks } => info(format!(
            "the whole plan selected: {} to run, group by group",
            count(*tasks, "task")
        )),
        Event::GroupRun {
            group,
            prerequisites,
            blocked_by,
        } => {
            let mut text = format!("group {group} selected");
            if !prerequisites.is_empty() {
                text.push_str(&format!("; first its prerequisites: {prerequisites}"));
            }
            if blocked_by.is_empty() {
                info(text)
            } else {
                warn(format!(
                    "{text}; blocked by {blocked_by} (restart them with r)"
                ))
            }
        }
        Event::ConflictWarning {
            files,
            with,
            with_task: None,
        } => warn(format!(
            "{task} conflicts with {with} in {}: its merge will fail as things stand",
            files.join(", ")
        )),
        Event::ConflictWarning { files, with, .. } => warn(format!(
            "{task} and {with} both change {}: the second to merge will conflict",
            files.join(", ")
        )),
        Event::Light { light, .. } => {
            let text = format!("{task} heartbeat {}", light.as_str());
            if *light == Light::Healthy {
                info(text)
            } else {
                warn(text)
            }
        }
        Event::Timeout { reason, .. } => warn(format!("{task} heartbeat timeout: {reason}")),
        Event::Restart(s) => warn(format!(
            "{task} restarting ({}) in {} ms: {}",
            s.profile.as_deref().unwrap_or(""),
            s.delay_ms.unwrap_or(0),
            s.reason
        )),
        Event::Escalation(s) => warn(format!(
            "{task} escalated from {} to {}: {}",
            s.profile.as_deref().unwrap_or(""),
            s.next_profile.as_deref().unwrap_or(""),
            s.reason
        )),
        Event::Failure(s) => error(format!("{task} FAILED: {}", s.reason)),
        Event::Halt(r) => warn(format!(
            "halt #{}: {}/{} workers acknowledged in {:.1} ms",
            r.halt_id, r.acks_received, r.total_workers, r.total_latency_ms
        )),
        Event::Resume => info("resumed: dispatching again".into()),
        Event::Warning { message } if e.task.is_none() => warn(message.clone()),
        Event::Warning { message } => warn(format!("{task}: {message}")),
        Event::Adopted { profile } => info(format!(
            "{task} re-adopted a live worker (attempt {attempt}, {profile})"
        )),
        Event::PromptAnswered { line, sent, .. } => {
            info(format!("{task} prompt rule answered '{sent}' to: {line}"))
        }
        Event::Prompt { line, .. } => warn(format!("{task} asks: {line}")),
        Event::Typed { text } => info(format!("{task} was typed to: {text}")),
        Event::RateLimited {
            profile,
            backoff_ms,
            line,
        } => warn(format!(
            "{task}: rate limited ({line}): profile {profile} starts nothing new for {}",
            super::limits::span_words(*backoff_ms)
        )),
        Event::BudgetWarning(note) => warn(format!("budget warning: {}", note.words())),
        Event::BudgetExceeded(note) => warn(format!(
            "budget exceeded: {}; no new starts (running workers finish)",
            note.words()
        )),
        Event::Usage(u) => info(format!("{task} reports usage: {}", u.describe())),
        Event::TurnFinished => info(format!("{task} finished its turn: checking its work")),
        Event::Preaccepted {
            skips,
            file,
            setting,
        } => info(format!(
            "{task} pre-accepted {skips}: set {setting} in {file}"
        )),
        Event::Nudged { nudge, check } => warn(format!(
            "{task} checks failed ({check}): told the agent to fix it (nudge {nudge})"
        )),
        Event::PoolDispatched {
            pool,
            worker,
            how,
            saved,
        } => {
            let saved = saved
                .as_deref()
                .map(|s| format!("; {s}"))
                .unwrap_or_default();
            let how = match how.as_str() {
                "typed" => "typed into its agent",
                _ => "its agent started",
            };
            info(format!("{task} → {pool} worker {worker} ({how}){saved}"))
        }
        Event::PoolWorkerReplaced {
            pool,
            worker,
            reason,
        } => warn(format!(
            "{pool} worker {worker} died ({reason}): a fresh session replaces it"
        )),
        Event::ClaimTakenOver { reason, .. } => warn(format!("{task}: claim taken over: {reason}")),
        Event::Spawned { .. } | Event::Unknown => None,
    }
}

/// `1 worker`, `3 workers`.
pub fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Where a task's work went, as its row and the log say it.
pub fn merged_into(branch: &str, commit: &str) -> String {
    format!("merged into {branch} ({})", short(commit))
}

fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

/// A length of time as a person says it: `30 min`, `1.5 min`, `45 s`.
pub fn duration(ms: u64) -> String {
    if ms >= 60_000 {
        let min = ms as f64 / 60_000.0;
        let text = format!("{min:.1}");
        format!("{} min", text.trim_end_matches(".0"))
    } else {
        format!("{} s", (ms as f64 / 1000.0).round())
    }
}

/// `ms` (since the epoch) as this machine's local time of day, `10:42`.
pub fn clock_time(ms: u64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_millis_opt(ms as i64) {
        chrono::LocalResult::Single(t) => t.format("%H:%M").to_string(),
        _ => "--:--".into(),
    }
}

/// [`clock_time`] in a zone `offset_secs` east of UTC: the TUI fixes its
/// zone once, so its screens read the same in tests anywhere.
pub fn clock_time_at(ms: u64, offset_secs: i32) -> String {
    let zone = chrono::FixedOffset::east_opt(offset_secs);
    match (chrono::DateTime::from_timestamp_millis(ms as i64), zone) {
        (Some(t), Some(zone)) => t.with_timezone(&zone).format("%H:%M").to_string(),
        _ => "--:--".into(),
    }
}

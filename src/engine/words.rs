//! Journal entries in human words, for the log pane and headless progress.

use super::journal::Entry;
use super::snapshot::{LogLevel, LogLine};

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
    let s = |k: &str| e.str(k).unwrap_or("").to_string();
    let info = |t: String| Some((LogLevel::Info, t));
    let warn = |t: String| Some((LogLevel::Warn, t));
    let error = |t: String| Some((LogLevel::Error, t));
    match e.event.as_str() {
        "run_started" if s("selection").is_empty() => {
            info("control room open: nothing running yet (g runs a group, s a task)".into())
        }
        "run_started" => info(format!("run started: {}", s("selection"))),
        "run_finished" => info(format!("run finished: {}", s("summary"))),
        "interrupted" => warn(format!(
            "interrupted ({}): workers stopped, worktrees kept",
            s("signal")
        )),
        "state" => {
            let state = s("state");
            let reason = e
                .str("reason")
                .map(|r| format!(" — {r}"))
                .unwrap_or_default();
            let text = format!(
                "{task} {state} (attempt {attempt}, {}){reason}",
                s("profile")
            );
            match state.as_str() {
                "failed" | "conflict" => error(text),
                "skipped" | "halted" | "cancelled" | "waiting" => warn(text),
                _ => info(text),
            }
        }
        "report" => {
            let msg = e
                .str("message")
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            let text = format!("{task} reports {}{msg}", s("state"));
            match s("state").as_str() {
                "WAIT" | "HELP" | "ERROR" => warn(text),
                _ => info(text),
            }
        }
        "exit" => info(format!("{task} agent exited: {}", s("how"))),
        "validation" => {
            let ok = e
                .details
                .get("ok")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let text = format!(
                "{task} validation {}: {}",
                if ok { "passed" } else { "FAILED" },
                s("check")
            );
            if ok { info(text) } else { error(text) }
        }
        "merged" => info(format!(
            "{task} {}",
            merged_into(e.str("branch").unwrap_or(""), e.str("commit").unwrap_or(""))
        )),
        "conflict" => error(format!(
            "{task} conflicts with the integration branch in: {}",
            list(e, "files")
        )),
        "group_run" => {
            let mut text = format!("group {} selected", s("group"));
            if !s("prerequisites").is_empty() {
                text.push_str(&format!(
                    "; first its prerequisites: {}",
                    s("prerequisites")
                ));
            }
            if s("blocked_by").is_empty() {
                info(text)
            } else {
                warn(format!(
                    "{text}; blocked by {} (restart them with r)",
                    s("blocked_by")
                ))
            }
        }
        "conflict_warning" if e.str("with_task").is_none() => warn(format!(
            "{task} conflicts with {} in {}: its merge will fail as things stand",
            s("with"),
            list(e, "files")
        )),
        "conflict_warning" => warn(format!(
            "{task} and {} both change {}: the second to merge will conflict",
            s("with"),
            list(e, "files")
        )),
        "light" => {
            let light = s("light");
            let text = format!("{task} heartbeat {light}");
            if light == "HEALTHY" {
                info(text)
            } else {
                warn(text)
            }
        }
        "timeout" => warn(format!("{task} heartbeat timeout: {}", s("reason"))),
        "restart" => warn(format!(
            "{task} restarting ({}) in {} ms: {}",
            s("profile"),
            e.details
                .get("delay_ms")
                .and_then(|v| v.as_u64())
                .unwrap_or(0),
            s("reason")
        )),
        "escalation" => warn(format!(
            "{task} escalated from {} to {}: {}",
            s("profile"),
            s("next_profile"),
            s("reason")
        )),
        "failure" => error(format!("{task} FAILED: {}", s("reason"))),
        "halt" => {
            let n = |k: &str| e.details.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
            let ms = e
                .details
                .get("total_latency_ms")
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0);
            warn(format!(
                "halt #{}: {}/{} workers acknowledged in {ms:.1} ms",
                n("halt_id"),
                n("acks_received"),
                n("total_workers")
            ))
        }
        "resume" => info("resumed: dispatching again".into()),
        "warning" if e.task.is_none() => warn(s("message")),
        "warning" => warn(format!("{task}: {}", s("message"))),
        "spawned" | "heartbeat" => None,
        other => info(format!("{task} {other}")),
    }
}

/// Where a task's work went, as its row and the log say it.
pub fn merged_into(branch: &str, commit: &str) -> String {
    format!("merged into {branch} ({})", short(commit))
}

fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

fn list(e: &Entry, key: &str) -> String {
    e.details
        .get(key)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

//! Agents' own status hooks: switchboard writes a worktree's hook settings
//! (or the preset's argv names the hook, as codex's `notify`) so that the
//! agent calls `switchboard hook <preset>` on its events, and that command
//! turns each event's JSON payload (on stdin, or as its last argument) into
//! a report to the shim.
//!
//! Which event means what is data: the preset's `hooks` section in
//! `config/presets.yaml`. Hooks are the best status source an agent has:
//! they say at once what the screen rules only guess after a quiet second.

use super::protocol::{AgentReport, ReportState, Usage};
use super::report::send_report;
use crate::plan::presets::{HookFormat, HookSpec, PayloadMatch};
use serde_json::Value;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A payload larger than this is not a hook's (Claude's are a few KB).
const MAX_PAYLOAD: u64 = 4 << 20;
/// How long a turn's end waits for its last reply to reach the transcript.
const TRANSCRIPT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
/// How much of the agent's words a report carries.
const MAX_MESSAGE: usize = 200;

impl HookFormat {
    /// The payload field that names the event.
    fn event_field(self) -> &'static str {
        match self {
            HookFormat::ClaudeSettings => "hook_event_name",
            HookFormat::CodexNotify => "type",
        }
    }

    /// The payload field holding the agent's last words of its turn.
    fn last_message_field(self) -> &'static str {
        match self {
            HookFormat::ClaudeSettings => "last_assistant_message",
            HookFormat::CodexNotify => "last-assistant-message",
        }
    }
}

impl PayloadMatch {
    fn matches(&self, payload: &Value) -> bool {
        let starts = |v: &Value| v.as_str().is_some_and(|s| s.starts_with(&self.prefix));
        match payload.get(&self.field) {
            Some(Value::Array(items)) => items.iter().any(starts),
            Some(v) => starts(v),
            None => false,
        }
    }
}

impl HookSpec {
    /// Every event the settings file subscribes to.
    fn events(&self) -> impl Iterator<Item = &String> {
        self.busy
            .iter()
            .chain(&self.waiting)
            .chain(&self.turn_finished)
            .chain(&self.failed)
    }

    /// What one hook payload says, as a report to the shim; `None` for an
    /// event that changes nothing.
    pub fn report_for(&self, payload: &Value) -> Option<AgentReport> {
        let event = payload.get(self.format.event_field())?.as_str()?;
        if self.ignore.iter().any(|m| m.matches(payload)) {
            return None;
        }
        let text = |key: &str| payload.get(key).and_then(Value::as_str);
        let last_words = self.format.last_message_field();
        let is = |list: &[String]| list.iter().any(|e| e == event);
        let (state, message) = if is(&self.busy) {
            (ReportState::Busy, text("tool_name").map(str::to_string))
        } else if is(&self.waiting) {
            let kind = text("notification_type");
            if kind.is_some_and(|k| self.idle_notifications.iter().any(|i| i == k)) {
                (ReportState::Idle, None)
            } else {
                (ReportState::Wait, Some(question(payload)))
            }
        } else if is(&self.turn_finished) {
            (ReportState::Idle, text(last_words).map(str::to_string))
        } else if is(&self.failed) {
            let said = text(last_words).or(text("error"));
            (
                ReportState::Idle,
                Some(format!("turn failed: {}", said.unwrap_or("?"))),
            )
        } else {
            return None;
        };
        let usage = match state {
            ReportState::Idle => self.turn_usage(payload),
            _ => None,
        };
        Some(AgentReport {
            state,
            message: message.map(|m| clip(&m)),
            usage,
        })
    }

    /// The tokens of the turn that just ended, from the transcript (or
    /// codex's rollout: `super::rollout`). Claude Code 2.1.197 runs its Stop hook before the turn's last reply
    /// reaches the transcript (the real-claude test saw every final reply
    /// missing): wait for a record holding the payload's
    /// `last_assistant_message`, a little while, before counting.
    fn turn_usage(&self, payload: &Value) -> Option<Usage> {
        let source = self.usage.as_ref()?;
        if let Some(spec) = &source.rollout {
            return super::rollout::turn_usage(spec, payload, &|v| std::env::var(v).ok());
        }
        let field = source.transcript.as_deref()?;
        let path = payload.get(field)?.as_str()?;
        let prompt = payload.get("prompt_id").and_then(Value::as_str);
        let last = payload
            .get("last_assistant_message")
            .and_then(Value::as_str);
        let read = || std::fs::read_to_string(path).ok();
        let mut text = read()?;
        let deadline = std::time::Instant::now() + TRANSCRIPT_WAIT;
        while let Some(last) = last.filter(|l| !l.trim().is_empty())
            && !holds_reply(&text, last)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(50));
            text = read()?;
        }
        transcript_usage(text.as_bytes(), prompt)
    }

    /// The settings file's content for this worktree: `command` on every
    /// event, merged into what the file already holds (`None`: the format
    /// has no file).
    pub fn settings(&self, existing: Option<Value>, command: &str) -> Option<Value> {
        match self.format {
            HookFormat::CodexNotify => None,
            HookFormat::ClaudeSettings => {
                let mut root = existing
                    .filter(Value::is_object)
                    .unwrap_or_else(|| Value::Object(Default::default()));
                if !root.get("hooks").is_some_and(Value::is_object) {
                    root["hooks"] = Value::Object(Default::default());
                }
                let ours = serde_json::json!({
                    "matcher": "",
                    "hooks": [{"type": "command", "command": command}],
                });
                for event in self.events() {
                    let list = &mut root["hooks"][event.as_str()];
                    if !list.is_array() {
                        *list = Value::Array(Vec::new());
                    }
                    if let Some(list) = list.as_array_mut()
                        && !list.contains(&ours)
                    {
                        list.push(ours.clone());
                    }
                }
                Some(root)
            }
        }
    }

    /// Write the hook settings into `worktree`, calling `exe hook <preset>`;
    /// the file written, if the format has one.
    pub fn install(
        &self,
        worktree: &Path,
        exe: &Path,
        preset: &str,
    ) -> std::io::Result<Option<PathBuf>> {
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let path = worktree.join(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // A file the repository brings along keeps its own settings.
        let existing = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let exe = exe.display().to_string();
        let command =
            shlex::try_join([exe.as_str(), "hook", preset]).map_err(std::io::Error::other)?;
        let Some(settings) = self.settings(existing, &command) else {
            return Ok(None);
        };
        let body = serde_json::to_vec_pretty(&settings).map_err(std::io::Error::other)?;
        std::fs::write(&path, body)?;
        Ok(Some(path))
    }
}

/// The words a waiting event shows: the notification's message, or the
/// tool a permission is asked for and what it would do.
fn question(payload: &Value) -> String {
    if let Some(m) = payload.get("message").and_then(Value::as_str) {
        return m.to_string();
    }
    let tool = payload.get("tool_name").and_then(Value::as_str);
    let input = payload.get("tool_input");
    let what = input
        .and_then(|i| i.get("command").or(i.get("file_path")))
        .and_then(Value::as_str);
    match (tool, what) {
        (Some(t), Some(w)) => format!("permission to use {t}: {w}"),
        (Some(t), None) => format!("permission to use {t}"),
        _ => "asks for permission".to_string(),
    }
}

/// One line, at most [`MAX_MESSAGE`] characters.
fn clip(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(MAX_MESSAGE) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// Whether a transcript has an assistant record whose text is `reply`.
fn holds_reply(transcript: &str, reply: &str) -> bool {
    let reply = reply.trim();
    transcript.lines().rev().any(|line| {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            return false;
        };
        let content = &record["message"]["content"];
        record["type"] == "assistant"
            && content.as_array().is_some_and(|blocks| {
                blocks
                    .iter()
                    .any(|b| b["text"].as_str().is_some_and(|t| t.trim() == reply))
            })
    })
}

/// The tokens of one turn in a Claude Code transcript (JSONL): the
/// assistant records after the user record of `prompt` (the whole file when
/// the prompt is not named or not found). One model reply may be written
/// as several records with the same `message.id` and usage: counted once.
pub fn transcript_usage(reader: impl BufRead, prompt: Option<&str>) -> Option<Usage> {
    let mut records: Vec<Value> = Vec::new();
    let mut start = 0;
    let mut found = false;
    for line in reader.lines().map_while(Result::ok) {
        let Ok(record) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let opens_turn = record.get("type").and_then(Value::as_str) == Some("user")
            && prompt.is_some()
            && record.get("promptId").and_then(Value::as_str) == prompt;
        if opens_turn && !found {
            found = true;
            start = records.len();
        }
        records.push(record);
    }
    let mut total = Usage::default();
    let mut last_id: Option<String> = None;
    let mut seen = false;
    for record in &records[start..] {
        match record.get("type").and_then(Value::as_str) {
            Some("assistant") => {}
            Some("user") => {
                last_id = None;
                continue;
            }
            _ => continue,
        }
        let message = record.get("message");
        let id = message
            .and_then(|m| m.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if id.is_some() && id == last_id {
            continue;
        }
        last_id = id;
        let Some(usage) = message.and_then(|m| m.get("usage")) else {
            continue;
        };
        let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
        let input =
            n("input_tokens") + n("cache_creation_input_tokens") + n("cache_read_input_tokens");
        total = total.plus(Usage {
            input_tokens: Some(input),
            output_tokens: Some(n("output_tokens")),
            cost_usd: None,
        });
        seen = true;
    }
    seen.then_some(total)
}

/// `switchboard hook <preset> [PAYLOAD]`: the agent's hook, its payload
/// the argument if given (codex's notify), else stdin. It never fails the
/// agent: whatever goes wrong is said on stderr and the exit is 0.
pub fn run(preset: &str, payload: Option<&str>) -> ExitCode {
    if let Err(e) = report_hook(preset, payload) {
        eprintln!("switchboard hook: {e}");
    }
    ExitCode::SUCCESS
}

fn report_hook(preset: &str, payload: Option<&str>) -> Result<(), String> {
    let presets = crate::plan::presets::all();
    let spec = presets
        .get(preset)
        .and_then(|p| p.hooks.clone())
        .ok_or_else(|| format!("preset '{preset}' has no hooks"))?;
    let body = match payload {
        Some(arg) => arg.as_bytes().to_vec(),
        None => {
            let mut body = Vec::new();
            std::io::stdin()
                .take(MAX_PAYLOAD)
                .read_to_end(&mut body)
                .map_err(|e| format!("cannot read the payload: {e}"))?;
            body
        }
    };
    let payload: Value =
        serde_json::from_slice(&body).map_err(|e| format!("the payload is not JSON: {e}"))?;
    match spec.report_for(&payload) {
        Some(report) => send_report(&report).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claude() -> HookSpec {
        crate::plan::presets::all()["claude"]
            .hooks
            .clone()
            .expect("claude has hooks")
    }

    /// One JSON payload per line of a captured fixture.
    fn captured(agent: &str, name: &str) -> Vec<Value> {
        let path = format!(
            "{}/tests/fixtures/agents/{agent}/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .lines()
            .map(|l| serde_json::from_str(l).expect("a payload"))
            .collect()
    }

    fn states(spec: &HookSpec, name: &str) -> Vec<(String, Option<ReportState>)> {
        payloads(name)
            .iter()
            .map(|p| {
                let event = p["hook_event_name"].as_str().unwrap().to_string();
                (event, spec.report_for(p).map(|r| r.state))
            })
            .collect()
    }

    #[test]
    fn claudes_captured_hooks_read_as_busy_waiting_and_turn_finished() {
        use ReportState::*;
        let spec = claude();
        let got = states(&spec, "hooks-default-mode.jsonl");
        let want = [
            ("SessionStart", None),
            ("UserPromptSubmit", Some(Busy)),
            ("PreToolUse", Some(Busy)),
            ("PermissionRequest", Some(Wait)),
            ("Notification", Some(Wait)),
            ("PostToolUse", Some(Busy)),
            ("PreToolUse", Some(Busy)),
            ("PermissionRequest", Some(Wait)),
            ("Notification", Some(Wait)),
            ("Stop", Some(Idle)),
            ("SessionEnd", None),
        ];
        let want: Vec<_> = want.iter().map(|(e, s)| (e.to_string(), *s)).collect();
        assert_eq!(got, want);
        let asks = payloads("hooks-default-mode.jsonl");
        let permission = spec.report_for(&asks[3]).unwrap();
        assert!(
            permission.message.as_deref().is_some_and(|m| m
                .starts_with("permission to use Write: ")
                && m.ends_with("hello.txt")),
            "{permission:?}"
        );
        let notice = spec.report_for(&asks[4]).unwrap();
        assert_eq!(
            notice.message.as_deref(),
            Some("Claude needs your permission")
        );
        let stop = spec.report_for(&asks[9]).unwrap();
        assert_eq!(
            stop.message.as_deref(),
            Some("Done: hello.txt is committed.")
        );
    }

    #[test]
    fn a_failed_turn_is_a_finished_one_with_the_error() {
        let spec = claude();
        let p = payloads("hooks-api-error.jsonl");
        let failed = spec.report_for(&p[2]).unwrap();
        assert_eq!(failed.state, ReportState::Idle);
        assert_eq!(
            failed.message.as_deref(),
            Some("turn failed: API Error: Unable to connect to API (ConnectionRefused)")
        );
    }

    #[test]
    fn an_idle_reminder_is_no_question() {
        let spec = claude();
        let p = serde_json::json!({
            "hook_event_name": "Notification",
            "message": "Claude is waiting for your input",
            "notification_type": "idle_prompt",
        });
        assert_eq!(spec.report_for(&p).unwrap().state, ReportState::Idle);
    }

    /// Three model calls of 100 in / 20 out (the scripted model's), as
    /// Claude Code 2.1.197 wrote them.
    const TRANSCRIPT: &str = "hooks-transcript-bypass.jsonl";

    #[test]
    fn a_turns_usage_is_read_from_the_transcript() {
        let path = format!(
            "{}/tests/fixtures/agents/claude-2.1.197/{TRANSCRIPT}",
            env!("CARGO_MANIFEST_DIR")
        );
        let read = |prompt| {
            let file = std::fs::File::open(&path).unwrap();
            transcript_usage(std::io::BufReader::new(file), prompt)
        };
        let turn = read(Some("7af67f96-0ce7-422d-bfff-5c376e807898")).unwrap();
        assert_eq!(
            (turn.input_tokens, turn.output_tokens),
            (Some(300), Some(60))
        );
        assert_eq!(
            turn.cost_usd, None,
            "a transcript has no cost: not reported"
        );
        // An unknown prompt id: the whole transcript.
        assert_eq!(read(Some("nope")).unwrap().output_tokens, Some(60));
    }

    #[test]
    fn a_turns_last_reply_is_found_in_the_transcript() {
        let path = format!(
            "{}/tests/fixtures/agents/claude-2.1.197/{TRANSCRIPT}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).unwrap();
        assert!(holds_reply(&text, "Done: hello.txt is committed.\n"));
        assert!(!holds_reply(&text, "Done: something else."));
    }

    #[test]
    fn one_reply_in_several_records_counts_once_and_only_the_named_turn_counts() {
        let line = |v: Value| format!("{v}\n");
        let reply = |id: &str, out: u64| {
            line(
                serde_json::json!({"type": "assistant", "message": {"id": id,
                "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": out}}}),
            )
        };
        let user = |prompt: &str| line(serde_json::json!({"type": "user", "promptId": prompt}));
        let text = [
            user("p1"),
            reply("m1", 1),
            user("p2"),
            reply("m2", 2),
            reply("m2", 2),
            user("p2"),
            reply("m3", 4),
        ]
        .concat();
        let got = transcript_usage(text.as_bytes(), Some("p2")).unwrap();
        assert_eq!((got.input_tokens, got.output_tokens), (Some(30), Some(6)));
        assert_eq!(transcript_usage("".as_bytes(), None), None, "none reported");
    }

    fn payloads(name: &str) -> Vec<Value> {
        captured("claude-2.1.197", name)
    }

    fn codex_payloads(name: &str) -> Vec<Value> {
        captured("codex-0.171.0", name)
    }

    #[test]
    fn codexs_notify_ends_the_turn_but_not_its_title_side_turn() {
        let spec = crate::plan::presets::all()["codex"]
            .hooks
            .clone()
            .expect("codex has hooks");
        assert_eq!(spec.format, HookFormat::CodexNotify);
        let tui = codex_payloads("notify-interactive.jsonl");
        assert_eq!(tui.len(), 2);
        assert_eq!(spec.report_for(&tui[0]), None, "the title side turn");
        let turn = spec.report_for(&tui[1]).expect("the task's turn");
        assert_eq!(turn.state, ReportState::Idle);
        assert_eq!(turn.message.as_deref(), Some("Done."));
        assert_eq!(
            turn.usage, None,
            "notify carries no usage; this turn's rollout is not here"
        );
        let exec = codex_payloads("notify-exec.jsonl");
        assert_eq!(
            spec.report_for(&exec[0]).map(|r| r.state),
            Some(ReportState::Idle)
        );
        // No settings file: the preset's argv names the hook.
        let dir = tempfile::tempdir().unwrap();
        let wrote = spec
            .install(dir.path(), Path::new("/bin/sb"), "codex")
            .unwrap();
        assert_eq!(wrote, None);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn settings_keep_what_the_file_had_and_are_not_doubled() {
        let spec = claude();
        let existing = serde_json::json!({
            "model": "x",
            "hooks": {"Stop": [{"matcher": "", "hooks": [{"type": "command", "command": "theirs"}]}]}
        });
        let once = spec
            .settings(Some(existing), "'/bin/sb' hook claude")
            .unwrap();
        let twice = spec
            .settings(Some(once.clone()), "'/bin/sb' hook claude")
            .unwrap();
        assert_eq!(once, twice);
        assert_eq!(once["model"], "x");
        let stop = once["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 2, "theirs and ours: {stop:?}");
        assert_eq!(stop[1]["hooks"][0]["command"], "'/bin/sb' hook claude");
        for event in [
            "UserPromptSubmit",
            "PreToolUse",
            "PermissionRequest",
            "StopFailure",
        ] {
            assert!(once["hooks"][event].is_array(), "{event}");
        }
    }
}

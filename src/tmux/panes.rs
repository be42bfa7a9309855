//! Typed control-mode requests: the one-per-poll pane listing, pane capture,
//! keys, and kills. Panes are always targeted by `%id`.

use super::control::ControlClient;
use super::error::{Result, TmuxError};
use super::names::{is_pane_id, quote};
use std::time::Duration;

/// One pane on the server, as one poll of `list-panes -a` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneInfo {
    pub pane_id: String,
    pub session_name: String,
    pub pane_pid: Option<u32>,
    pub pane_dead: bool,
    /// `None` while alive, and for a dead pane whose exit tmux has not reaped
    /// yet (tmux 3.3a can lag; [`ControlClient::list_panes`] nudges it).
    pub pane_dead_status: Option<i32>,
    /// The signal that killed a dead pane's process, when one did.
    pub pane_dead_signal: Option<i32>,
    /// Last activity, seconds since the epoch: `window_activity`, which is the
    /// pane's own in our one-pane windows (tmux 3.3a has no `pane_activity`).
    pub activity: Option<i64>,
    pub pane_current_command: String,
    /// `#{pane_title}`, as the agent set it (the host name when it did not).
    pub title: String,
}

/// Unit separator: it cannot appear in a session name or a command name.
const SEP: char = '\x1f';
/// The title comes last: it is the agent's text, so whatever it holds stays
/// in its own field.
const FIELDS: [&str; 9] = [
    "#{pane_id}",
    "#{session_name}",
    "#{pane_pid}",
    "#{pane_dead}",
    "#{pane_dead_status}",
    "#{pane_dead_signal}",
    "#{window_activity}",
    "#{pane_current_command}",
    "#{pane_title}",
];

/// The `list-panes -a -F …` line [`parse_pane`] reads.
pub(crate) fn list_panes_command() -> String {
    format!("list-panes -a -F {}", quote(&FIELDS.join(&SEP.to_string())))
}

/// One line of the listing; `None` when it is not a pane line at all (wrong
/// field count, no `%id`). A field that fails to parse becomes `None` rather
/// than dropping the pane: a pane missing from a poll would read as vanished.
pub(crate) fn parse_pane(line: &str) -> Option<PaneInfo> {
    let fields: Vec<&str> = line.splitn(FIELDS.len(), SEP).collect();
    let [
        pane_id,
        session,
        pid,
        dead,
        status,
        signal,
        activity,
        current,
        title,
    ] = fields[..]
    else {
        return None;
    };
    if !is_pane_id(pane_id) {
        return None;
    }
    Some(PaneInfo {
        pane_id: pane_id.to_string(),
        session_name: session.to_string(),
        pane_pid: pid.parse().ok(),
        pane_dead: dead == "1",
        pane_dead_status: status.parse().ok(),
        pane_dead_signal: signal.parse().ok(),
        activity: activity.parse().ok(),
        pane_current_command: current.to_string(),
        title: title.to_string(),
    })
}

fn pane_target(pane_id: &str) -> Result<String> {
    if is_pane_id(pane_id) {
        Ok(quote(pane_id))
    } else {
        Err(TmuxError::Invalid(format!("not a pane id: {pane_id:?}")))
    }
}

/// The last `lines` non-blank-tailed lines of a capture, trailing spaces cut.
pub(crate) fn tail(captured: Vec<String>, lines: u32) -> Vec<String> {
    // tmux writes "Pane is dead (status …)" on the bottom row of a dead pane,
    // below the blank rows left under the last output: not the worker's words.
    let mut out: Vec<String> = captured
        .into_iter()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.starts_with("Pane is dead ("))
        .collect();
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    let keep = usize::try_from(lines).unwrap_or(usize::MAX);
    let skip = out.len().saturating_sub(keep);
    out.split_off(skip)
}

impl ControlClient {
    /// Every pane on the server in one request (the poll cycle's only one).
    ///
    /// When a dead pane has neither exit status nor signal yet, also makes tmux reap it
    /// (`run-shell -b true`; see [`Tmux::nudge_reaper`](super::Tmux::nudge_reaper)),
    /// so the status shows on the next poll.
    pub async fn list_panes(&self) -> Result<Vec<PaneInfo>> {
        let lines = self.run(&list_panes_command()).await?;
        let mut panes = Vec::with_capacity(lines.len());
        for line in &lines {
            match parse_pane(line) {
                Some(pane) => panes.push(pane),
                None => tracing::debug!(%line, "skipping unreadable list-panes line"),
            }
        }
        if panes
            .iter()
            .any(|p| p.pane_dead && p.pane_dead_status.is_none() && p.pane_dead_signal.is_none())
        {
            self.run("run-shell -b true").await?;
        }
        Ok(panes)
    }

    /// The last `lines` lines a pane shows, history included (wrapped lines
    /// joined, trailing blank lines and trailing spaces removed).
    pub async fn capture_tail(&self, pane_id: &str, lines: u32) -> Result<Vec<String>> {
        let target = pane_target(pane_id)?;
        if lines == 0 {
            return Ok(Vec::new());
        }
        let captured = self
            .run(&format!("capture-pane -p -J -S -{lines} -t {target}"))
            .await?;
        Ok(tail(captured, lines))
    }

    /// What a pane shows now: its visible lines only (no history, so a
    /// dialog cleared off the screen is not read again), wrapped lines
    /// joined, trailing blank lines and trailing spaces removed.
    pub async fn capture_screen(&self, pane_id: &str) -> Result<Vec<String>> {
        let target = pane_target(pane_id)?;
        let captured = self.run(&format!("capture-pane -p -J -t {target}")).await?;
        Ok(tail(captured, u32::MAX))
    }

    /// Sends key names (`C-c`, `Enter`, `Escape`) as tmux reads them.
    pub async fn send_keys(&self, pane_id: &str, keys: &[&str]) -> Result<()> {
        let target = pane_target(pane_id)?;
        let keys: Vec<String> = keys.iter().map(|k| quote(k)).collect();
        self.run(&format!("send-keys -t {target} -- {}", keys.join(" ")))
            .await
            .map(drop)
    }

    /// Types `text` literally (no key-name lookup), then `Enter` if asked, in
    /// one request so nothing can come between them.
    pub async fn send_text(&self, pane_id: &str, text: &str, enter: bool) -> Result<()> {
        let target = pane_target(pane_id)?;
        let mut line = format!("send-keys -l -t {target} -- {}", quote(text));
        if enter {
            line.push_str(&format!(" ; send-keys -t {target} Enter"));
        }
        self.run(&line).await.map(drop)
    }

    pub async fn kill_pane(&self, pane_id: &str) -> Result<()> {
        let target = pane_target(pane_id)?;
        self.run(&format!("kill-pane -t {target}")).await.map(drop)
    }

    /// Kills a session by exact name.
    pub async fn kill_session(&self, session: &str) -> Result<()> {
        let target = quote(&format!("={session}"));
        self.run(&format!("kill-session -t {target}"))
            .await
            .map(drop)
    }

    /// Kills a session without losing the end of its pane's log. tmux
    /// copies a pane's output to its `pipe-pane` a turn of its event loop
    /// after reading it, and drops what it has not copied when the pane
    /// goes. So: wait until the pane is dead (all its output read; a
    /// worker's shim ends right after its agent), at most `patience` (an
    /// agent still at work is killed anyway), ask tmux once more (a turn
    /// for the copy), then kill. A session already gone is fine.
    pub async fn kill_session_drained(&self, session: &str, patience: Duration) -> Result<()> {
        let target = quote(&format!("={session}:"));
        let dead = format!("display-message -p -t {target} '#{{pane_dead}}'");
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match self.run(&dead).await {
                Ok(out) if out.first().is_some_and(|l| l.trim() == "1") => break,
                Ok(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(DRAIN_POLL).await;
                }
                // Not there (the kill will say), or past patience.
                Ok(_) | Err(TmuxError::Command { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        let _ = self.run(&dead).await;
        match self.kill_session(session).await {
            Err(TmuxError::Command { stderr, .. }) if stderr.contains("can't find") => Ok(()),
            other => other,
        }
    }
}

/// How often [`ControlClient::kill_session_drained`] looks at the pane.
const DRAIN_POLL: Duration = Duration::from_millis(20);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_live_and_dead_panes() {
        let live = "%3\u{1f}sb-k-T1\u{1f}4242\u{1f}0\u{1f}\u{1f}\u{1f}1795317657\u{1f}sim-agent\u{1f}⠐ Claude Code";
        assert_eq!(
            parse_pane(live),
            Some(PaneInfo {
                pane_id: "%3".into(),
                session_name: "sb-k-T1".into(),
                pane_pid: Some(4242),
                pane_dead: false,
                pane_dead_status: None,
                pane_dead_signal: None,
                activity: Some(1795317657),
                pane_current_command: "sim-agent".into(),
                title: "⠐ Claude Code".into(),
            })
        );
        let dead = parse_pane("%4\u{1f}s\u{1f}1\u{1f}1\u{1f}3\u{1f}\u{1f}x\u{1f}\u{1f}").unwrap();
        assert!(dead.pane_dead);
        assert_eq!(dead.pane_dead_status, Some(3));
        assert_eq!(dead.pane_dead_signal, None);
        let killed =
            parse_pane("%5\u{1f}s\u{1f}1\u{1f}1\u{1f}\u{1f}15\u{1f}1\u{1f}\u{1f}").unwrap();
        assert_eq!(
            (killed.pane_dead_status, killed.pane_dead_signal),
            (None, Some(15))
        );
        assert_eq!(dead.activity, None, "unreadable field, pane kept");
        assert_eq!(dead.pane_current_command, "");
    }

    #[test]
    fn rejects_lines_that_are_not_panes() {
        assert_eq!(parse_pane(""), None);
        assert_eq!(parse_pane("%3\u{1f}only"), None);
        assert_eq!(
            parse_pane("x\u{1f}s\u{1f}1\u{1f}0\u{1f}\u{1f}\u{1f}1\u{1f}sh"),
            None
        );
        let short = "%3\u{1f}s\u{1f}1\u{1f}0\u{1f}\u{1f}\u{1f}1\u{1f}sh";
        assert_eq!(parse_pane(short), None);
        // A title may hold anything, the separator too: it is the last field.
        let odd = "%3\u{1f}s\u{1f}1\u{1f}0\u{1f}\u{1f}\u{1f}1\u{1f}sh\u{1f}a\u{1f}b";
        assert_eq!(parse_pane(odd).map(|p| p.title), Some("a\u{1f}b".into()));
    }

    #[test]
    fn the_format_is_one_quoted_argument() {
        let cmd = list_panes_command();
        assert!(cmd.starts_with("list-panes -a -F '#{pane_id}'\"\\037\"'#{session_name}'"));
    }

    #[test]
    fn tail_trims_blank_end_and_keeps_the_last_lines() {
        let captured = ["a", "b  ", "", "c", "", "   ", ""]
            .map(String::from)
            .to_vec();
        assert_eq!(tail(captured.clone(), 2), ["", "c"]);
        assert_eq!(tail(captured.clone(), 10), ["a", "b", "", "c"]);
        assert_eq!(tail(Vec::new(), 3), Vec::<String>::new());
        let dead = [
            "done",
            "",
            "",
            "Pane is dead (status 130, Wed Dec  2 03:22:27 2026)",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(tail(dead, 2), ["done"]);
    }
}

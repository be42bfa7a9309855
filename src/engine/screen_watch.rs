//! One worker's screen as its profile's `screen` rules read it: the last
//! visible lines and title seen, their [`Reading`], and what the engine did
//! about it (a dialog answered, the prompt typed, WAITING on the screen's
//! words, an Enter still to send). The decisions are the core's
//! (`core/screen.rs`); this is the record it keeps per worker.

use crate::plan::screen::{self, AgentState, Reading, ScreenRules};

#[derive(Debug, Default)]
pub struct ScreenWatch {
    lines: Vec<String>,
    title: String,
    pub reading: Reading,
    /// Busy since its turn began: idle after this is a finished turn.
    pub busy_seen: bool,
    /// The known dialog answered while it stays on screen, and when.
    pub answered: Option<(usize, u64)>,
    /// The words the screen made this worker WAITING on, if it did.
    pub waiting_on: Option<String>,
    /// The profile's own prompt rules matched the last lines: they come
    /// first, so the screen's dialogs and questions are left to them.
    pub ruled: bool,
    /// The profile's `typePrompt` has been typed.
    pub prompt_typed: bool,
    /// Text was typed without its Enter (`submit: separate_enter`): send
    /// Enter on its own at this time.
    pub enter_due_ms: Option<u64>,
}

impl ScreenWatch {
    /// New visible lines, or a new title: read them again. True when the
    /// reading changed.
    pub fn update(
        &mut self,
        rules: &ScreenRules,
        lines: Option<Vec<String>>,
        title: Option<&str>,
    ) -> bool {
        let mut moved = false;
        if let Some(lines) = lines.filter(|l| *l != self.lines) {
            self.lines = lines;
            moved = true;
        }
        if let Some(title) = title.filter(|t| *t != self.title) {
            self.title = title.to_string();
            moved = true;
        }
        if !moved {
            return false;
        }
        let reading = screen::read(rules, &self.lines, &self.title);
        if reading.state == Some(AgentState::Busy) {
            self.busy_seen = true;
        }
        let changed = reading != self.reading;
        self.reading = reading;
        changed
    }

    /// The screen's last line of output.
    pub fn last_line(&self) -> Option<&str> {
        crate::engine::prompts::last_output(&self.lines)
    }

    pub fn is_idle(&self) -> bool {
        self.reading.state == Some(AgentState::Idle)
    }

    /// The words a person must act on, when the screen asks for one.
    pub fn asks(&self) -> Option<&str> {
        match &self.reading.state {
            Some(AgentState::Signin { words } | AgentState::Waiting { words }) => Some(words),
            _ => None,
        }
    }

    /// The agent's state in words, for the worker table and `status`:
    /// `working`, `idle at prompt`, `waiting: "<question>"` or a sign-in
    /// rule's words, with the error it shows beside it. `question`: what
    /// else made the worker WAITING (a prompt rule, a question on screen).
    pub fn describe(&self, question: Option<&str>) -> Option<String> {
        let state = match (&self.reading.state, question) {
            (Some(AgentState::Signin { words }), _) => Some(words.clone()),
            (Some(AgentState::Waiting { words }), _) => Some(format!("waiting: \"{words}\"")),
            (_, Some(words)) => Some(format!("waiting: \"{words}\"")),
            (Some(AgentState::Busy), _) => Some("working".to_string()),
            (Some(AgentState::Idle), _) => Some("idle at prompt".to_string()),
            (None, None) if self.busy_seen => Some("working".to_string()),
            (None, None) => None,
        };
        match (state, &self.reading.error) {
            (Some(state), Some(error)) => Some(format!("{state} · {error}")),
            (state, error) => state.or_else(|| error.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ScreenRules {
        serde_norway::from_str(
            "busy: [esc to interrupt]\nidle: ['│ >']\nerror: [Unable to connect to API]\n\
             signin: [{match: Not logged in, say: 'claude: not logged in'}]\n\
             waiting: [Do you want to proceed?]\n",
        )
        .expect("rules")
    }

    fn lines(text: &str) -> Option<Vec<String>> {
        Some(text.lines().map(str::to_string).collect())
    }

    #[test]
    fn the_agent_state_in_words() {
        let r = rules();
        let mut w = ScreenWatch::default();
        assert_eq!(w.describe(None), None);
        assert!(w.update(
            &r,
            lines("Unable to connect to API\nesc to interrupt"),
            None
        ));
        assert!(w.busy_seen);
        assert_eq!(
            w.describe(None).as_deref(),
            Some("working · Unable to connect to API")
        );
        assert!(!w.update(
            &r,
            lines("Unable to connect to API\nesc to interrupt"),
            Some("")
        ));
        w.update(&r, lines("│ >"), None);
        assert!(w.is_idle());
        assert_eq!(w.describe(None).as_deref(), Some("idle at prompt"));
        w.update(&r, lines("Do you want to proceed?"), None);
        assert_eq!(w.asks(), Some("Do you want to proceed?"));
        assert_eq!(
            w.describe(None).as_deref(),
            Some("waiting: \"Do you want to proceed?\"")
        );
        w.update(&r, lines("Not logged in · Please run /login\n│ >"), None);
        assert_eq!(w.describe(None).as_deref(), Some("claude: not logged in"));
        // No rules at all: a question found otherwise.
        let mut plain = ScreenWatch::default();
        assert_eq!(
            plain.describe(Some("Proceed? [y/N]")).as_deref(),
            Some("waiting: \"Proceed? [y/N]\"")
        );
        plain.update(&ScreenRules::default(), lines("anything"), None);
        assert_eq!(plain.describe(None), None);
    }
}

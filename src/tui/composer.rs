//! The composer: one line typed to a worker's agent without attaching
//! (`i`), sent with Enter through the engine, which types it into the pane.
//! A line editor that counts in characters, so any text edits safely.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// One line being edited: characters and a cursor between them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineEdit {
    chars: Vec<char>,
    /// 0..=chars.len(): the cursor stands before `chars[cursor]`.
    cursor: usize,
}

impl LineEdit {
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    pub fn insert(&mut self, c: char) {
        self.chars.insert(self.cursor, c);
        self.cursor += 1;
    }

    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.chars.len());
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.chars.len();
    }

    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            self.chars.remove(self.cursor);
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.chars.len() {
            self.chars.remove(self.cursor);
        }
    }

    /// Ctrl-U: everything before the cursor.
    pub fn clear_before(&mut self) {
        self.chars.drain(..self.cursor);
        self.cursor = 0;
    }

    /// Ctrl-W: the word before the cursor, and the spaces after it.
    pub fn delete_word(&mut self) {
        let mut start = self.cursor;
        while start > 0 && self.chars[start - 1].is_whitespace() {
            start -= 1;
        }
        while start > 0 && !self.chars[start - 1].is_whitespace() {
            start -= 1;
        }
        self.chars.drain(start..self.cursor);
        self.cursor = start;
    }
}

/// The open composer, for one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composer {
    pub task: String,
    pub line: LineEdit,
    pub purpose: Purpose,
}

/// What the typed line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Typed into the agent's pane.
    Type,
    /// The reason a person marks the task done (journaled).
    MarkDone,
}

/// What a key in the composer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeKey {
    Stay,
    Cancel,
    Send(String),
}

impl Composer {
    pub fn new(task: &str) -> Composer {
        Composer {
            task: task.to_string(),
            line: LineEdit::default(),
            purpose: Purpose::Type,
        }
    }

    /// Asks why a task is done, to mark it so.
    pub fn mark_done(task: &str) -> Composer {
        Composer {
            purpose: Purpose::MarkDone,
            ..Composer::new(task)
        }
    }

    pub fn on_key(&mut self, key: &KeyEvent) -> ComposeKey {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let line = &mut self.line;
        match key.code {
            KeyCode::Esc => return ComposeKey::Cancel,
            KeyCode::Enter => return ComposeKey::Send(line.text()),
            KeyCode::Char('a') if ctrl => line.home(),
            KeyCode::Char('e') if ctrl => line.end(),
            KeyCode::Char('b') if ctrl => line.left(),
            KeyCode::Char('f') if ctrl => line.right(),
            KeyCode::Char('u') if ctrl => line.clear_before(),
            KeyCode::Char('w') if ctrl => line.delete_word(),
            KeyCode::Char('h') if ctrl => line.backspace(),
            KeyCode::Char('d') if ctrl => line.delete(),
            // Any other Ctrl or Alt chord is not text.
            KeyCode::Char(_) if ctrl || key.modifiers.contains(KeyModifiers::ALT) => {}
            KeyCode::Char(c) if !c.is_control() => line.insert(c),
            KeyCode::Left => line.left(),
            KeyCode::Right => line.right(),
            KeyCode::Home => line.home(),
            KeyCode::End => line.end(),
            KeyCode::Backspace => line.backspace(),
            KeyCode::Delete => line.delete(),
            _ => {}
        }
        ComposeKey::Stay
    }
}

/// What a waiting task asks, as the composer shows it above the input:
/// the state's reason without the `asks: ` the engine puts before a question
/// read off the screen.
pub fn question_text(message: Option<&str>) -> String {
    match message.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => m.strip_prefix("asks: ").unwrap_or(m).to_string(),
        None => "it waits for an answer".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn typed(c: &mut Composer, text: &str) {
        for ch in text.chars() {
            c.on_key(&key(KeyCode::Char(ch)));
        }
    }

    #[test]
    fn edits_in_characters_not_bytes() {
        let mut c = Composer::new("T4");
        typed(&mut c, "héllo wörld ✓");
        assert_eq!(c.line.cursor(), 13);
        c.on_key(&key(KeyCode::Left));
        c.on_key(&key(KeyCode::Left));
        c.on_key(&key(KeyCode::Backspace));
        assert_eq!(c.line.text(), "héllo wörl ✓");
        c.on_key(&key(KeyCode::Home));
        c.on_key(&key(KeyCode::Delete));
        c.on_key(&key(KeyCode::Right));
        typed(&mut c, "ë");
        assert_eq!(c.line.text(), "éëllo wörl ✓");
        c.on_key(&key(KeyCode::End));
        c.on_key(&ctrl('w'));
        assert_eq!(c.line.text(), "éëllo wörl ");
        c.on_key(&ctrl('w'));
        assert_eq!(c.line.text(), "éëllo ");
        c.on_key(&key(KeyCode::Left));
        c.on_key(&ctrl('u'));
        assert_eq!((c.line.text(), c.line.cursor()), (" ".to_string(), 0));
        // Past either end: nothing happens, nothing panics.
        c.on_key(&key(KeyCode::Left));
        c.on_key(&key(KeyCode::Backspace));
        c.on_key(&key(KeyCode::End));
        c.on_key(&key(KeyCode::Right));
        c.on_key(&key(KeyCode::Delete));
        assert_eq!(c.line.text(), " ");
    }

    #[test]
    fn enter_sends_esc_cancels_chords_are_not_text() {
        let mut c = Composer::new("T4");
        typed(&mut c, "yes");
        c.on_key(&ctrl('x'));
        c.on_key(&KeyEvent::new(KeyCode::Char('x'), KeyModifiers::ALT));
        assert_eq!(
            c.on_key(&key(KeyCode::Enter)),
            ComposeKey::Send("yes".into())
        );
        assert_eq!(c.on_key(&key(KeyCode::Esc)), ComposeKey::Cancel);
    }

    #[test]
    fn the_question_reads_without_its_prefix() {
        assert_eq!(
            question_text(Some("asks: Proceed? [y/N]")),
            "Proceed? [y/N]"
        );
        assert_eq!(question_text(Some("which database?")), "which database?");
        assert_eq!(question_text(None), "it waits for an answer");
    }
}

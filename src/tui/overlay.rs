//! Dialogs drawn over the panels: help, confirmations, the halt report, the
//! diff view, the composer and a task's detail. While one is open it takes
//! every key; its answers are fixed keys (y/n, l/h, Esc), not remappable, so
//! a dialog always reads the same.

use super::QuitChoice;
use super::app::Effect;
use super::composer::Composer;
use super::review::DiffView;
use crate::engine::command::Command;
use crate::engine::detail::TaskDetail;
use crate::engine::snapshot::HaltReport;
use crossterm::event::{KeyCode, KeyEvent};

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help,
    Confirm(Confirm),
    HaltReport(HaltReport),
    /// A task's changes (`d`).
    Diff(Box<DiffView>),
    /// A line for a worker's agent (`i`).
    Compose(Composer),
    /// A task's detail (`D`): its attempts and their logs.
    Detail(DetailView),
}

/// A task's detail (`D`), scrollable; the engine's answer fills it in.
#[derive(Debug, Clone, PartialEq)]
pub struct DetailView {
    pub task: String,
    /// None until the engine answers.
    pub detail: Option<Box<TaskDetail>>,
    /// The first line shown.
    pub scroll: usize,
    /// What the task looked like (state, attempt, attempts) when the detail
    /// was asked for: a snapshot that differs asks again, so an open view
    /// follows the task instead of going stale.
    pub asked_at: Option<DetailMark>,
}

/// The parts of a task's row whose change makes its detail worth asking again.
pub type DetailMark = (crate::engine::snapshot::TaskState, u32, usize);

impl DetailView {
    pub fn new(task: String) -> DetailView {
        DetailView {
            task,
            detail: None,
            scroll: 0,
            asked_at: None,
        }
    }

    /// Scroll by a key; `page` is the rows on screen, `total` the lines.
    /// Returns whether the key closes the view.
    pub fn on_key(&mut self, key: &KeyEvent, page: usize, total: usize) -> bool {
        let last = total.saturating_sub(page);
        let step = |by: isize, at: usize| at.saturating_add_signed(by).min(last);
        let page = page.max(1) as isize;
        self.scroll = match key.code {
            KeyCode::Esc | KeyCode::Char('q' | 'D') => return true,
            KeyCode::Down | KeyCode::Char('j') => step(1, self.scroll),
            KeyCode::Up | KeyCode::Char('k') => step(-1, self.scroll),
            KeyCode::PageDown | KeyCode::Char(' ') => step(page, self.scroll),
            KeyCode::PageUp => step(-page, self.scroll),
            KeyCode::Home | KeyCode::Char('g') => 0,
            KeyCode::End | KeyCode::Char('G') => last,
            _ => self.scroll,
        };
        false
    }
}

/// A question that needs a yes before anything happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    Halt,
    Kill {
        task: String,
        /// Unfinished tasks that depend on it: they will be skipped.
        dependents: usize,
    },
    /// The engine refused a spawn because of unmet dependencies.
    SpawnUnmet {
        task: String,
        message: String,
    },
    Quit,
}

impl Confirm {
    pub fn title(&self) -> &'static str {
        match self {
            Confirm::Halt => "Halt",
            Confirm::Kill { .. } => "Kill",
            Confirm::SpawnUnmet { .. } => "Spawn",
            Confirm::Quit => "Quit",
        }
    }

    /// The question, one line each.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Confirm::Halt => vec!["Halt every worker? y/n".into()],
            Confirm::Kill {
                task,
                dependents: 0,
            } => vec![
                format!("Kill worker {task}? y/n"),
                "The task is cancelled, not restarted.".into(),
            ],
            Confirm::Kill { task, dependents } => vec![
                format!(
                    "Kill worker {task}: {} depend{} on it.",
                    crate::engine::words::count(*dependents, "unfinished task"),
                    if *dependents == 1 { "s" } else { "" }
                ),
                format!("y  kill it and give them up: {task} is cancelled, they are skipped"),
                format!("k  kill it but keep them: {task} goes back to pending, they wait"),
                "n  neither".into(),
            ],
            Confirm::SpawnUnmet { task, message } => vec![
                format!("The engine refused: {message}"),
                format!("Spawn {task} anyway, before its dependencies? y/n"),
            ],
            Confirm::Quit => vec![
                "Workers are still running.".into(),
                "Leave workers running (l) / Halt them (h) / Cancel (Esc)".into(),
            ],
        }
    }

    /// The answer to `key`: Some(Some(effect)) to act, Some(None) to close
    /// without acting, None to keep asking.
    fn answer(&self, key: &KeyEvent) -> Option<Option<Effect>> {
        let yes = matches!(key.code, KeyCode::Char('y' | 'Y'));
        let no = matches!(key.code, KeyCode::Char('n' | 'N') | KeyCode::Esc);
        match self {
            Confirm::Quit => match key.code {
                KeyCode::Char('l' | 'L') => Some(Some(Effect::Quit(QuitChoice::LeaveRunning))),
                KeyCode::Char('h' | 'H') => Some(Some(Effect::Quit(QuitChoice::HaltWorkers))),
                KeyCode::Esc | KeyCode::Char('n' | 'N' | 'c' | 'C') => Some(None),
                _ => None,
            },
            Confirm::Kill { task, dependents }
                if *dependents > 0 && matches!(key.code, KeyCode::Char('k' | 'K')) =>
            {
                Some(Some(Effect::Call(Command::Kill {
                    task: task.clone(),
                    keep_dependents: true,
                })))
            }
            _ if no => Some(None),
            _ if !yes => None,
            Confirm::Halt => Some(Some(Effect::Call(Command::Halt))),
            Confirm::Kill { task, .. } => Some(Some(Effect::Call(Command::Kill {
                task: task.clone(),
                keep_dependents: false,
            }))),
            Confirm::SpawnUnmet { task, .. } => Some(Some(Effect::Call(Command::Spawn {
                task: task.clone(),
                force: true,
            }))),
        }
    }
}

impl Overlay {
    /// Handle a key while open: (close?, effect). (The detail view scrolls:
    /// the app hands it its keys with the sizes, [`DetailView::on_key`].)
    pub fn on_key(&self, key: &KeyEvent, is_help_key: bool) -> (bool, Option<Effect>) {
        match self {
            Overlay::Detail(_) => (matches!(key.code, KeyCode::Esc), None),
            Overlay::Confirm(confirm) => match confirm.answer(key) {
                Some(effect) => (true, effect),
                None => (false, None),
            },
            Overlay::Help => {
                let close = is_help_key
                    || matches!(key.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q'));
                (close, None)
            }
            Overlay::HaltReport(_) => {
                let close = matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | ' ')
                );
                (close, None)
            }
            // They edit themselves: the app hands them their keys.
            Overlay::Diff(_) | Overlay::Compose(_) => (false, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn halt_needs_a_yes() {
        let o = Overlay::Confirm(Confirm::Halt);
        assert_eq!(o.on_key(&key('x'), false), (false, None));
        assert_eq!(o.on_key(&key('n'), false), (true, None));
        assert_eq!(
            o.on_key(&key('y'), false),
            (true, Some(Effect::Call(Command::Halt)))
        );
    }

    #[test]
    fn quit_offers_leave_halt_or_cancel() {
        let o = Overlay::Confirm(Confirm::Quit);
        assert_eq!(
            o.on_key(&key('l'), false),
            (true, Some(Effect::Quit(QuitChoice::LeaveRunning)))
        );
        assert_eq!(
            o.on_key(&key('h'), false),
            (true, Some(Effect::Quit(QuitChoice::HaltWorkers)))
        );
        let esc = KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(o.on_key(&esc, false), (true, None));
        assert_eq!(o.on_key(&key('y'), false), (false, None));
    }

    #[test]
    fn spawn_anyway_forces() {
        let o = Overlay::Confirm(Confirm::SpawnUnmet {
            task: "T9".into(),
            message: "waits for T4".into(),
        });
        let want = Effect::Call(Command::Spawn {
            task: "T9".into(),
            force: true,
        });
        assert_eq!(o.on_key(&key('Y'), false), (true, Some(want)));
    }

    #[test]
    fn the_detail_scrolls_within_its_lines_and_closes() {
        let mut view = DetailView::new("T1".into());
        let press =
            |v: &mut DetailView, code| v.on_key(&KeyEvent::new(code, KeyModifiers::NONE), 10, 25);
        assert!(!press(&mut view, KeyCode::Char('j')));
        assert_eq!(view.scroll, 1);
        press(&mut view, KeyCode::PageDown);
        assert_eq!(view.scroll, 11);
        press(&mut view, KeyCode::End);
        assert_eq!(view.scroll, 15, "the last page, not past it");
        press(&mut view, KeyCode::PageDown);
        assert_eq!(view.scroll, 15);
        press(&mut view, KeyCode::Home);
        press(&mut view, KeyCode::Up);
        assert_eq!(view.scroll, 0);
        assert!(press(&mut view, KeyCode::Char('D')));
        assert!(press(&mut view, KeyCode::Esc));
    }

    #[test]
    fn help_closes_on_its_own_key_or_esc() {
        assert_eq!(Overlay::Help.on_key(&key('j'), false), (false, None));
        assert_eq!(Overlay::Help.on_key(&key('?'), true), (true, None));
    }
}

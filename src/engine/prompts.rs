//! Prompt rules (the auto-rescuer): an agent profile's `promptRules` watch the
//! bottom of a worker's pane. A rule with `send` answers the question by
//! typing it; one without flags the worker WAITING until the question is gone.
//!
//! The pane text comes from the poll's captures of changed panes, so rules
//! cost no tmux call of their own.

use crate::plan::PromptRule;

/// The last line of output in a pane's tail, as `ControlClient::capture_tail`
/// reads it (tmux's own "Pane is dead" notice already left out there).
pub fn last_output(tail: &[String]) -> Option<&str> {
    tail.iter()
        .rev()
        .map(|l| l.trim_end())
        .find(|l| !l.trim().is_empty())
}

/// The first rule whose text (plain, case-sensitive) is on one of the tail's
/// lines: its index, the line, and how many non-blank lines follow it.
pub fn matching<'t>(rules: &[PromptRule], tail: &'t [String]) -> Option<(usize, &'t str, usize)> {
    rules.iter().enumerate().find_map(|(i, rule)| {
        let at = tail
            .iter()
            .rposition(|line| !rule.pattern.is_empty() && line.contains(&rule.pattern))?;
        let after = tail[at + 1..]
            .iter()
            .filter(|l| !l.trim().is_empty())
            .count();
        Some((i, tail[at].trim(), after))
    })
}

/// Lines a question may have under it and still be open: a menu of answers.
const MENU_LINES: usize = 4;

/// What a worker's prompt rules have seen: the question on screen, if any.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PromptSeen {
    /// The rule and its line as first seen. The same line with the answer
    /// typed after it (`Overwrite? [y/n] y`) is the same question.
    question: Option<(usize, String)>,
    /// Lines below the question when last seen: output growing under it
    /// means it was answered.
    lines_after: usize,
    /// A rule without `send` put the worker in WAITING.
    pub waiting: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptChange {
    /// A new question: answer it (rule with `send`) or wait (rule without).
    Ask(usize),
    /// The question we waited on was answered, or is gone.
    Answered,
    Nothing,
}

impl PromptSeen {
    /// The question's line as first seen, if one is on screen.
    pub fn line(&self) -> Option<&str> {
        self.question.as_ref().map(|(_, line)| line.as_str())
    }

    /// Follow the question across polls: `found` is what [`matching`] found.
    /// A question is new when its rule or its line differs from the one seen
    /// last; a redraw of the same one (a menu, fewer lines below it) is not,
    /// so it is never answered twice. The known blind spot: the very same
    /// line asked again while the first is still on screen.
    pub fn step(&mut self, found: Option<(usize, &str, usize)>) -> PromptChange {
        let Some((rule, line, after)) = found else {
            self.question = None;
            self.lines_after = 0;
            return if std::mem::take(&mut self.waiting) {
                PromptChange::Answered
            } else {
                PromptChange::Nothing
            };
        };
        let same = self
            .question
            .as_ref()
            .is_some_and(|(r, first)| *r == rule && line.starts_with(first.as_str()));
        if !same {
            self.question = Some((rule, line.to_string()));
            self.lines_after = after;
            // Output under it means it was answered before we looked (a
            // worker re-adopted by a new engine): not a question now.
            return if after <= MENU_LINES {
                PromptChange::Ask(rule)
            } else {
                PromptChange::Nothing
            };
        }
        let grew = after > self.lines_after;
        self.lines_after = after;
        if grew && std::mem::take(&mut self.waiting) {
            PromptChange::Answered
        } else {
            PromptChange::Nothing
        }
    }
}

/// Whether a quiet pane's bottom reads as a question a person must answer,
/// for any command, with no rule written for it: the question's line.
///
/// Read as questions: a last line ending in `?` (or `? ` and a default), a
/// yes/no choice (`[y/N]`, `(Y)es/(N)o`, `(yes/no)`), `Press Enter` / `press
/// any key`, and a numbered menu with a cursor (`❯ 1. Yes`, `> 2) No`), whose
/// question is the line above it.
pub fn reads_as_question(tail: &[String]) -> Option<&str> {
    let lines: Vec<&str> = tail
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    let last = *lines.last()?;
    let lower = last.to_lowercase();
    const CHOICES: [&str; 8] = [
        "[y/n]",
        "(y/n)",
        "(y)es/(n)o",
        "(yes/no)",
        "[yes/no]",
        "press enter",
        "press any key",
        "press return",
    ];
    if CHOICES.iter().any(|c| lower.contains(c)) || ends_as_question(last) {
        return Some(last);
    }
    // A menu: one of the bottom lines is a cursor on a numbered choice.
    let bottom = &lines[lines.len().saturating_sub(MENU_LINES + 2)..];
    let cursor = bottom.iter().position(|l| is_menu_cursor(l))?;
    let first_choice = bottom[..cursor]
        .iter()
        .rposition(|l| !is_menu_choice(l))
        .map_or(0, |i| i + 1);
    let above = first_choice.checked_sub(1).map(|i| bottom[i]);
    Some(above.unwrap_or(bottom[cursor]))
}

/// `Continue?`, `Overwrite file? (default: no)`: a `?` ends the line or its
/// sentence.
fn ends_as_question(line: &str) -> bool {
    line.ends_with('?')
        || line
            .rsplit_once("? ")
            .is_some_and(|(_, rest)| rest.len() <= 20 && rest.starts_with(['(', '[']))
}

fn is_menu_cursor(line: &str) -> bool {
    let Some(rest) = ["❯", "›", ">", "→", "▸"]
        .iter()
        .find_map(|c| line.strip_prefix(c))
    else {
        return false;
    };
    is_menu_choice(rest.trim_start())
}

/// `1. Yes`, `2) No`.
fn is_menu_choice(line: &str) -> bool {
    let line = line.trim_start_matches(['❯', '›', '>', '→', '▸', ' ']);
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && matches!(line[digits..].chars().next(), Some('.' | ')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, send: Option<&str>) -> PromptRule {
        PromptRule {
            pattern: pattern.into(),
            send: send.map(str::to_string),
        }
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn the_first_rule_seen_on_the_tail_wins_with_the_lines_below_it() {
        let rules = [
            rule("Do you want to proceed?", Some("1")),
            rule("[y/n]", None),
        ];
        let tail = lines("Edit src/main.rs\nDo you want to proceed?\n❯ 1. Yes\n  2. No\n");
        assert_eq!(
            matching(&rules, &tail),
            Some((0, "Do you want to proceed?", 2))
        );
        assert_eq!(
            matching(&rules, &lines("Overwrite? [y/n] ")),
            Some((1, "Overwrite? [y/n]", 0))
        );
        assert!(matching(&rules, &lines("all good")).is_none());
        assert!(matching(&[rule("", None)], &lines("anything")).is_none());
    }

    #[test]
    fn a_question_is_asked_once_and_answered_when_output_grows_under_it() {
        let q = "Overwrite a? [y/n]";
        let mut seen = PromptSeen::default();
        assert_eq!(seen.step(Some((1, q, 0))), PromptChange::Ask(1));
        seen.waiting = true;
        // The same screen again, or a menu redrawn with fewer lines: waiting.
        assert_eq!(seen.step(Some((1, q, 0))), PromptChange::Nothing);
        assert!(seen.waiting);
        // The answer typed after it, then output below it: answered, and not
        // asked again as it scrolls up.
        assert_eq!(
            seen.step(Some((1, "Overwrite a? [y/n] n", 0))),
            PromptChange::Nothing
        );
        assert_eq!(
            seen.step(Some((1, "Overwrite a? [y/n] n", 2))),
            PromptChange::Answered
        );
        assert_eq!(
            seen.step(Some((1, "Overwrite a? [y/n] n", 5))),
            PromptChange::Nothing
        );
        // Another question of the same rule right below: asked.
        assert_eq!(
            seen.step(Some((1, "Overwrite b? [y/n]", 0))),
            PromptChange::Ask(1)
        );
        seen.waiting = true;
        // A dialog that disappears once answered.
        assert_eq!(seen.step(None), PromptChange::Answered);
        assert_eq!(seen.step(None), PromptChange::Nothing);
    }

    #[test]
    fn a_question_first_seen_with_output_under_it_was_already_answered() {
        let mut seen = PromptSeen::default();
        assert_eq!(
            seen.step(Some((0, "Overwrite? [y/n] y", 6))),
            PromptChange::Nothing
        );
        assert_eq!(
            seen.step(Some((0, "Overwrite? [y/n] y", 7))),
            PromptChange::Nothing
        );
        assert_eq!(
            seen.step(Some((0, "Overwrite b? [y/n]", 0))),
            PromptChange::Ask(0)
        );
    }

    #[test]
    fn an_answered_question_redrawn_is_not_answered_again() {
        let mut seen = PromptSeen::default();
        let q = "Do you want to proceed?";
        assert_eq!(seen.step(Some((0, q, 3))), PromptChange::Ask(0));
        // The dialog redrawn with fewer lines under it, before it closes.
        assert_eq!(seen.step(Some((0, q, 1))), PromptChange::Nothing);
        assert_eq!(seen.step(None), PromptChange::Nothing);
        // The next dialog, once the first is gone: asked.
        assert_eq!(seen.step(Some((0, q, 3))), PromptChange::Ask(0));
    }

    #[test]
    fn questions_are_read_from_any_command_s_screen() {
        let q = |text: &str| reads_as_question(&lines(text)).map(str::to_string);
        assert_eq!(q("Proceed? [y/N] "), Some("Proceed? [y/N]".into()));
        assert_eq!(
            q("compiling\nOverwrite a.txt? (y/n)"),
            Some("Overwrite a.txt? (y/n)".into())
        );
        assert_eq!(
            q("Delete it (Y)es/(N)o"),
            Some("Delete it (Y)es/(N)o".into())
        );
        assert_eq!(
            q("Press Enter to continue"),
            Some("Press Enter to continue".into())
        );
        assert_eq!(
            q("Which database should I use?"),
            Some("Which database should I use?".into())
        );
        assert_eq!(
            q("Use the key? (recommended)"),
            Some("Use the key? (recommended)".into())
        );
        let menu = "Do you trust the files in this folder?\n\n❯ 1. Yes, I trust this folder\n  2. No, exit\n";
        assert_eq!(
            q(menu),
            Some("Do you trust the files in this folder?".into())
        );
        let menu = "Choose how you want to use Codex\n  1. Sign in\n> 2. Use an API key\n";
        assert_eq!(q(menu), Some("Choose how you want to use Codex".into()));
        // Not questions: output, a shell prompt, a list without a cursor.
        assert_eq!(q("wrote a.txt\nall done"), None);
        assert_eq!(q("user@host:~/repo$ "), None);
        assert_eq!(q("steps:\n1. build\n2. test"), None);
        assert_eq!(q("why? because it was faster"), None);
        assert_eq!(q(""), None);
    }

    #[test]
    fn last_output_skips_blank_lines_and_tmux_notices() {
        // Through the capture's own trimming, as the poll delivers tails.
        let tail = crate::tmux::panes::tail(
            lines("compiling\nwrote a.txt\n\nPane is dead (status 0, Tue)\n"),
            8,
        );
        assert_eq!(last_output(&tail), Some("wrote a.txt"));
        assert_eq!(last_output(&lines("\n \n")), None);
    }
}

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

//! Colours and symbols. Every status has a symbol or word of its own, so the
//! screen reads the same with `NO_COLOR` set (which turns colour off entirely).

use crate::engine::snapshot::{AttemptOutcome, Light, RunPhase, TaskState};
use ratatui::style::{Color, Modifier, Style};

/// Orange is not among the 16 ANSI colours; 208 is the xterm-256 orange.
const ORANGE: Color = Color::Indexed(208);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to something non-empty (no-color.org).
    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    pub fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn bold(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    /// The selected row: reversed works with or without colour.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn light(self, light: Light) -> Style {
        self.fg(light_color(light))
    }

    pub fn state(self, state: TaskState) -> Style {
        let base = self.fg(state_color(state));
        if state.needs_attention() {
            base.add_modifier(Modifier::BOLD)
        } else {
            base
        }
    }

    pub fn phase(self, phase: RunPhase) -> Style {
        let color = match phase {
            RunPhase::Idle => Color::Gray,
            RunPhase::Running => Color::Green,
            RunPhase::Halting => Color::Yellow,
            RunPhase::Halted => Color::Red,
            RunPhase::Finished => Color::Cyan,
        };
        self.fg(color).add_modifier(Modifier::BOLD)
    }

    /// An actual attempt bar on the timeline; None is a running attempt.
    pub fn outcome(self, outcome: Option<AttemptOutcome>) -> Style {
        self.fg(outcome_color(outcome))
    }
}

pub fn light_symbol(light: Light) -> &'static str {
    match light {
        Light::Healthy => "●",
        Light::Late => "◐",
        Light::Missing => "○",
        Light::Dead => "✖",
        Light::Stalled => "◌",
        Light::Waiting => "?",
        Light::Idle => "·",
    }
}

pub fn light_color(light: Light) -> Color {
    match light {
        Light::Healthy => Color::Green,
        Light::Late => Color::Yellow,
        Light::Missing => ORANGE,
        Light::Dead => Color::Red,
        Light::Stalled => Color::Magenta,
        Light::Waiting => Color::Cyan,
        Light::Idle => Color::Gray,
    }
}

/// The legend order: from alive to gone, then the two non-death lights.
pub const LIGHTS: [Light; 7] = [
    Light::Healthy,
    Light::Late,
    Light::Missing,
    Light::Dead,
    Light::Stalled,
    Light::Waiting,
    Light::Idle,
];

fn state_color(state: TaskState) -> Color {
    match state {
        TaskState::Pending | TaskState::Ready => Color::Gray,
        TaskState::Assigned | TaskState::Running => Color::Blue,
        TaskState::Validating | TaskState::Merging => Color::Cyan,
        TaskState::MergeHeld => Color::Yellow,
        TaskState::Waiting => Color::Yellow,
        TaskState::Done => Color::Green,
        TaskState::Failed => Color::Red,
        TaskState::Conflict | TaskState::MergeBlocked => Color::Magenta,
        TaskState::Halted => Color::Yellow,
        TaskState::Skipped | TaskState::Cancelled => Color::DarkGray,
    }
}

pub fn outcome_color(outcome: Option<AttemptOutcome>) -> Color {
    match outcome {
        None => Color::Blue,
        Some(AttemptOutcome::Done) => Color::Green,
        Some(AttemptOutcome::Failed | AttemptOutcome::Crashed) => Color::Red,
        Some(AttemptOutcome::Halted) => Color::Yellow,
        Some(AttemptOutcome::Cancelled | AttemptOutcome::Skipped) => Color::Gray,
        Some(AttemptOutcome::Conflict | AttemptOutcome::MergeBlocked) => Color::Magenta,
    }
}

/// Bar fill per outcome, so bars differ without colour too.
pub fn outcome_symbol(outcome: Option<AttemptOutcome>) -> &'static str {
    match outcome {
        None => "▓",
        Some(AttemptOutcome::Done) => "█",
        Some(AttemptOutcome::Failed | AttemptOutcome::Crashed) => "✗",
        Some(AttemptOutcome::Halted) => "‖",
        Some(AttemptOutcome::Cancelled | AttemptOutcome::Skipped) => "─",
        // Both: the work is there, the integration branch did not take it.
        Some(AttemptOutcome::Conflict | AttemptOutcome::MergeBlocked) => "#",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_light_has_its_own_symbol() {
        let mut symbols: Vec<_> = LIGHTS.iter().map(|l| light_symbol(*l)).collect();
        symbols.sort();
        symbols.dedup();
        assert_eq!(symbols.len(), LIGHTS.len());
    }

    #[test]
    fn no_color_theme_sets_no_colours() {
        let plain = Theme { color: false };
        for light in LIGHTS {
            assert_eq!(plain.light(light).fg, None);
        }
        assert_eq!(plain.dim().fg, None);
        assert_eq!(Theme { color: true }.light(Light::Missing).fg, Some(ORANGE));
    }
}

//! The TUI's one vocabulary: every key (and click) becomes an [`Action`];
//! the actions that are engine requests become a [`Command`] in one place.

use crate::engine::command::Command;
use serde::{Deserialize, Serialize};

/// Everything a person can ask of the control room from the keyboard.
///
/// The serde names are the keys of `config/keymap.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    SelectNext,
    SelectPrev,
    PageDown,
    PageUp,
    SelectFirst,
    SelectLast,
    NextAttention,
    Attach,
    Detail,
    Diff,
    Shell,
    Compose,
    Spawn,
    RunGroup,
    RunAll,
    Kill,
    Restart,
    Recheck,
    RebaseMerge,
    MarkDone,
    Halt,
    Resume,
    Filter,
    ClearFilter,
    CycleSort,
    ToggleLog,
    LogOlder,
    LogNewer,
    ZoomIn,
    ZoomOut,
    ScrollLeft,
    ScrollRight,
    ToggleFollow,
    Help,
    Redraw,
    Suspend,
    Quit,
}

impl Action {
    /// Every action, in the order the help overlay lists them.
    pub const ALL: [Action; 37] = [
        Action::SelectNext,
        Action::SelectPrev,
        Action::PageDown,
        Action::PageUp,
        Action::SelectFirst,
        Action::SelectLast,
        Action::NextAttention,
        Action::Attach,
        Action::Detail,
        Action::Diff,
        Action::Shell,
        Action::Compose,
        Action::Spawn,
        Action::RunGroup,
        Action::RunAll,
        Action::Kill,
        Action::Restart,
        Action::Recheck,
        Action::RebaseMerge,
        Action::MarkDone,
        Action::Halt,
        Action::Resume,
        Action::Filter,
        Action::ClearFilter,
        Action::CycleSort,
        Action::ToggleLog,
        Action::LogOlder,
        Action::LogNewer,
        Action::ZoomIn,
        Action::ZoomOut,
        Action::ScrollLeft,
        Action::ScrollRight,
        Action::ToggleFollow,
        Action::Help,
        Action::Redraw,
        Action::Suspend,
        Action::Quit,
    ];

    /// The name used in the keymap file.
    pub fn name(self) -> &'static str {
        match self {
            Action::SelectNext => "select_next",
            Action::SelectPrev => "select_prev",
            Action::PageDown => "page_down",
            Action::PageUp => "page_up",
            Action::SelectFirst => "select_first",
            Action::SelectLast => "select_last",
            Action::NextAttention => "next_attention",
            Action::Attach => "attach",
            Action::Detail => "detail",
            Action::Diff => "diff",
            Action::Shell => "shell",
            Action::Compose => "compose",
            Action::Spawn => "spawn",
            Action::RunGroup => "run_group",
            Action::RunAll => "run_all",
            Action::Kill => "kill",
            Action::Restart => "restart",
            Action::Recheck => "recheck",
            Action::RebaseMerge => "rebase_merge",
            Action::MarkDone => "mark_done",
            Action::Halt => "halt",
            Action::Resume => "resume",
            Action::Filter => "filter",
            Action::ClearFilter => "clear_filter",
            Action::CycleSort => "cycle_sort",
            Action::ToggleLog => "toggle_log",
            Action::LogOlder => "log_older",
            Action::LogNewer => "log_newer",
            Action::ZoomIn => "zoom_in",
            Action::ZoomOut => "zoom_out",
            Action::ScrollLeft => "scroll_left",
            Action::ScrollRight => "scroll_right",
            Action::ToggleFollow => "toggle_follow",
            Action::Help => "help",
            Action::Redraw => "redraw",
            Action::Suspend => "suspend",
            Action::Quit => "quit",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// What the help overlay says the action does.
    pub fn description(self) -> &'static str {
        match self {
            Action::SelectNext => "select the next worker",
            Action::SelectPrev => "select the previous worker",
            Action::PageDown => "select a page further down",
            Action::PageUp => "select a page further up",
            Action::SelectFirst => "select the first worker",
            Action::SelectLast => "select the last worker",
            Action::NextAttention => "next task needing attention",
            Action::Attach => "attach to the tmux session",
            Action::Detail => "detail: attempts and logs",
            Action::Diff => "review the task's changes",
            Action::Shell => "a shell in its worktree",
            Action::Compose => "type a line to the agent",
            Action::Spawn => "spawn the selected task now",
            Action::RunGroup => "run the task's whole group",
            Action::RunAll => "run the whole plan",
            Action::Kill => "kill the worker (asks)",
            Action::Restart => "restart the worker",
            Action::Recheck => "check a failed task again",
            Action::RebaseMerge => "rebase a conflict, merge",
            Action::MarkDone => "mark done by hand (asks)",
            Action::Halt => "halt every worker (asks)",
            Action::Resume => "resume after a halt",
            Action::Filter => "filter workers by text",
            Action::ClearFilter => "clear the filter",
            Action::CycleSort => "cycle the sort column",
            Action::ToggleLog => "log: events / worker pane",
            Action::LogOlder => "log: scroll back",
            Action::LogNewer => "log: scroll to newer",
            Action::ZoomIn => "timeline: zoom in",
            Action::ZoomOut => "timeline: zoom out",
            Action::ScrollLeft => "timeline: scroll back",
            Action::ScrollRight => "timeline: scroll forward",
            Action::ToggleFollow => "timeline: follow now",
            Action::Help => "show or hide this help",
            Action::Redraw => "redraw the whole screen",
            Action::Suspend => "suspend (fg to return)",
            Action::Quit => "quit (asks about workers)",
        }
    }

    /// The engine request this action is, for the selected task and its group;
    /// None for actions the TUI handles itself or that must be confirmed first.
    pub fn command(self, task: &str, group: &str) -> Option<Command> {
        let task = task.to_string();
        match self {
            Action::Spawn => Some(Command::Spawn { task, force: false }),
            Action::RunGroup => Some(Command::RunGroup {
                group: group.to_string(),
            }),
            Action::RunAll => Some(Command::RunAll),
            Action::Restart => Some(Command::Restart { task }),
            Action::Recheck => Some(Command::Recheck { task }),
            Action::RebaseMerge => Some(Command::RebaseMerge { task }),
            Action::Resume => Some(Command::Resume),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(a));
            let yaml = serde_norway::to_string(&a).expect("serialize");
            assert_eq!(yaml.trim(), a.name());
        }
        let mut names: Vec<_> = Action::ALL.iter().map(|a| a.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len());
    }

    #[test]
    fn engine_actions_map_to_commands() {
        assert_eq!(
            Action::Spawn.command("T4", "GROUP_B"),
            Some(Command::Spawn {
                task: "T4".into(),
                force: false
            })
        );
        assert_eq!(
            Action::RunGroup.command("T4", "GROUP_B"),
            Some(Command::RunGroup {
                group: "GROUP_B".into()
            })
        );
        assert_eq!(Action::Kill.command("T4", "GROUP_B"), None);
        assert_eq!(Action::Halt.command("T4", "GROUP_B"), None);
    }
}

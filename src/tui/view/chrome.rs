//! The header (plan, branch, run phase, counts, elapsed, and the hosts strip
//! when the plan has hosts) and the footer (key hints for the current mode,
//! or the filter prompt, or a status message).

use crate::engine::snapshot::{RunPhase, TaskState};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::overlay::{Confirm, Overlay};
use crate::tui::rows::format_clock;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// States in the order the header counts them.
const COUNTED: [TaskState; 15] = [
    TaskState::Done,
    TaskState::Running,
    TaskState::Assigned,
    TaskState::Validating,
    TaskState::Merging,
    TaskState::MergeHeld,
    TaskState::Waiting,
    TaskState::Failed,
    TaskState::Conflict,
    TaskState::MergeBlocked,
    TaskState::Halted,
    TaskState::Skipped,
    TaskState::Cancelled,
    TaskState::Ready,
    TaskState::Pending,
];

pub fn header(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let snap = &app.snapshot;
    let phase = match snap.phase {
        RunPhase::Idle => "IDLE",
        RunPhase::Running => "RUNNING",
        RunPhase::Halting => "HALTING",
        RunPhase::Halted => "HALTED",
        RunPhase::Finished => "FINISHED",
    };
    let elapsed = if snap.started_ms == 0 {
        "--:--:--".to_string()
    } else {
        let end = app.clock_ms().max(snap.started_ms);
        format_clock(end - snap.started_ms)
    };
    let sep = || Span::styled(" │ ", theme.dim());
    let mut first = vec![Span::raw(" ")];
    if area.width >= 100 {
        first.extend([Span::styled("switchboard", theme.title()), sep()]);
    }
    first.extend([
        Span::styled(snap.plan_name.clone(), theme.bold()),
        sep(),
        Span::styled("branch ", theme.dim()),
        Span::raw(snap.integration_branch.clone()),
        sep(),
        Span::styled(phase, theme.phase(snap.phase)),
        sep(),
        Span::styled("elapsed ", theme.dim()),
        Span::raw(elapsed),
    ]);
    // What the agents reported spending, when any did and it fits.
    let sum = snap.usage_total();
    if sum.reported > 0 {
        let mut spent = sum.total.short();
        if sum.not_reported > 0 {
            spent.push_str(&format!(" (+{} not reported)", sum.not_reported));
        }
        let wide = first.iter().map(Span::width).sum::<usize>() + spent.len() + 9;
        if wide <= usize::from(area.width) {
            first.extend([sep(), Span::styled("usage ", theme.dim()), Span::raw(spent)]);
        }
    }
    // A budget past its warning: always shown, before what may give way.
    if let Some(b) = snap.limits.worst_budget() {
        use crate::engine::snapshot::BudgetLevel;
        let whose = if b.scope == "run" {
            "budget".to_string()
        } else {
            format!("{} budget", b.scope)
        };
        let mut words = match b.level {
            BudgetLevel::Exceeded => format!(
                "{} SPENT ${:.2}/${:.2}: no new starts",
                whose.to_uppercase(),
                b.spent_usd,
                b.max_usd
            ),
            _ => format!("{whose} ${:.2}/${:.2}", b.spent_usd, b.max_usd),
        };
        if b.unknown_tasks > 0 {
            words.push_str(&format!(" (+{} unknown)", b.unknown_tasks));
        }
        let style = match b.level {
            BudgetLevel::Exceeded => theme.state(crate::engine::snapshot::TaskState::Failed),
            _ => theme.state(crate::engine::snapshot::TaskState::Waiting),
        };
        first.extend([sep(), Span::styled(words, style)]);
    }
    // A private tmux server: what `tmux -L` needs to reach the workers by hand.
    if let Some(socket) = &snap.tmux_socket {
        let wide = first.iter().map(Span::width).sum::<usize>() + socket.len() + 12;
        if wide <= usize::from(area.width) {
            first.extend([
                sep(),
                Span::styled("tmux -L ", theme.dim()),
                Span::raw(socket.clone()),
            ]);
        }
    }
    // Narrow screens: the clock speaks for itself without its label.
    if first.iter().map(Span::width).sum::<usize>() > usize::from(area.width) {
        first.retain(|s| s.content != "elapsed ");
    }
    // Narrower still: the run state and clock matter more than the branch.
    if first.iter().map(Span::width).sum::<usize>() > usize::from(area.width)
        && let Some(at) = first.iter().position(|s| s.content == "branch ")
    {
        // The label, the name and the separator after them.
        first.drain(at..(at + 3).min(first.len()));
    }
    Line::from(first).render(Rect { height: 1, ..area }, buf);

    let mut counts = vec![Span::raw(format!(" {} tasks: ", snap.tasks.len()))];
    for state in COUNTED {
        let n = snap.tasks.iter().filter(|t| t.state == state).count();
        if n > 0 {
            if counts.len() > 1 {
                counts.push(Span::styled(" · ", theme.dim()));
            }
            counts.push(Span::styled(
                format!("{} {n}", state.as_str()),
                theme.state(state),
            ));
        }
    }
    let attention = snap
        .tasks
        .iter()
        .filter(|t| t.state.needs_attention())
        .count();
    let key = app.keymap.first(Action::NextAttention).unwrap_or_default();
    let note = format!("   ! {attention} need attention ({key})");
    let used: usize = counts.iter().map(Span::width).sum();
    // Only when it fits whole: the `!` rows say the same on a narrow screen.
    if attention > 0 && used + note.chars().count() <= usize::from(area.width) {
        counts.push(Span::styled(
            note,
            theme.fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    if area.height > 1 {
        Line::from(counts).render(
            Rect {
                y: area.y + 1,
                height: 1,
                ..area
            },
            buf,
        );
    }
    if area.height > 2 && !snap.hosts.is_empty() {
        let strip = Rect {
            y: area.y + 2,
            height: 1,
            ..area
        };
        super::hosts::render(app, strip, buf);
    }
}

/// The hints of normal mode, in the order they are dropped last to first
/// when the footer is too narrow (help and quit always stay).
const HINTS: [(Action, &str); 16] = [
    (Action::Help, "help"),
    (Action::Quit, "quit"),
    (Action::Attach, "attach"),
    (Action::Spawn, "spawn"),
    (Action::RunGroup, "group"),
    (Action::Kill, "kill"),
    (Action::Restart, "restart"),
    (Action::Halt, "halt"),
    (Action::Resume, "resume"),
    (Action::Diff, "diff"),
    (Action::Compose, "type"),
    (Action::Filter, "filter"),
    (Action::NextAttention, "next !"),
    (Action::ToggleLog, "log/pane"),
    (Action::CycleSort, "sort"),
    (Action::ToggleFollow, "follow"),
];

pub fn footer(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let key = |k: String| Span::styled(k, theme.fg(Color::Cyan).add_modifier(Modifier::BOLD));
    let mut spans: Vec<Span> = Vec::new();
    let hints: Vec<(String, String)> = match &app.overlay {
        Some(Overlay::Confirm(Confirm::Quit)) => pairs(&[
            ("l", "leave running"),
            ("h", "halt them"),
            ("Esc", "cancel"),
        ]),
        Some(Overlay::Confirm(Confirm::Kill { dependents, .. })) if *dependents > 0 => pairs(&[
            ("y", "kill, skip them"),
            ("k", "kill, keep them"),
            ("n/Esc", "no"),
        ]),
        Some(Overlay::Confirm(_)) => pairs(&[("y", "yes"), ("n/Esc", "no")]),
        Some(Overlay::Help) | Some(Overlay::HaltReport(_)) => pairs(&[("Esc", "close")]),
        Some(Overlay::Detail(_)) => pairs(&[("↑↓ PgUp PgDn", "scroll"), ("Esc", "close")]),
        Some(Overlay::Diff(_)) => {
            let shell = app.keymap.first(Action::Shell).unwrap_or_default();
            let mut hints = pairs(&[("j/k", "move"), ("e", "edit")]);
            hints.push((shell, "shell".into()));
            hints.extend(pairs(&[
                ("Esc", "close"),
                ("[/]", "file"),
                ("g/G", "top/end"),
                ("PgUp/PgDn", "page"),
                ("r", "reload"),
            ]));
            hints
        }
        // The composer draws its own line over the footer.
        Some(Overlay::Compose(_)) => Vec::new(),
        None if app.filter_editing => {
            spans.push(Span::styled(" /", theme.bold()));
            spans.push(Span::raw(app.filter.clone()));
            spans.push(Span::styled("▏", theme.bold()));
            pairs(&[("Enter", "keep"), ("Esc", "clear"), ("↑↓", "select")])
        }
        None => HINTS
            .iter()
            .filter_map(|(action, label)| Some((app.keymap.first(*action)?, label.to_string())))
            .collect(),
    };
    if let Some(status) = app.status_text().filter(|_| !app.filter_editing) {
        spans.push(Span::styled(
            format!(" {status} "),
            theme.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled("│", theme.dim()));
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let mut room = usize::from(area.width).saturating_sub(used);
    for (k, label) in hints {
        let width = 1 + k.chars().count() + 1 + label.chars().count() + 1;
        if width > room {
            break;
        }
        room -= width;
        spans.push(Span::raw(" "));
        spans.push(key(k));
        spans.push(Span::raw(format!(" {label} ")));
    }
    Line::from(spans).render(area, buf);
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, l)| (k.to_string(), l.to_string()))
        .collect()
}

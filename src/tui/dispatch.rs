//! Input to state changes: a key goes to the open dialog, the filter prompt,
//! or through the keymap to an [`Action`]; engine replies and mouse events
//! land here too. Returns the [`Effect`] the event loop should carry out.

use super::QuitChoice;
use super::action::Action;
use super::app::{App, Effect, LogView};
use super::composer::{ComposeKey, Composer, Purpose};
use super::overlay::{Confirm, DetailView, Overlay};
use super::review::{DiffKey, DiffView};
use super::worker_server::WorkerServer;
use crate::engine::command::{Command, Reply};
use crate::engine::snapshot::{RunPhase, TaskState, TaskView};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::Position;
use std::path::PathBuf;

/// Rows a mouse wheel notch moves.
const WHEEL_ROWS: usize = 3;
/// Lines the log's scroll keys move.
const LOG_STEP: usize = 5;
/// Lines of each attempt's log the detail view shows.
const DETAIL_LOG_LINES: u32 = 200;

/// States in which a task's tmux session has been closed (or never was):
/// merged, skipped, cancelled, not started.
fn state_without_session(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Done
            | TaskState::Skipped
            | TaskState::Cancelled
            | TaskState::Pending
            | TaskState::Ready
    )
}

impl App {
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Effect> {
        let effect = self.route_key(key);
        self.follow_selection_in_log();
        effect
    }

    fn route_key(&mut self, key: KeyEvent) -> Option<Effect> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let action = self.keymap.action(&key);
        // Suspend and redraw work in every mode: they are about the terminal.
        if let Some(a @ (Action::Suspend | Action::Redraw)) = action {
            return self.on_action(a);
        }
        if let Some(Overlay::Detail(view)) = &self.overlay {
            let page = super::view::detail::page(self.size);
            let total = super::view::detail::line_count(self, view);
            if let Some(Overlay::Detail(view)) = &mut self.overlay
                && view.on_key(&key, page, total)
            {
                self.overlay = None;
            }
            return None;
        }
        match &self.overlay {
            Some(Overlay::Diff(_)) => return self.on_diff_key(&key, action),
            Some(Overlay::Compose(_)) => return self.on_compose_key(&key),
            _ => {}
        }
        if let Some(overlay) = &self.overlay {
            let is_help = action == Some(Action::Help);
            let (close, effect) = overlay.on_key(&key, is_help);
            if close {
                self.overlay = None;
            }
            return effect;
        }
        if self.filter_editing && !key.modifiers.contains(KeyModifiers::CONTROL) {
            return self.on_filter_key(key);
        }
        // Ctrl keys (Ctrl-C to quit) keep their meaning while typing a filter.
        action.and_then(|a| self.on_action(a))
    }

    /// Typing into the `/` prompt: the list narrows as you type.
    fn on_filter_key(&mut self, key: KeyEvent) -> Option<Effect> {
        match key.code {
            KeyCode::Esc => {
                self.filter.clear();
                self.filter_editing = false;
            }
            KeyCode::Enter => self.filter_editing = false,
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Up => self.move_selection(-1),
            KeyCode::Down => self.move_selection(1),
            KeyCode::Char(c)
                if !key
                    .modifiers
                    .contains(crossterm::event::KeyModifiers::CONTROL) =>
            {
                self.filter.push(c);
            }
            _ => return None,
        }
        self.refresh_rows();
        None
    }

    pub fn on_action(&mut self, action: Action) -> Option<Effect> {
        let page = self.page() as isize;
        match action {
            Action::SelectNext => self.move_selection(1),
            Action::SelectPrev => self.move_selection(-1),
            Action::PageDown => self.move_selection(page),
            Action::PageUp => self.move_selection(-page),
            Action::SelectFirst => self.select_row(0),
            Action::SelectLast => self.select_row(usize::MAX),
            Action::NextAttention => match self.next_attention_row() {
                Some(row) => self.select_row(row),
                None => self.set_status("nothing needs attention"),
            },
            Action::Filter => self.filter_editing = true,
            Action::ClearFilter => {
                self.filter.clear();
                self.refresh_rows();
            }
            Action::CycleSort => {
                self.sort = self.sort.next();
                self.refresh_rows();
                self.set_status(format!("sorted by {}", self.sort.label()));
            }
            Action::ToggleLog => self.toggle_log(),
            Action::LogOlder => self.scroll_log(LOG_STEP as isize),
            Action::LogNewer => self.scroll_log(-(LOG_STEP as isize)),
            Action::ZoomIn | Action::ZoomOut | Action::ScrollLeft | Action::ScrollRight => {
                self.move_timeline(action);
            }
            Action::ToggleFollow => {
                if let Some(axis) = self.timeline_axis() {
                    self.timeline.toggle_follow(&axis);
                }
            }
            Action::Help => self.overlay = Some(Overlay::Help),
            // Asking "halt?" when nothing runs would only lead to "nothing to halt".
            Action::Halt if self.snapshot.phase != RunPhase::Running => {
                self.set_status(match self.snapshot.phase {
                    RunPhase::Halting | RunPhase::Halted => "already halted (R resumes)",
                    _ => "nothing to halt: no task is running",
                });
            }
            Action::Halt => self.overlay = Some(Overlay::Confirm(Confirm::Halt)),
            Action::Resume => return Some(Effect::Call(Command::Resume)),
            Action::RunAll => return Some(Effect::Call(Command::RunAll)),
            Action::Redraw => return Some(Effect::Redraw),
            Action::Suspend => return Some(Effect::Suspend),
            Action::Quit if self.has_active_workers() => {
                self.overlay = Some(Overlay::Confirm(Confirm::Quit));
            }
            Action::Quit => return Some(Effect::Quit(QuitChoice::LeaveRunning)),
            Action::Attach
            | Action::Detail
            | Action::Diff
            | Action::Shell
            | Action::Compose
            | Action::Spawn
            | Action::RunGroup
            | Action::Kill
            | Action::Restart
            | Action::Recheck
            | Action::RebaseMerge
            | Action::MarkDone => {
                return self.on_task_action(action);
            }
        }
        None
    }

    /// Actions on the selected task.
    fn on_task_action(&mut self, action: Action) -> Option<Effect> {
        let Some(task) = self.selected_task() else {
            self.set_status("no task selected");
            return None;
        };
        let (id, group, session) = (task.id.clone(), task.group.clone(), task.session.clone());
        let host = task.host.clone();
        let state = task.state;
        let worktree = task.worktree.as_ref().map(PathBuf::from);
        let can_type = state.is_active() && task.pane_id.is_some();
        match action {
            // Enter on a task whose session is gone (merged, skipped,
            // cancelled, never run) describes it instead.
            Action::Detail => Some(self.open_detail(id)),
            Action::Diff => match task.branch.clone() {
                Some(branch) => {
                    let integration = self.snapshot.integration_branch.clone();
                    let mut view = match host.as_deref() {
                        Some(host) => DiffView::on_host(&id, &branch, &integration, host),
                        None => DiffView::new(&id, &branch, &integration, worktree),
                    };
                    let read = view.read_in(state);
                    self.overlay = Some(Overlay::Diff(Box::new(view)));
                    read
                }
                None => {
                    self.set_status(format!("{id} has not started: no branch to review yet"));
                    None
                }
            },
            Action::Shell => self.shell_in(&id, worktree, host.as_deref()),
            Action::Compose if !can_type => {
                let why = format!("{id} has no running agent to type to ({})", state.as_str());
                self.set_status(why);
                None
            }
            Action::Compose => {
                self.overlay = Some(Overlay::Compose(Composer::new(&id)));
                None
            }
            Action::MarkDone if state == TaskState::Done || state.is_active() => {
                let why = format!("{id} is {}: nothing to mark done", state.as_str());
                self.set_status(why);
                None
            }
            Action::MarkDone => {
                self.overlay = Some(Overlay::Compose(Composer::mark_done(&id)));
                None
            }
            Action::Attach => match session {
                Some(session) if !state_without_session(state) => {
                    let offset = self.utc_offset_secs;
                    let clock = |ms| crate::engine::words::clock_time_at(ms, offset);
                    match WorkerServer::of(&self.snapshot, &id, host.as_deref(), clock) {
                        Ok(server) => Some(Effect::Attach {
                            task: id,
                            session,
                            server,
                        }),
                        Err(why) => {
                            self.refuse(&id, why);
                            None
                        }
                    }
                }
                _ => Some(self.open_detail(id)),
            },
            Action::Kill if !(state.is_active() || state == TaskState::Pending) => {
                self.set_status(format!("{id} has no worker to kill ({})", state.as_str()));
                None
            }
            Action::Kill => {
                let dependents = unfinished_dependents(&self.snapshot.tasks, &id);
                self.overlay = Some(Overlay::Confirm(Confirm::Kill {
                    task: id,
                    dependents,
                }));
                None
            }
            _ => action.command(&id, &group).map(Effect::Call),
        }
    }

    /// Open the detail view of `task` and ask the engine for its content.
    pub fn open_detail(&mut self, task: String) -> Effect {
        let mut view = DetailView::new(task.clone());
        view.asked_at = self
            .snapshot
            .tasks
            .iter()
            .find(|t| t.id == task)
            .map(|t| (t.state, t.attempt, t.attempts.len()));
        self.overlay = Some(Overlay::Detail(view));
        detail_request(task)
    }

    /// Keys of the diff view: its own first, then the keymap's shell, and
    /// its own key (`d`) closes it again.
    fn on_diff_key(&mut self, key: &KeyEvent, action: Option<Action>) -> Option<Effect> {
        let page = self.diff_page();
        let Some(Overlay::Diff(view)) = &mut self.overlay else {
            return None;
        };
        let asked = view.on_key(key, page);
        let (task, worktree, target) = (view.task.clone(), view.worktree.clone(), view.target());
        let host = view.host.clone();
        match (asked, action) {
            (Some(DiffKey::Moved), _) => None,
            (Some(DiffKey::Reload), _) => {
                let state = self.snapshot.tasks.iter().find(|t| t.id == task);
                view.read_in(state.map_or(TaskState::Done, |t| t.state))
            }
            (Some(DiffKey::Close), _) | (None, Some(Action::Diff)) => {
                self.overlay = None;
                None
            }
            (Some(DiffKey::Edit), _) => match (worktree, target) {
                (Some(dir), Some((file, line))) => Some(Effect::OpenEditor {
                    task,
                    dir,
                    file,
                    line,
                }),
                (None, _) => {
                    self.set_status(match host {
                        Some(host) => format!("{task}'s worktree is on {host}, not here"),
                        None => format!("{task} has no worktree to edit in"),
                    });
                    None
                }
                (_, None) => {
                    self.set_status("no file under the cursor");
                    None
                }
            },
            (None, Some(Action::Shell)) => self.shell_in(&task, worktree, host.as_deref()),
            (None, _) => None,
        }
    }

    /// A shell in the task's worktree; not for a worker on `host`, whose
    /// worktree is there.
    fn shell_in(
        &mut self,
        task: &str,
        worktree: Option<PathBuf>,
        host: Option<&str>,
    ) -> Option<Effect> {
        if let Some(host) = host {
            self.refuse(
                task,
                format!("{task} runs on {host}: its worktree is there, not here"),
            );
            return None;
        }
        match worktree {
            Some(dir) => Some(Effect::OpenShell {
                task: task.to_string(),
                dir,
            }),
            None => {
                self.set_status(format!("{task} has not started: no worktree yet"));
                None
            }
        }
    }

    /// The open diff waits for a host's task to end: read it once it has.
    pub(super) fn refresh_away_diff(&mut self) -> Option<Effect> {
        let Some(Overlay::Diff(view)) = &mut self.overlay else {
            return None;
        };
        if !matches!(view.content, super::review::DiffContent::Away(_)) {
            return None;
        }
        let task = self.snapshot.tasks.iter().find(|t| t.id == view.task)?;
        view.read_in(task.state)
    }

    /// The git read for the diff view finished.
    pub fn on_diff(&mut self, task: &str, result: Result<crate::git::BranchDiff, String>) {
        if let Some(Overlay::Diff(view)) = &mut self.overlay
            && view.task == task
            && view.content == super::review::DiffContent::Loading
        {
            view.loaded(result);
        }
    }

    /// Lines the diff view shows at once.
    pub fn diff_page(&self) -> usize {
        usize::from(super::view::diff::inner(self.size).height).max(1)
    }

    fn on_compose_key(&mut self, key: &KeyEvent) -> Option<Effect> {
        let Some(Overlay::Compose(composer)) = &mut self.overlay else {
            return None;
        };
        match composer.on_key(key) {
            ComposeKey::Stay => None,
            ComposeKey::Cancel => {
                self.overlay = None;
                None
            }
            ComposeKey::Send(text) => {
                let task = composer.task.clone();
                let purpose = composer.purpose;
                self.overlay = None;
                Some(Effect::Call(match purpose {
                    Purpose::Type => Command::Type { task, text },
                    Purpose::MarkDone => Command::MarkDone { task, reason: text },
                }))
            }
        }
    }

    /// Scroll the event log `lines` back (negative: toward the newest).
    fn scroll_log(&mut self, lines: isize) {
        let back = self.log_scroll.saturating_add_signed(lines);
        self.log_scroll = back.min(self.log.len().saturating_sub(1));
    }

    fn toggle_log(&mut self) {
        self.log_view = match (&self.log_view, &self.selected) {
            (LogView::Events, Some(task)) => LogView::Pane {
                task: task.clone(),
                lines: Vec::new(),
                log: None,
            },
            _ => LogView::Events,
        };
        self.log_scroll = 0;
    }

    /// Keep the pane view on the selected worker as the selection moves.
    pub fn follow_selection_in_log(&mut self) {
        if let (LogView::Pane { task, lines, log }, Some(selected)) =
            (&mut self.log_view, &self.selected)
            && task != selected
        {
            *task = selected.clone();
            lines.clear();
            *log = None;
        }
    }

    fn move_timeline(&mut self, action: Action) {
        let Some(axis) = self.timeline_axis() else {
            self.set_status("the timeline is hidden: enlarge the terminal");
            return;
        };
        let step = i64::from((axis.width / 4).max(1));
        match action {
            Action::ZoomIn => self.timeline.zoom_in(&axis),
            Action::ZoomOut => self.timeline.zoom_out(&axis),
            Action::ScrollLeft => self.timeline.scroll(&axis, -step),
            _ => self.timeline.scroll(&axis, step),
        }
    }

    pub fn on_mouse(&mut self, mouse: MouseEvent) {
        let page = self.diff_page();
        if let Some(Overlay::Diff(view)) = &mut self.overlay {
            match mouse.kind {
                MouseEventKind::ScrollUp => view.move_cursor(-(WHEEL_ROWS as isize), page),
                MouseEventKind::ScrollDown => view.move_cursor(WHEEL_ROWS as isize, page),
                _ => {}
            }
            return;
        }
        if self.overlay.is_some() {
            return;
        }
        let at = Position::new(mouse.column, mouse.row);
        let areas = self.areas();
        let over_log = areas.log.contains(at);
        match mouse.kind {
            MouseEventKind::Down(_) if areas.workers.contains(at) => {
                // Border and header row come before the first task row.
                let first = areas.workers.y + 2;
                if mouse.row >= first && mouse.row < areas.workers.bottom().saturating_sub(1) {
                    let row = self.offset + usize::from(mouse.row - first);
                    if row < self.rows.len() {
                        self.select_row(row);
                    }
                }
            }
            MouseEventKind::ScrollUp if over_log => self.scroll_log(WHEEL_ROWS as isize),
            MouseEventKind::ScrollDown if over_log => self.scroll_log(-(WHEEL_ROWS as isize)),
            MouseEventKind::ScrollUp => self.move_selection(-(WHEEL_ROWS as isize)),
            MouseEventKind::ScrollDown => self.move_selection(WHEEL_ROWS as isize),
            _ => {}
        }
        self.follow_selection_in_log();
    }

    /// The engine answered a request sent for an [`Effect::Call`].
    pub fn on_reply(&mut self, command: &Command, reply: Reply) {
        let what = describe(command);
        match (command, reply) {
            (Command::TaskDetail { task, .. }, Reply::TaskDetail(detail)) => {
                if let Some(Overlay::Detail(view)) = &mut self.overlay
                    && view.task == *task
                {
                    view.detail = Some(detail);
                }
            }
            (Command::Spawn { task, force: false }, Reply::Error { message })
                if message.to_lowercase().contains("depend") =>
            {
                self.overlay = Some(Overlay::Confirm(Confirm::SpawnUnmet {
                    task: task.clone(),
                    message,
                }));
            }
            (_, Reply::Halt(report)) => {
                self.set_status(format!(
                    "halted: {}/{} workers acknowledged in {} ms",
                    report.acks_received, report.total_workers, report.total_latency_ms
                ));
                self.overlay = Some(Overlay::HaltReport(report));
            }
            (_, Reply::Error { message }) => self.set_status(format!("{what}: {message}")),
            (_, _) => self.set_status(format!("{what}: ok")),
        }
    }
}

/// A request in a few words, for the footer.
fn describe(command: &Command) -> String {
    match command {
        Command::Spawn { task, force: false } => format!("spawn {task}"),
        Command::Spawn { task, force: true } => format!("spawn {task} (forced)"),
        Command::RunGroup { group } => format!("run {group}"),
        Command::RunAll => "run the whole plan".into(),
        Command::Kill { task, .. } => format!("kill {task}"),
        Command::Restart { task } => format!("restart {task}"),
        Command::Recheck { task } => format!("check {task} again"),
        Command::RebaseMerge { task } => format!("rebase and merge {task}"),
        Command::MarkDone { task, .. } => format!("mark {task} done"),
        Command::Halt => "halt".into(),
        Command::Resume => "resume".into(),
        Command::Status => "status".into(),
        Command::PaneTail { task, .. } => format!("pane of {task}"),
        Command::TaskDetail { task, .. } => format!("detail of {task}"),
        Command::Type { task, .. } => format!("typed to {task}"),
        Command::Shutdown { .. } => "shutdown".into(),
    }
}

/// Tasks that depend on `id`, directly or through others, and have not
/// finished: what a kill of `id` would skip. (Group `after` links are not in
/// the snapshot's tasks; dependencies are what people reason about.)
fn unfinished_dependents(tasks: &[TaskView], id: &str) -> usize {
    let mut hit: Vec<&str> = vec![id];
    let mut i = 0;
    while i < hit.len() {
        let x = hit[i];
        for t in tasks {
            if !t.state.is_final()
                && t.dependencies.iter().any(|d| d == x)
                && !hit.contains(&t.id.as_str())
            {
                hit.push(&t.id);
            }
        }
        i += 1;
    }
    hit.len() - 1
}

/// The engine request for `task`'s detail.
pub(super) fn detail_request(task: String) -> Effect {
    Effect::Call(Command::TaskDetail {
        task,
        log_lines: DETAIL_LOG_LINES,
    })
}

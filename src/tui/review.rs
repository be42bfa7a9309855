//! The diff view's state: a task's changes as one scrollable document (the
//! changed files with their counts, then the patch), a cursor line, and what
//! the keys do to it. Pure: git is read elsewhere, off the render path, and
//! arrives through [`DiffView::loaded`].

use super::app::Effect;
use crate::engine::snapshot::TaskState;
use crate::git::{BranchDiff, DiffBase, FileStat};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::path::PathBuf;

/// Characters of one line kept for drawing: a minified file's single line
/// of megabytes would otherwise be walked on every frame.
const MAX_LINE_CHARS: usize = 2_000;
/// Columns a tab stands for.
const TAB: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A changed file in the list at the top: its counts come from `files`.
    FileEntry,
    /// A file the worktree has not committed: `file` indexes `uncommitted`.
    Uncommitted,
    Blank,
    /// `diff --git a/… b/…`: a file's patch begins.
    FileHeader,
    /// `index …`, `--- a/…`, `+++ b/…`, modes: the rest of a file's header.
    Meta,
    /// `@@ -a,b +c,d @@`.
    Hunk,
    Added,
    Removed,
    Context,
    /// `\ No newline at end of file`, "no changes", and the like.
    Note,
    /// The diff was longer than what is read: it ends here.
    Cut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocLine {
    pub kind: LineKind,
    /// Ready to draw: tabs expanded, control characters replaced.
    pub text: String,
    /// Which of the document's files the line belongs to (of `uncommitted`
    /// for an [`LineKind::Uncommitted`] line, else of `files`).
    pub file: Option<usize>,
    /// The line of the file (after the change) this line is at, for the editor.
    pub new_line: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub files: Vec<FileStat>,
    /// `git status` code and path of what the worktree has not committed.
    pub uncommitted: Vec<(String, String)>,
    pub lines: Vec<DocLine>,
    pub added: u64,
    pub removed: u64,
    pub cut: bool,
    /// Shown against the integration branch before the branch's merge.
    pub merged: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffContent {
    Loading,
    Failed(String),
    Ready(Document),
    /// Not read: the work is on a host until the task ends; what to say.
    Away(String),
}

/// The open diff view of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffView {
    pub task: String,
    pub branch: String,
    pub integration: String,
    /// The task's worktree, for the shell and the editor (it may be gone:
    /// a merged task's worktree is removed).
    pub worktree: Option<PathBuf>,
    /// The host the task's worker runs (or ran) on: its branch is here once
    /// fetched back, when the task ends.
    pub host: Option<String>,
    pub content: DiffContent,
    pub cursor: usize,
    /// The first line on screen.
    pub offset: usize,
}

/// States in which a host's task may have work its branch here lacks:
/// its worker has not ended (or a restart or resume is due), and the
/// branch is fetched back only for the task's checks.
fn on_host_still(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Pending
            | TaskState::Ready
            | TaskState::Assigned
            | TaskState::Running
            | TaskState::Waiting
            | TaskState::Halted
    )
}

/// What a key in the diff view did, or asks for beyond moving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffKey {
    Moved,
    Close,
    Edit,
    /// Read the diff again (the task may have committed since).
    Reload,
}

impl DiffView {
    pub fn new(task: &str, branch: &str, integration: &str, worktree: Option<PathBuf>) -> Self {
        DiffView {
            task: task.to_string(),
            branch: branch.to_string(),
            integration: integration.to_string(),
            worktree,
            host: None,
            content: DiffContent::Loading,
            cursor: 0,
            offset: 0,
        }
    }

    /// The view of a task whose worker runs on `host`: its worktree is
    /// there, so none here for the shell and the editor.
    pub fn on_host(task: &str, branch: &str, integration: &str, host: &str) -> Self {
        DiffView {
            host: Some(host.to_string()),
            ..DiffView::new(task, branch, integration, None)
        }
    }

    /// The request that reads this view's diff, while the task is in
    /// `state`; none while the work is on a host (the view says so).
    pub fn read_in(&mut self, state: TaskState) -> Option<Effect> {
        if let Some(host) = self.host.as_deref().filter(|_| on_host_still(state)) {
            self.content = DiffContent::Away(format!(
                "{} runs on {host}: its branch is fetched back when the task ends, \
                 and its changes show here then (r reloads).",
                self.task
            ));
            return None;
        }
        self.content = DiffContent::Loading;
        Some(self.read())
    }

    /// The git read finished.
    pub fn loaded(&mut self, result: Result<BranchDiff, String>) {
        self.content = match result {
            Ok(diff) => DiffContent::Ready(Document::of(&diff, &self.branch, &self.integration)),
            Err(message) => DiffContent::Failed(match &self.host {
                Some(host) => format!(
                    "{message} ({} ran on {host}: its branch is fetched from there when its \
                     checks run)",
                    self.task
                ),
                None => message,
            }),
        };
        self.cursor = self.cursor.min(self.len().saturating_sub(1));
        self.offset = self.offset.min(self.cursor);
    }

    pub fn document(&self) -> Option<&Document> {
        match &self.content {
            DiffContent::Ready(doc) => Some(doc),
            _ => None,
        }
    }

    fn len(&self) -> usize {
        self.document().map_or(0, |d| d.lines.len())
    }

    /// The request that reads this view's diff.
    pub fn read(&self) -> Effect {
        Effect::ReadDiff {
            task: self.task.clone(),
            branch: self.branch.clone(),
            integration: self.integration.clone(),
            worktree: self.worktree.clone(),
        }
    }

    /// Handle a key; `page` is how many lines the view shows. None: not one
    /// of the view's keys.
    pub fn on_key(&mut self, key: &KeyEvent, page: usize) -> Option<DiffKey> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let page = page.max(1);
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => return Some(DiffKey::Close),
            KeyCode::Char('e') => return Some(DiffKey::Edit),
            KeyCode::Char('r') => {
                self.content = DiffContent::Loading;
                return Some(DiffKey::Reload);
            }
            KeyCode::Char('j') | KeyCode::Down => self.move_cursor(1, page),
            KeyCode::Char('k') | KeyCode::Up => self.move_cursor(-1, page),
            KeyCode::Char('f') if ctrl => self.scroll_page(1, page),
            KeyCode::Char('b') if ctrl => self.scroll_page(-1, page),
            KeyCode::PageDown | KeyCode::Char(' ') => self.scroll_page(1, page),
            KeyCode::PageUp => self.scroll_page(-1, page),
            KeyCode::Char('g') | KeyCode::Home => self.set_cursor(0, page),
            KeyCode::Char('G') | KeyCode::End => self.set_cursor(usize::MAX, page),
            KeyCode::Char(']') | KeyCode::Char('n') => self.jump_file(true, page),
            KeyCode::Char('[') | KeyCode::Char('p') => self.jump_file(false, page),
            _ => return None,
        }
        Some(DiffKey::Moved)
    }

    pub fn move_cursor(&mut self, delta: isize, page: usize) {
        self.set_cursor(self.cursor.saturating_add_signed(delta), page);
    }

    fn set_cursor(&mut self, line: usize, page: usize) {
        self.cursor = line.min(self.len().saturating_sub(1));
        self.keep_cursor_visible(page);
    }

    /// A page down or up: the view and the cursor move together.
    fn scroll_page(&mut self, direction: isize, page: usize) {
        let max_offset = self.len().saturating_sub(page);
        let step = direction * page as isize;
        self.offset = self.offset.saturating_add_signed(step).min(max_offset);
        self.set_cursor(self.cursor.saturating_add_signed(step), page);
    }

    fn keep_cursor_visible(&mut self, page: usize) {
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.cursor >= self.offset + page {
            self.offset = self.cursor + 1 - page;
        }
    }

    /// To the next (or previous) file's header in the patch.
    fn jump_file(&mut self, forward: bool, page: usize) {
        let Some(doc) = self.document() else { return };
        let is_header = |i: &usize| doc.lines[*i].kind == LineKind::FileHeader;
        let target = if forward {
            (self.cursor + 1..doc.lines.len()).find(is_header)
        } else {
            (0..self.cursor).rev().find(is_header)
        };
        if let Some(line) = target {
            self.set_cursor(line, page);
            // The header at the top, the file's patch below it.
            self.offset = line.min(self.len().saturating_sub(page));
        }
    }

    /// The file under the cursor and its line there, for the editor.
    pub fn target(&self) -> Option<(String, Option<u32>)> {
        let doc = self.document()?;
        let line = doc.lines.get(self.cursor)?;
        if line.kind == LineKind::Uncommitted {
            let (_, path) = doc.uncommitted.get(line.file?)?;
            return Some((path.clone(), None));
        }
        let file = doc.files.get(line.file?)?;
        Some((file.path.clone(), line.new_line))
    }
}

impl Document {
    pub fn of(diff: &BranchDiff, branch: &str, integration: &str) -> Document {
        let mut lines: Vec<DocLine> = diff
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| DocLine {
                kind: LineKind::FileEntry,
                text: printable(&f.path),
                file: Some(i),
                new_line: None,
            })
            .collect();
        if diff.files.is_empty() && !diff.cut {
            lines.push(note(format!(
                "no changes: {branch} holds nothing that {integration} lacks"
            )));
        }
        if !diff.uncommitted.is_empty() {
            lines.push(blank());
            lines.push(note("not committed in its worktree:".into()));
            lines.extend(
                diff.uncommitted
                    .iter()
                    .enumerate()
                    .map(|(i, (_, path))| DocLine {
                        kind: LineKind::Uncommitted,
                        text: printable(path),
                        file: Some(i),
                        new_line: None,
                    }),
            );
        }
        lines.push(blank());
        lines.extend(patch_lines(&diff.patch, diff.files.len()));
        if diff.cut {
            lines.push(DocLine {
                kind: LineKind::Cut,
                text: format!(
                    "… cut here: the diff is longer than the control room reads; `{}` shows it all",
                    diff.command
                ),
                file: None,
                new_line: None,
            });
        }
        let sum = |f: fn(&FileStat) -> Option<u64>| diff.files.iter().filter_map(f).sum();
        Document {
            files: diff.files.clone(),
            uncommitted: diff.uncommitted.clone(),
            lines,
            added: sum(|f| f.added),
            removed: sum(|f| f.removed),
            cut: diff.cut,
            merged: matches!(diff.base, DiffBase::BeforeMerge { .. }),
        }
    }
}

fn blank() -> DocLine {
    DocLine {
        kind: LineKind::Blank,
        text: String::new(),
        file: None,
        new_line: None,
    }
}

fn note(text: String) -> DocLine {
    DocLine {
        kind: LineKind::Note,
        text,
        file: None,
        new_line: None,
    }
}

/// Classify the patch's lines. The k-th `diff --git` header is the k-th
/// file of the list: both come from the same diff, in the same order.
fn patch_lines(patch: &[String], files: usize) -> Vec<DocLine> {
    let mut out = Vec::with_capacity(patch.len());
    let mut file: Option<usize> = None;
    let mut in_hunk = false;
    let mut next_new = 0u32;
    for raw in patch {
        let (kind, new_line) = if raw.starts_with("diff --git ") {
            file = Some(file.map_or(0, |f| f + 1));
            in_hunk = false;
            (LineKind::FileHeader, None)
        } else if raw.starts_with("@@") {
            in_hunk = true;
            next_new = hunk_new_start(raw).unwrap_or(1);
            (LineKind::Hunk, Some(next_new))
        } else if !in_hunk {
            (LineKind::Meta, None)
        } else if raw.starts_with('+') {
            next_new += 1;
            (LineKind::Added, Some(next_new - 1))
        } else if raw.starts_with('-') {
            (LineKind::Removed, Some(next_new.max(1)))
        } else if raw.starts_with('\\') {
            (LineKind::Note, None)
        } else {
            next_new += 1;
            (LineKind::Context, Some(next_new - 1))
        };
        out.push(DocLine {
            kind,
            text: printable(raw),
            file: file.filter(|&f| f < files),
            new_line,
        });
    }
    out
}

/// `@@ -12,7 +14,9 @@ fn x` → 14.
fn hunk_new_start(header: &str) -> Option<u32> {
    let plus = header.split_whitespace().find(|w| w.starts_with('+'))?;
    plus[1..].split(',').next()?.parse().ok()
}

/// Text safe to put on a terminal: tabs as spaces, every other control
/// character (an escape sequence in a file must not reach the terminal) as
/// `�`, and no longer than [`MAX_LINE_CHARS`].
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_LINE_CHARS));
    let mut count = 0;
    for c in text.chars() {
        if count >= MAX_LINE_CHARS {
            out.push('…');
            break;
        }
        match c {
            '\t' => {
                let pad = TAB - count % TAB;
                out.extend(std::iter::repeat_n(' ', pad));
                count += pad;
            }
            c if c.is_control() => {
                out.push(char::REPLACEMENT_CHARACTER);
                count += 1;
            }
            c => {
                out.push(c);
                count += 1;
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "review_tests.rs"]
mod tests;

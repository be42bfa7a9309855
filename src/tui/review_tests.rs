//! The diff view's document and keys, with no terminal.

use super::*;
use crate::tui::fixture::branch_diff as sample;

fn view() -> DiffView {
    let mut v = DiffView::new("T4", "agent/T4/dev", "switchboard/integration", None);
    v.loaded(Ok(sample()));
    v
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

#[test]
fn files_first_then_the_patch_with_each_line_kind() {
    let v = view();
    let doc = v.document().expect("ready");
    let kinds: Vec<LineKind> = doc.lines.iter().map(|l| l.kind).collect();
    use LineKind::*;
    assert_eq!(
        kinds,
        [
            FileEntry, FileEntry, Blank, FileHeader, Meta, Meta, Meta, Hunk, Context, Removed,
            Added, Added, Context, FileHeader, Meta, Meta, Meta, Meta, Hunk, Added, Note
        ]
    );
    assert_eq!((doc.added, doc.removed), (3, 1));
    // The escape in the file's text is not passed on; the tab is spaces.
    let last_added = &doc.lines[19];
    assert_eq!(last_added.text, "+retry  with �[31mbackoff");
    assert_eq!(last_added.file, Some(1));
}

#[test]
fn the_cursor_names_the_file_and_its_line() {
    let mut v = view();
    assert_eq!(v.target(), Some(("src/retry.rs".into(), None)));
    v.on_key(&key(KeyCode::Char('j')), 10);
    assert_eq!(v.target(), Some(("notes.md".into(), None)));
    // `]` jumps to the first file's patch, then to the second's.
    v.on_key(&key(KeyCode::Char(']')), 10);
    assert_eq!(v.cursor, 3);
    for _ in 0..8 {
        v.on_key(&key(KeyCode::Down), 10);
    }
    // `+let jitter = true;` is line 5 of the new file.
    assert_eq!(
        v.document().unwrap().lines[v.cursor].text,
        "+let jitter = true;"
    );
    assert_eq!(v.target(), Some(("src/retry.rs".into(), Some(5))));
    v.on_key(&key(KeyCode::Char(']')), 10);
    assert_eq!(v.target(), Some(("notes.md".into(), None)));
    v.on_key(&key(KeyCode::Char('[')), 10);
    assert_eq!(v.cursor, 3);
}

#[test]
fn scrolling_keeps_the_cursor_on_screen() {
    let mut v = view();
    let page = 5;
    v.on_key(&key(KeyCode::Char('G')), page);
    assert_eq!((v.cursor, v.offset), (20, 16));
    v.on_key(&key(KeyCode::Char('g')), page);
    assert_eq!((v.cursor, v.offset), (0, 0));
    v.on_key(&key(KeyCode::PageDown), page);
    assert_eq!((v.cursor, v.offset), (5, 5));
    v.on_key(&key(KeyCode::PageDown), page);
    v.on_key(&key(KeyCode::PageDown), page);
    v.on_key(&key(KeyCode::PageDown), page);
    assert_eq!((v.cursor, v.offset), (20, 16));
    v.on_key(&key(KeyCode::PageUp), page);
    assert_eq!((v.cursor, v.offset), (15, 11));
    v.on_key(&key(KeyCode::Up), page);
    assert_eq!((v.cursor, v.offset), (14, 11));
    assert_eq!(v.on_key(&key(KeyCode::Esc), page), Some(DiffKey::Close));
    assert_eq!(
        v.on_key(&key(KeyCode::Char('e')), page),
        Some(DiffKey::Edit)
    );
    assert_eq!(v.on_key(&key(KeyCode::Char('x')), page), None);
}

#[test]
fn an_empty_diff_says_so_and_a_cut_one_says_where_to_read_it_all() {
    let mut empty = sample();
    empty.files.clear();
    empty.patch.clear();
    let doc = Document::of(&empty, "agent/T4/dev", "switchboard/integration");
    assert!(
        doc.lines[0].text.starts_with("no changes"),
        "{:?}",
        doc.lines
    );
    let mut cut = sample();
    cut.cut = true;
    let doc = Document::of(&cut, "agent/T4/dev", "switchboard/integration");
    let last = doc.lines.last().expect("a line");
    assert_eq!(last.kind, LineKind::Cut);
    assert!(
        last.text
            .contains("`git diff switchboard/integration...agent/T4/dev`")
    );
}

#[test]
fn what_is_not_committed_is_listed_and_opens_in_the_editor() {
    let mut diff = sample();
    diff.uncommitted = vec![("??".into(), "tests/report.md".into())];
    let mut v = DiffView::new("T4", "agent/T4/dev", "switchboard/integration", None);
    v.loaded(Ok(diff));
    let doc = v.document().expect("ready");
    let at = doc
        .lines
        .iter()
        .position(|l| l.kind == LineKind::Uncommitted)
        .expect("listed");
    assert_eq!(doc.lines[at - 1].text, "not committed in its worktree:");
    v.cursor = at;
    assert_eq!(v.target(), Some(("tests/report.md".into(), None)));
}

#[test]
fn printable_is_bounded_and_safe() {
    assert_eq!(printable("a\tb"), "a   b");
    assert_eq!(printable("\x07\r"), "��");
    let long = "é".repeat(MAX_LINE_CHARS + 50);
    assert_eq!(printable(&long).chars().count(), MAX_LINE_CHARS + 1);
}

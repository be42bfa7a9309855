//! Every attempt's pane output, kept after its pane is gone:
//! `.switchboard/logs/<TASK>.<attempt>.log`, written through tmux's
//! `pipe-pane` from the moment the session exists (by `switchboard
//! pane-log`, [`crate::pane_log`]) and read back here as plain lines,
//! escape sequences stripped.

use crate::tmux::names;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Under `.switchboard/`, beside the engine's own `switchboard.log`.
pub const DIR: &str = "logs";

/// The most one attempt's log holds (8 MiB); the copy stops there.
pub const MAX_BYTES: u64 = 8 * 1024 * 1024;

/// The most read back from the end of a log to find its last lines: a full
/// screen redrawn many times over by a TUI agent fits, and so does any
/// line-oriented tail a person wants on screen.
pub const TAIL_BYTES: u64 = 256 * 1024;

pub fn dir(root: &Path) -> PathBuf {
    root.join(".switchboard").join(DIR)
}

/// The log of `task`'s attempt `attempt`. The task id is sanitised as for
/// its tmux session (task ids are validated; this keeps a path safe even
/// for one that is not).
pub fn path(root: &Path, task: &str, attempt: u32) -> PathBuf {
    dir(root).join(file_name(task, attempt))
}

pub fn file_name(task: &str, attempt: u32) -> String {
    format!("{}.{attempt}.log", names::sanitize(task))
}

/// Whether a file in the logs directory is an attempt's log
/// (`<sanitised task>.<digits>.log`), not the engine's own log.
pub fn is_attempt_log(file_name: &str) -> bool {
    let Some(stem) = file_name.strip_suffix(".log") else {
        return false;
    };
    let Some((task, attempt)) = stem.rsplit_once('.') else {
        return false;
    };
    !task.is_empty()
        && names::sanitize(task) == task
        && !attempt.is_empty()
        && attempt.bytes().all(|b| b.is_ascii_digit())
}

/// The end of one attempt's log, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTail {
    /// The file's size in bytes.
    pub size: u64,
    /// Its last lines, escape sequences stripped, oldest first.
    pub lines: Vec<String>,
}

impl LogTail {
    /// The log reached [`MAX_BYTES`]: what came after is not in it.
    pub fn capped(&self) -> bool {
        self.size >= MAX_BYTES
    }
}

/// The last `lines` lines of the log at `path`.
pub fn read_tail(path: &Path, lines: usize) -> io::Result<LogTail> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let start = size.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut bytes)?;
    Ok(tail_of(size, &bytes, lines))
}

/// The last `lines` of a log of `size` bytes whose last bytes are `bytes`
/// (at most [`TAIL_BYTES`], read here or on a host).
pub fn tail_of(size: u64, bytes: &[u8], lines: usize) -> LogTail {
    let mut text = plain_lines(bytes);
    if size > bytes.len() as u64 && !text.is_empty() {
        // Read from the middle of a line: its start is elsewhere.
        text.remove(0);
    }
    let skip = text.len().saturating_sub(lines);
    text.drain(..skip);
    LogTail { size, lines: text }
}

/// Terminal output as the lines a person would read: escape sequences
/// (colours, cursor moves, titles) stripped, a carriage return overwriting
/// the line from its start (progress bars keep their last state), tabs as
/// spaces, trailing blanks and the last empty line dropped.
pub fn plain_lines(bytes: &[u8]) -> Vec<String> {
    let stripped = anstream::adapter::strip_bytes(bytes).into_vec();
    let text = String::from_utf8_lossy(&stripped);
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let shown = line
                .rsplit('\r')
                .find(|part| !part.is_empty())
                .unwrap_or("");
            shown.replace('\t', "    ").trim_end().to_string()
        })
        .collect();
    if lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised_and_recognised() {
        let root = Path::new("/repo");
        assert_eq!(
            path(root, "T4", 2),
            Path::new("/repo/.switchboard/logs/T4.2.log")
        );
        assert_eq!(file_name("api.v2", 1), "api_v2.1.log");
        assert_eq!(file_name("../x y", 3), "___x_y.3.log");
        assert!(is_attempt_log("T4.2.log"));
        assert!(is_attempt_log(&file_name("api.v2", 10)));
        assert!(!is_attempt_log("switchboard.log"));
        assert!(!is_attempt_log("switchboard.log.2026-12-02"));
        assert!(!is_attempt_log(".1.log"));
        assert!(!is_attempt_log("T4.x.log"));
        assert!(!is_attempt_log("a.b.1.log"));
    }

    #[test]
    fn terminal_output_reads_as_plain_lines() {
        let raw = b"\x1b[1;32mok\x1b[0m step 1\r\n\
                    progress 10%\rprogress 50%\rprogress 100%\r\n\
                    \x1b]0;title\x07\tindented   \r\n\
                    \x1b[2J\x1b[Hcleared\x08\r\n";
        assert_eq!(
            plain_lines(raw),
            ["ok step 1", "progress 100%", "    indented", "cleared"]
        );
        assert_eq!(plain_lines(b""), Vec::<String>::new());
        assert_eq!(plain_lines(b"no newline"), ["no newline"]);
    }

    #[test]
    fn the_tail_is_the_last_lines_of_a_big_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("T1.1.log");
        let body: String = (0..100_000).map(|i| format!("line {i}\r\n")).collect();
        std::fs::write(&file, &body).expect("write");
        let tail = read_tail(&file, 3).expect("read");
        assert_eq!(tail.lines, ["line 99997", "line 99998", "line 99999"]);
        assert_eq!(tail.size, body.len() as u64);
        assert!(!tail.capped());
        let all = read_tail(&file, usize::MAX).expect("read");
        assert!(all.lines[0].starts_with("line "), "{:?}", &all.lines[0]);
        assert!(read_tail(&dir.path().join("none.log"), 3).is_err());
    }
}

//! `.switchboard/journal.jsonl`: one JSON object per event, appended and
//! flushed per line, so a control room that dies loses nothing. Replaying it
//! tells a new engine which tasks are already merged.
//!
//! Several engines on one repository share the file: each line is written
//! in one `write` under an exclusive `flock` of the journal, so lines of
//! two writers never mix, and [`read_since`] lets an engine read what the
//! others appended after what it read last.

use super::event::{Entry, Event};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Open for appending. A torn last line (the writer died mid-write) is
    /// ended with a newline first, so the next entry is not glued to it;
    /// `repaired` says so, for the engine to journal.
    pub fn open(path: &Path) -> io::Result<(Journal, bool)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        // Under the lock: another engine's line is never half written here,
        // so only a writer that died leaves the file torn.
        file.lock()?;
        let repaired = ends_torn(&mut file).and_then(|torn| {
            if torn {
                file.write_all(b"\n")?;
                file.flush()?;
            }
            Ok(torn)
        });
        file.unlock()?;
        let repaired = repaired?;
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
            },
            repaired,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One line, one `write` call, under the journal's lock: readers never
    /// see half an entry from us, and other engines' lines never mix with it.
    pub fn append(&mut self, entry: &Entry) -> io::Result<()> {
        let mut line = serde_json::to_string(entry).map_err(io::Error::other)?;
        line.push('\n');
        self.file.lock()?;
        let written = self
            .file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush());
        self.file.unlock()?;
        written
    }
}

/// Whether the file is non-empty and its last byte is not a newline.
fn ends_torn(file: &mut File) -> io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Every readable entry. A line that is not an entry (torn by a crash,
/// garbage, invalid UTF-8) is skipped with a warning naming the file and line.
pub fn read(path: &Path) -> io::Result<Vec<Entry>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(parse(path, &bytes))
}

fn parse(path: &Path, bytes: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Entry>(line) {
            Ok(entry) => entries.push(entry),
            Err(e) => tracing::warn!("{}:{}: skipped a journal line: {e}", path.display(), n + 1),
        }
    }
    entries
}

/// Journal lines read from some offset on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tail {
    /// Each entry, with the offset just past its line.
    pub lines: Vec<(u64, Entry)>,
    /// Where to read from next time.
    pub offset: u64,
}

impl Tail {
    pub fn entries(self) -> Vec<Entry> {
        self.lines.into_iter().map(|(_, e)| e).collect()
    }
}

/// The entries of the whole lines after byte `offset`, and the offset to
/// read from next time: a line still being written (no newline yet) is left
/// for then. A journal shorter than `offset` (replaced) is read from the start.
pub fn read_since(path: &Path, offset: u64) -> io::Result<Tail> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Tail::default()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let from = if len < offset { 0 } else { offset };
    file.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    file.take(len - from).read_to_end(&mut bytes)?;
    let mut lines = Vec::new();
    let mut start = 0;
    let newlines = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n');
    for (i, _) in newlines {
        let end = from + i as u64 + 1;
        lines.extend(parse(path, &bytes[start..i]).into_iter().map(|e| (end, e)));
        start = i + 1;
    }
    Ok(Tail {
        lines,
        offset: from + start as u64,
    })
}

/// What a new engine learns from earlier runs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replay {
    /// Tasks merged into the integration branch.
    pub merged: BTreeSet<String>,
    /// Tasks whose last journaled state is done: merged, or marked done by
    /// a person (`mark-done`).
    pub done: BTreeSet<String>,
    /// The last attempt number of each task, so attempts keep counting up.
    pub last_attempt: BTreeMap<String, u32>,
    /// The highest halt number journaled, so halts keep counting up.
    pub last_halt_id: u64,
}

pub fn replay(entries: &[Entry]) -> Replay {
    let mut r = Replay::default();
    for e in entries {
        if let Event::Halt(report) = &e.event {
            r.last_halt_id = r.last_halt_id.max(report.halt_id);
        }
        let Some(task) = &e.task else { continue };
        if let Some(a) = e.attempt {
            let last = r.last_attempt.entry(task.clone()).or_insert(0);
            *last = (*last).max(a);
        }
        if matches!(e.event, Event::Merged { .. }) {
            r.merged.insert(task.clone());
        }
        if let Event::State { state, .. } = &e.event {
            if *state == crate::engine::snapshot::TaskState::Done {
                r.done.insert(task.clone());
            } else {
                r.done.remove(task);
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::snapshot::{HaltReport, TaskState};

    fn merged(ms: u64) -> Entry {
        Entry::new(
            Event::Merged {
                commit: "abc".into(),
                branch: "i".into(),
            },
            ms,
        )
        .task("T1", 1)
    }

    fn running(ms: u64) -> Entry {
        Entry::new(
            Event::State {
                state: TaskState::Running,
                profile: "p".into(),
                reason: None,
            },
            ms,
        )
        .task("T2", 2)
    }

    #[test]
    fn a_torn_line_is_ended_before_the_next_entry_and_skipped_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let (mut j, repaired) = Journal::open(&path).unwrap();
        assert!(!repaired);
        j.append(&merged(1000)).unwrap();
        drop(j);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"ts\":\"x\",\"ts_ms\":17")
            .unwrap();
        let (mut j, repaired) = Journal::open(&path).unwrap();
        assert!(repaired);
        j.append(&running(2000)).unwrap();
        let entries = read(&path).unwrap();
        assert_eq!(entries.len(), 2, "the entry after the torn line survives");
        let r = replay(&entries);
        assert!(r.merged.contains("T1"));
        assert_eq!(r.last_attempt.get("T2"), Some(&2));
    }

    #[test]
    fn invalid_utf8_and_garbage_lines_are_skipped_alike() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let mut bytes = serde_json::to_vec(&merged(1)).unwrap();
        bytes.extend_from_slice(b"\n\xff\xfe garbage\nnot json\n");
        bytes.extend_from_slice(&serde_json::to_vec(&running(2)).unwrap());
        bytes.push(b'\n');
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(read(&path).unwrap().len(), 2);
    }

    #[test]
    fn read_since_takes_whole_lines_only_and_says_where_to_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        assert_eq!(read_since(&path, 0).unwrap(), Tail::default());
        let (mut j, _) = Journal::open(&path).unwrap();
        j.append(&merged(1)).unwrap();
        let first = read_since(&path, 0).unwrap();
        let at = first.offset;
        assert_eq!(first.lines.len(), 1);
        assert_eq!(at, std::fs::metadata(&path).unwrap().len());
        assert_eq!(first.lines[0].0, at, "a line's offset is just past it");
        // Another writer's line, half written: left for the next read.
        let line = serde_json::to_string(&running(2)).unwrap();
        let (head, tail) = line.split_at(10);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(head.as_bytes())
            .unwrap();
        let none = read_since(&path, at).unwrap();
        assert_eq!((none.lines.len(), none.offset), (0, at));
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(format!("{tail}\n").as_bytes())
            .unwrap();
        let more = read_since(&path, at).unwrap();
        let next = more.offset;
        assert_eq!(more.entries(), vec![running(2)]);
        assert!(next > at);
        // A journal replaced by a shorter one is read from its start.
        std::fs::write(&path, b"").unwrap();
        assert_eq!(read_since(&path, next).unwrap(), Tail::default());
    }

    #[test]
    fn two_writers_never_mix_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let (mut j, _) = Journal::open(&path).unwrap();
                    for i in 0..200 {
                        let mut e = running(i).task(&format!("T{w}"), 1);
                        e.engine = Some(w);
                        j.append(&e).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let entries = read(&path).unwrap();
        assert_eq!(entries.len(), 800, "every line reads back whole");
        for w in 0..4 {
            let mine: Vec<u64> = entries
                .iter()
                .filter(|e| e.engine == Some(w))
                .map(|e| e.ts_ms)
                .collect();
            assert_eq!(mine, (0..200).collect::<Vec<_>>(), "engine {w} in order");
        }
    }

    #[test]
    fn halts_keep_counting_across_engines() {
        let halt = |id| {
            Event::Halt(HaltReport {
                halt_id: id,
                total_workers: 0,
                acks_received: 0,
                acks_failed: 0,
                stopped: 0,
                workers: Vec::new(),
                all_acked: true,
                total_latency_ms: 0.0,
            })
        };
        let entries = [Entry::new(halt(3), 2), Entry::new(halt(1), 3)];
        assert_eq!(replay(&entries).last_halt_id, 3);
    }
}

//! `.switchboard/journal.jsonl`: one JSON object per event, appended and
//! flushed per line, so a control room that dies loses nothing. Replaying it
//! tells a new engine which tasks are already merged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Local wall-clock time, RFC 3339 with milliseconds.
    pub ts: String,
    /// The same instant as milliseconds since the Unix epoch (for arithmetic).
    pub ts_ms: u64,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

impl Entry {
    pub fn new(event: &str, now_ms: u64) -> Self {
        Entry {
            ts: format_ts(now_ms),
            ts_ms: now_ms,
            event: event.to_string(),
            task: None,
            attempt: None,
            details: Map::new(),
        }
    }

    pub fn task(mut self, task: &str, attempt: u32) -> Self {
        self.task = Some(task.to_string());
        self.attempt = (attempt > 0).then_some(attempt);
        self
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.details.get(key).and_then(Value::as_str)
    }
}

fn format_ts(ms: u64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_millis_opt(ms as i64) {
        chrono::LocalResult::Single(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
        _ => ms.to_string(),
    }
}

pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    pub fn open(path: &Path) -> io::Result<Journal> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One line, one `write` call: readers never see half an entry from us.
    pub fn append(&mut self, entry: &Entry) -> io::Result<()> {
        let mut line = serde_json::to_string(entry).map_err(io::Error::other)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()
    }
}

/// Every readable entry; a torn last line (the writer died mid-write) is skipped.
pub fn read(path: &Path) -> io::Result<Vec<Entry>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut entries = Vec::new();
    for line in BufReader::new(file).lines() {
        if let Ok(entry) = serde_json::from_str::<Entry>(&line?) {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// What a new engine learns from earlier runs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replay {
    /// Tasks merged into the integration branch.
    pub merged: BTreeSet<String>,
    /// The last attempt number of each task, so attempts keep counting up.
    pub last_attempt: BTreeMap<String, u32>,
    /// The highest halt number journaled, so halts keep counting up.
    pub last_halt_id: u64,
}

pub fn replay(entries: &[Entry]) -> Replay {
    let mut r = Replay::default();
    for e in entries {
        if e.event == "halt"
            && let Some(id) = e.details.get("halt_id").and_then(Value::as_u64)
        {
            r.last_halt_id = r.last_halt_id.max(id);
        }
        let Some(task) = &e.task else { continue };
        if let Some(a) = e.attempt {
            let last = r.last_attempt.entry(task.clone()).or_insert(0);
            *last = (*last).max(a);
        }
        if e.event == "merged" {
            r.merged.insert(task.clone());
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_then_read_skips_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let mut j = Journal::open(&path).unwrap();
        j.append(
            &Entry::new("merged", 1000)
                .task("T1", 1)
                .with("commit", "abc"),
        )
        .unwrap();
        j.append(
            &Entry::new("state", 2000)
                .task("T2", 2)
                .with("state", "running"),
        )
        .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"ts\":")
            .unwrap();
        let entries = read(&path).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].str("commit"), Some("abc"));
        let r = replay(&entries);
        assert!(r.merged.contains("T1"));
        assert_eq!(r.last_attempt.get("T2"), Some(&2));
    }

    #[test]
    fn halts_keep_counting_across_engines() {
        let entries = [
            Entry::new("halt", 2).with("halt_id", 3),
            Entry::new("halt", 3).with("halt_id", 1),
        ];
        assert_eq!(replay(&entries).last_halt_id, 3);
    }

    #[test]
    fn entry_shape_is_flat_json() {
        let e = Entry::new("report", 0).task("T4", 1).with("state", "WAIT");
        let v: Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "report");
        assert_eq!(v["task"], "T4");
        assert_eq!(v["attempt"], 1);
        assert_eq!(v["state"], "WAIT");
        assert!(v["ts"].is_string());
    }
}

//! The Log panel's history: a ring buffer longer than the snapshot's tail,
//! fed with exactly the lines each new snapshot adds.

use crate::engine::snapshot::LogLine;
use std::collections::VecDeque;

pub const DEFAULT_CAPACITY: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub enum LogEntry {
    Line(LogLine),
    /// Lines logged between two snapshots that the tail no longer held.
    Skipped(u64),
}

#[derive(Debug, Clone)]
pub struct LogBuffer {
    entries: VecDeque<LogEntry>,
    capacity: usize,
    /// How many engine lines this buffer has accounted for (`log_total` seen).
    seen: u64,
}

impl LogBuffer {
    pub fn new(capacity: usize) -> LogBuffer {
        LogBuffer {
            entries: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
            seen: 0,
        }
    }

    /// Take in a snapshot's tail. `tail` holds the lines numbered
    /// `total - tail.len() .. total`; only those past `seen` are new.
    pub fn ingest(&mut self, tail: &[LogLine], total: u64) {
        if total < self.seen {
            // The engine's count went backwards (a restarted engine): start
            // counting afresh rather than dropping everything it says.
            self.seen = total.saturating_sub(tail.len() as u64);
        }
        let new = total - self.seen;
        if new == 0 {
            return;
        }
        let held = tail.len() as u64;
        if new > held {
            self.push(LogEntry::Skipped(new - held));
        }
        let fresh = new.min(held) as usize;
        for line in &tail[tail.len() - fresh..] {
            self.push(LogEntry::Line(line.clone()));
        }
        self.seen = total;
    }

    /// A line of the control room's own (a refusal), between the engine's:
    /// it does not count among theirs.
    pub fn note(&mut self, line: LogLine) {
        self.push(LogEntry::Line(line));
    }

    fn push(&mut self, entry: LogEntry) {
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `count` entries ending `back` entries before the newest, oldest first.
    pub fn window(&self, count: usize, back: usize) -> impl Iterator<Item = &LogEntry> {
        let end = self.entries.len().saturating_sub(back);
        let start = end.saturating_sub(count);
        self.entries.range(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::snapshot::LogLevel;

    fn lines(from: u64, to: u64) -> Vec<LogLine> {
        (from..to)
            .map(|n| LogLine {
                ts_ms: n,
                level: LogLevel::Info,
                task: None,
                text: format!("line {n}"),
            })
            .collect()
    }

    fn texts(buf: &LogBuffer) -> Vec<String> {
        buf.window(usize::MAX, 0)
            .map(|e| match e {
                LogEntry::Line(l) => l.text.clone(),
                LogEntry::Skipped(n) => format!("skip {n}"),
            })
            .collect()
    }

    #[test]
    fn appends_only_unseen_lines() {
        let mut buf = LogBuffer::new(100);
        buf.ingest(&lines(0, 3), 3);
        buf.ingest(&lines(0, 3), 3);
        buf.ingest(&lines(1, 5), 5);
        assert_eq!(
            texts(&buf),
            ["line 0", "line 1", "line 2", "line 3", "line 4"]
        );
    }

    #[test]
    fn marks_a_gap_when_the_tail_missed_lines() {
        let mut buf = LogBuffer::new(100);
        buf.ingest(&lines(0, 2), 2);
        // 10 lines logged since; the tail only holds the last 3.
        buf.ingest(&lines(9, 12), 12);
        assert_eq!(
            texts(&buf),
            ["line 0", "line 1", "skip 7", "line 9", "line 10", "line 11"]
        );
    }

    #[test]
    fn first_snapshot_with_history_marks_the_older_lines() {
        let mut buf = LogBuffer::new(100);
        buf.ingest(&lines(40, 50), 50);
        assert_eq!(texts(&buf)[0], "skip 40");
        assert_eq!(buf.len(), 11);
    }

    #[test]
    fn capacity_drops_the_oldest() {
        let mut buf = LogBuffer::new(3);
        buf.ingest(&lines(0, 5), 5);
        assert_eq!(texts(&buf), ["line 2", "line 3", "line 4"]);
    }

    #[test]
    fn restarted_engine_count_is_taken_as_fresh() {
        let mut buf = LogBuffer::new(100);
        buf.ingest(&lines(0, 5), 5);
        buf.ingest(&lines(0, 2), 2);
        assert_eq!(texts(&buf).len(), 7);
    }

    #[test]
    fn window_counts_back_from_the_newest() {
        let mut buf = LogBuffer::new(100);
        buf.ingest(&lines(0, 10), 10);
        let w: Vec<_> = buf.window(3, 2).collect();
        assert_eq!(w.len(), 3);
        assert_eq!(w[0], &LogEntry::Line(lines(5, 6)[0].clone()));
    }
}

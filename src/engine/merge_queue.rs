//! The merge queue: validated tasks merge one at a time, in the order they
//! were validated, which respects dependencies (a dependent starts only after
//! its prerequisites merged).

use super::tasks::TaskIdx;
use std::collections::VecDeque;

#[derive(Debug, Default)]
pub struct MergeQueue {
    waiting: VecDeque<TaskIdx>,
    in_flight: Option<TaskIdx>,
}

impl MergeQueue {
    /// Queue `t`; returns the task to merge now, if the queue was idle.
    pub fn push(&mut self, t: TaskIdx) -> Option<TaskIdx> {
        self.waiting.push_back(t);
        self.next()
    }

    /// The merge of `t` ended; returns the next task to merge.
    pub fn finished(&mut self, t: TaskIdx) -> Option<TaskIdx> {
        if self.in_flight == Some(t) {
            self.in_flight = None;
        }
        self.next()
    }

    fn next(&mut self) -> Option<TaskIdx> {
        if self.in_flight.is_some() {
            return None;
        }
        self.in_flight = self.waiting.pop_front();
        self.in_flight
    }

    /// A merge is running or waiting.
    pub fn busy(&self) -> bool {
        self.in_flight.is_some() || !self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_merge_at_a_time_in_order() {
        let mut q = MergeQueue::default();
        assert_eq!(q.push(TaskIdx(2)), Some(TaskIdx(2)));
        assert_eq!(q.push(TaskIdx(0)), None);
        assert_eq!(q.push(TaskIdx(1)), None);
        assert!(q.busy());
        assert_eq!(q.finished(TaskIdx(2)), Some(TaskIdx(0)));
        assert_eq!(q.finished(TaskIdx(0)), Some(TaskIdx(1)));
        assert_eq!(q.finished(TaskIdx(1)), None);
        assert!(!q.busy());
    }
}

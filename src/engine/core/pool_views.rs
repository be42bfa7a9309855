//! What front ends see of the worker pools: each worker and what it does,
//! and each pool's queue (its ready tasks, in the strategy's order).

use super::Core;
use crate::engine::pool::{How, PoolView, PoolWorker, PoolWorkerView};
use crate::engine::schedule;
use crate::engine::snapshot::TaskState;
use crate::engine::tasks::TaskIdx;

impl Core {
    /// What front ends see of the pools.
    pub(super) fn pool_views(&self) -> Vec<PoolView> {
        if self.pools.is_empty() {
            return Vec::new();
        }
        let slots = self.tasks.slots(&self.plan);
        let ready = schedule::ready_queue(&self.plan, &slots, self.now());
        self.pools
            .pools
            .iter()
            .enumerate()
            .map(|(p, pool)| PoolView {
                name: pool.spec.label(),
                profile: pool.spec.profile.clone(),
                workers: pool
                    .workers
                    .iter()
                    .map(|w| PoolWorkerView {
                        worker: w.n,
                        session: w.place.session.clone(),
                        worktree: w.place.worktree.display().to_string(),
                        task: w.task.map(|t| self.task_id(t).to_string()),
                        doing: self.doing(w),
                        replaced: w.replaced,
                    })
                    .collect(),
                queue: ready
                    .iter()
                    .filter(|&&t| self.plan.pool_of[t] == Some(p))
                    .map(|&t| self.task_id(TaskIdx(t)).to_string())
                    .collect(),
            })
            .collect()
    }

    fn doing(&self, w: &PoolWorker) -> String {
        match (w.task, &w.agent) {
            (Some(t), _) => {
                let state = self.tasks[t].state();
                let how = match (&w.how, state) {
                    (Some(How::Typed { .. }), TaskState::Assigned) => " (typed in)",
                    _ => "",
                };
                format!("{} {}{how}", self.task_id(t), state.as_str())
            }
            (None, _) if w.spawning.is_some() => "letting go of a cancelled start".into(),
            (None, Some(a)) => format!("idle: {} at its prompt", a.profile),
            (None, None) if w.session => "idle".into(),
            (None, None) => "idle (no session yet)".into(),
        }
    }
}

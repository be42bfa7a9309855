//! Limits on starts, as the core applies them: the gate the scheduler reads
//! (spawn-rate tokens, per-profile back-offs and budgets, the round-robin
//! turn), rate limits noticed on screens and in reports, budgets checked
//! as usage is reported, and what front ends see of all that.

use super::Core;
use crate::engine::event::{BudgetNote, Event};
use crate::engine::limits::{BudgetLevel, budget_level, span_words};
use crate::engine::schedule::{Gate, Step};
use crate::engine::snapshot::{BackoffView, BudgetView, LimitsView, TaskState};
use crate::engine::tasks::TaskIdx;
use crate::plan::Budget;

/// What the core keeps about limits.
#[derive(Debug, Default)]
pub(super) struct LimitState {
    pub bucket: Option<crate::engine::limits::TokenBucket>,
    /// Per profile (by index).
    pub backoffs: Vec<crate::engine::limits::Backoff>,
    pub turn: usize,
    /// The level each budget (by scope) was last journaled at.
    pub noted: Vec<(String, BudgetLevel)>,
}

impl LimitState {
    pub fn new(plan: &crate::plan::ValidPlan, now_ms: u64) -> LimitState {
        let bucket = plan
            .plan
            .settings
            .spawn_rate
            .as_deref()
            .and_then(|r| crate::plan::rate::SpawnRate::parse(r).ok())
            .map(|r| crate::engine::limits::TokenBucket::new(r, now_ms));
        LimitState {
            bucket,
            backoffs: vec![Default::default(); plan.profiles.len()],
            turn: 0,
            noted: Vec::new(),
        }
    }
}

impl Core {
    /// What the scheduler may start now beside the plan's own rules.
    pub(super) fn gate(&mut self) -> Gate {
        let now = self.now();
        let tokens = match self.limits.bucket.as_mut() {
            Some(b) => b.available(now),
            None => usize::MAX,
        };
        let budgets = self.budgets();
        let run_spent = budgets
            .iter()
            .any(|b| b.scope == "run" && b.level == BudgetLevel::Exceeded);
        let held = self
            .plan
            .profiles
            .iter()
            .enumerate()
            .map(|(p, name)| {
                run_spent
                    || self.limits.backoffs[p].active(now)
                    || budgets
                        .iter()
                        .any(|b| &b.scope == name && b.level == BudgetLevel::Exceeded)
            })
            .collect();
        Gate {
            max_parallel: self.plan.plan.settings.capacity(),
            now_ms: now,
            tokens,
            held,
            turn: self.limits.turn,
            pool_idle: self.pool_idle(),
        }
    }

    /// A start the scheduler chose: its token, the round-robin turn, and
    /// the profile a task that names none was given.
    pub(super) fn take_start(&mut self, step: &Step) {
        let Step::Start { task, profile } = *step else {
            return;
        };
        let now = self.now();
        if let Some(b) = self.limits.bucket.as_mut() {
            b.take(now);
        }
        let t = TaskIdx(task);
        let name = self.plan.profiles[profile].clone();
        if self.plan.plan.tasks[task].agent_type().is_none()
            && self.plan.profile_idx(self.tasks[t].profile()).is_none()
        {
            self.limits.turn = profile + 1;
            self.tasks[t].record.view.profile = name.clone();
            self.tasks[t].base_profile = Some(name);
        }
    }

    /// When the next spawn-rate token or back-off end lets a waiting task start.
    pub(super) fn limits_wakeup(&self) -> Option<u64> {
        let now = self.now();
        let waiting = self
            .tasks
            .iter()
            .any(|(_, t)| t.selected && t.state() == TaskState::Pending);
        if !waiting {
            return None;
        }
        let token = self
            .limits
            .bucket
            .as_ref()
            .and_then(|b| b.next_token_ms(now));
        let backoff = self
            .limits
            .backoffs
            .iter()
            .filter(|b| b.active(now))
            .map(|b| b.until_ms)
            .min();
        token.into_iter().chain(backoff).min()
    }

    /// `line` on `t`'s screen (or in its report) says its provider refuses
    /// for load: its profile backs off, unless it is backing off already.
    pub(super) fn rate_limited(&mut self, t: TaskIdx, line: String) {
        let Some(p) = self.plan.profile_idx(self.tasks[t].profile()) else {
            return;
        };
        let now = self.now();
        let settings = self.plan.plan.settings.rate_limit;
        if let Some(wait) = self.limits.backoffs[p].hit(now, &settings) {
            let profile = self.plan.profiles[p].clone();
            self.record_task(
                t,
                Event::RateLimited {
                    profile,
                    backoff_ms: wait,
                    line,
                },
            );
        }
    }

    /// Read `t`'s new screen lines for a rate limit; a line already seen
    /// (the same screen read again) is not a new one.
    pub(super) fn read_rate_limit(&mut self, t: TaskIdx, lines: &[String]) {
        let rules = self
            .plan
            .plan
            .agents
            .get(self.tasks[t].profile())
            .map(|a| &a.screen);
        let line = crate::plan::screen::rate_limit_line(rules, lines);
        let Some(w) = self.tasks[t].worker.as_mut() else {
            return;
        };
        if line == w.rate_line {
            return;
        }
        w.rate_line = line.clone();
        if let Some(line) = line {
            self.rate_limited(t, line);
        }
    }

    /// Every budget of the plan, where it stands.
    pub(super) fn budgets(&self) -> Vec<BudgetView> {
        let s = &self.plan.plan.settings;
        let mut out = Vec::new();
        if let Some(b) = &s.budget {
            out.push(self.budget_view("run", b, None));
        }
        for (name, a) in &self.plan.plan.agents {
            if let Some(b) = &a.budget {
                out.push(self.budget_view(name, b, Some(name)));
            }
        }
        out
    }

    /// Spending on `profile` (every profile when None): reported costs of
    /// its attempts, and how many tasks ran on it without reporting one.
    fn budget_view(&self, scope: &str, budget: &Budget, profile: Option<&str>) -> BudgetView {
        let mut spent = 0.0;
        let mut unknown = 0;
        for (_, run) in self.tasks.iter() {
            let spans = run
                .record
                .view
                .attempts
                .iter()
                .filter(|a| profile.is_none_or(|p| a.profile == p));
            let mut ran = false;
            let mut cost = None::<f64>;
            for a in spans {
                ran = true;
                if let Some(c) = a.usage.and_then(|u| u.cost_usd) {
                    *cost.get_or_insert(0.0) += c;
                }
            }
            match cost {
                Some(c) => spent += c,
                None if ran => unknown += 1,
                None => {}
            }
        }
        BudgetView {
            scope: scope.to_string(),
            max_usd: budget.max_usd,
            warn_at: budget.warn_at,
            spent_usd: spent,
            unknown_tasks: unknown,
            level: budget_level(budget, spent),
        }
    }

    /// Journal each budget that reached its warning or its cap, once each.
    pub(super) fn check_budgets(&mut self) {
        for b in self.budgets() {
            let noted = self
                .limits
                .noted
                .iter()
                .find(|(s, _)| *s == b.scope)
                .map_or(BudgetLevel::Ok, |n| n.1);
            if b.level <= noted {
                continue;
            }
            let note = BudgetNote {
                scope: b.scope.clone(),
                spent_usd: b.spent_usd,
                max_usd: b.max_usd,
                unknown_tasks: b.unknown_tasks,
            };
            let now = self.now();
            if noted < BudgetLevel::Warning {
                let e = crate::engine::event::Entry::new(Event::BudgetWarning(note.clone()), now);
                self.record(e);
            }
            if b.level == BudgetLevel::Exceeded {
                let e = crate::engine::event::Entry::new(Event::BudgetExceeded(note), now);
                self.record(e);
            }
            self.limits.noted.retain(|(s, _)| *s != b.scope);
            self.limits.noted.push((b.scope, b.level));
        }
    }

    /// Selected tasks waiting to start on a spent budget (the run's, or
    /// every profile they may run on) never will in this run: skipped, with
    /// the budget in the reason, so a headless run ends. A later run with a
    /// larger budget starts them again.
    pub(super) fn skip_over_budget(&mut self) {
        let spent: Vec<BudgetView> = self
            .budgets()
            .into_iter()
            .filter(|b| b.level == BudgetLevel::Exceeded)
            .collect();
        if spent.is_empty() {
            return;
        }
        let run = spent.iter().find(|b| b.scope == "run");
        for t in self.tasks.indices() {
            let task = &self.tasks[t];
            if !task.selected || task.forced || task.state() != TaskState::Pending {
                continue;
            }
            let on: Vec<&str> = match self.plan.profile_idx(task.profile()) {
                Some(p) => vec![self.plan.profiles[p].as_str()],
                None => self.plan.fits[t.0]
                    .iter()
                    .map(|&p| self.plan.profiles[p].as_str())
                    .collect(),
            };
            let why = run.or_else(|| {
                let all = !on.is_empty() && on.iter().all(|p| spent.iter().any(|b| b.scope == *p));
                all.then(|| spent.iter().find(|b| b.scope == on[0]))
                    .flatten()
            });
            if let Some(b) = why {
                let note = BudgetNote {
                    scope: b.scope.clone(),
                    spent_usd: b.spent_usd,
                    max_usd: b.max_usd,
                    unknown_tasks: b.unknown_tasks,
                };
                let reason = format!("not started: {}", note.words());
                self.set_state(t, TaskState::Skipped, Some(reason));
            }
        }
    }

    /// Budgets and back-offs, for front ends.
    pub(super) fn limits_view(&self) -> LimitsView {
        let now = self.now();
        let backoffs = self
            .limits
            .backoffs
            .iter()
            .enumerate()
            .filter(|(_, b)| b.active(now))
            .map(|(p, b)| BackoffView {
                profile: self.plan.profiles[p].clone(),
                until_ms: b.until_ms,
                backoff_ms: b.wait_ms,
            })
            .collect();
        LimitsView {
            budgets: self.budgets(),
            backoffs,
        }
    }

    /// Why `profile` starts nothing now, in words, if it does not.
    pub(super) fn held_words(&self, limits: &LimitsView, profile: &str) -> Option<String> {
        if let Some(b) = limits.backoffs.iter().find(|b| b.profile == profile) {
            return Some(format!(
                "rate limited: backing off {}",
                span_words(b.backoff_ms)
            ));
        }
        limits
            .budgets
            .iter()
            .find(|b| b.level == BudgetLevel::Exceeded && (b.scope == "run" || b.scope == profile))
            .map(|b| {
                if b.scope == "run" {
                    "budget spent: no new starts".to_string()
                } else {
                    format!("profile {profile}'s budget spent: no new starts")
                }
            })
    }
}

//! Limits on starts beside the plan's order: the spawn rate's token bucket,
//! a profile's back-off after its agent said it is rate limited, and
//! budgets. Pure state over a clock passed in, unit-tested with plain
//! numbers; the core owns one [`Limits`] and the scheduler reads it.

use crate::plan::rate::SpawnRate;
use crate::plan::{Budget, RateLimitSettings};

/// A token bucket of `count` tokens, refilled at `count` per `per_ms`:
/// a burst of `count` starts, then one every `per_ms / count`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: SpawnRate,
    /// Credit in units where a token is `per_ms` and each millisecond
    /// adds `count`: exact integer refills for any rate.
    credit: u128,
    last_ms: u64,
}

impl TokenBucket {
    pub fn new(rate: SpawnRate, now_ms: u64) -> Self {
        let mut b = TokenBucket {
            rate,
            credit: 0,
            last_ms: now_ms,
        };
        b.credit = b.capacity();
        b
    }

    fn token(&self) -> u128 {
        u128::from(self.rate.per_ms.max(1))
    }

    fn capacity(&self) -> u128 {
        u128::from(self.rate.count) * self.token()
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed = u128::from(now_ms.saturating_sub(self.last_ms));
        self.credit = (self.credit + elapsed * u128::from(self.rate.count)).min(self.capacity());
        self.last_ms = self.last_ms.max(now_ms);
    }

    /// Whole tokens available at `now_ms`.
    pub fn available(&mut self, now_ms: u64) -> usize {
        self.refill(now_ms);
        usize::try_from(self.credit / self.token()).unwrap_or(usize::MAX)
    }

    /// Spend one token (a start). False when there was none.
    pub fn take(&mut self, now_ms: u64) -> bool {
        self.refill(now_ms);
        if self.credit < self.token() {
            return false;
        }
        self.credit -= self.token();
        true
    }

    /// When the next whole token is due, if none is available now.
    pub fn next_token_ms(&self, now_ms: u64) -> Option<u64> {
        let mut b = self.clone();
        if b.available(now_ms) > 0 {
            return None;
        }
        let missing = b.token() - b.credit;
        let ms = missing.div_ceil(u128::from(self.rate.count.max(1)));
        Some(
            b.last_ms
                .saturating_add(u64::try_from(ms).unwrap_or(u64::MAX)),
        )
    }
}

/// A profile holding back new starts after its agent said it is rate
/// limited or overloaded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backoff {
    /// Back-offs in a row (each doubles the wait).
    pub level: u32,
    /// No new start before this.
    pub until_ms: u64,
    /// How long this back-off is.
    pub wait_ms: u64,
}

impl Backoff {
    pub fn active(&self, now_ms: u64) -> bool {
        now_ms < self.until_ms
    }

    /// A rate limit seen at `now_ms`: the new back-off's length, or None
    /// while the profile is backing off already (a screen still showing
    /// the same limit is not a second one). One seen within `maxBackoffMs`
    /// of the last back-off's end doubles the wait; later, it starts over.
    pub fn hit(&mut self, now_ms: u64, s: &RateLimitSettings) -> Option<u64> {
        if self.active(now_ms) {
            return None;
        }
        if self.level > 0 && now_ms > self.until_ms.saturating_add(s.max_backoff_ms) {
            self.level = 0;
        }
        let wait = s
            .backoff_ms
            .saturating_mul(1u64 << self.level.min(32))
            .min(s.max_backoff_ms);
        self.level = self.level.saturating_add(1);
        self.wait_ms = wait;
        self.until_ms = now_ms.saturating_add(wait);
        Some(wait)
    }
}

/// Where a budget stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum BudgetLevel {
    Ok,
    Warning,
    Exceeded,
}

pub fn budget_level(budget: &Budget, spent_usd: f64) -> BudgetLevel {
    if spent_usd >= budget.max_usd {
        BudgetLevel::Exceeded
    } else if spent_usd >= budget.max_usd * budget.warn_at {
        BudgetLevel::Warning
    } else {
        BudgetLevel::Ok
    }
}

/// `30 s`, `2 min`, `1.5 h`: a back-off's length in words.
pub fn span_words(ms: u64) -> String {
    let s = ms as f64 / 1000.0;
    if s < 120.0 {
        format!("{} s", trim(s))
    } else if s < 7200.0 {
        format!("{} min", trim(s / 60.0))
    } else {
        format!("{} h", trim(s / 3600.0))
    }
}

fn trim(v: f64) -> String {
    let t = format!("{v:.1}");
    t.strip_suffix(".0").map(str::to_string).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(text: &str) -> TokenBucket {
        TokenBucket::new(SpawnRate::parse(text).unwrap(), 1_000)
    }

    #[test]
    fn a_bucket_allows_its_burst_then_one_per_interval() {
        let mut b = bucket("2/s");
        assert_eq!(b.available(1_000), 2);
        assert!(b.take(1_000) && b.take(1_000));
        assert!(!b.take(1_000));
        // One token every 500 ms: due at 1500.
        assert_eq!(b.next_token_ms(1_000), Some(1_500));
        assert_eq!(b.next_token_ms(1_200), Some(1_500));
        assert_eq!(b.available(1_499), 0);
        assert_eq!(b.available(1_500), 1);
        assert_eq!(b.next_token_ms(1_500), None);
        assert!(b.take(1_700));
        // 200 ms of the next token had accrued before it was taken.
        assert_eq!(b.next_token_ms(1_700), Some(2_000));
        // Idle for long: full again, never more than its burst.
        assert_eq!(b.available(60_000), 2);
    }

    #[test]
    fn a_slow_bucket_says_when_to_wake() {
        let mut b = bucket("10/min");
        for _ in 0..10 {
            assert!(b.take(1_000));
        }
        assert_eq!(b.available(1_000), 0);
        // 6 s per token.
        assert_eq!(b.next_token_ms(1_000), Some(7_000));
        assert_eq!(b.available(6_999), 0);
        assert!(b.take(7_000));
        assert_eq!(b.next_token_ms(7_000), Some(13_000));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_starts_over_later() {
        let s = RateLimitSettings {
            backoff_ms: 30_000,
            max_backoff_ms: 100_000,
        };
        let mut b = Backoff::default();
        assert_eq!(b.hit(0, &s), Some(30_000));
        assert!(b.active(29_999) && !b.active(30_000));
        // The same limit still on screen: not a second back-off.
        assert_eq!(b.hit(10_000, &s), None);
        assert_eq!(b.hit(31_000, &s), Some(60_000));
        assert_eq!(b.hit(91_000, &s), Some(100_000));
        assert_eq!(b.hit(191_000, &s), Some(100_000));
        // Long after the last one ended: from the start again.
        assert_eq!(b.hit(1_000_000, &s), Some(30_000));
    }

    #[test]
    fn budget_levels_and_words() {
        let b = Budget {
            max_usd: 10.0,
            warn_at: 0.8,
        };
        assert_eq!(budget_level(&b, 7.99), BudgetLevel::Ok);
        assert_eq!(budget_level(&b, 8.0), BudgetLevel::Warning);
        assert_eq!(budget_level(&b, 10.0), BudgetLevel::Exceeded);
        assert_eq!(span_words(30_000), "30 s");
        assert_eq!(span_words(90_000), "90 s");
        assert_eq!(span_words(600_000), "10 min");
    }
}

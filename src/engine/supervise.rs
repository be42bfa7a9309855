//! Supervision rules, pure: heartbeat lights, and what to do after a failed attempt.

use super::snapshot::Light;
use crate::plan::{HeartbeatSettings, RestartSettings};

/// The light for a worker whose last beat (or connection) was at `last_beat_ms`.
/// LATE, MISSING and DEAD follow the seed's thresholds; a beat resets to HEALTHY.
pub fn light_after_silence(hb: &HeartbeatSettings, last_beat_ms: u64, now_ms: u64) -> Light {
    let silent = now_ms.saturating_sub(last_beat_ms);
    if silent >= hb.dead_ms() {
        Light::Dead
    } else if silent >= hb.missing_ms() {
        Light::Missing
    } else if silent >= hb.late_ms() {
        Light::Late
    } else {
        Light::Healthy
    }
}

/// When a worker showing `light` (from silence since `last_beat_ms`) would
/// next change light, if no beat comes: the heartbeat timer's deadline.
pub fn next_threshold_ms(hb: &HeartbeatSettings, last_beat_ms: u64, light: Light) -> Option<u64> {
    let after = match light {
        Light::Late => hb.missing_ms(),
        Light::Missing => hb.dead_ms(),
        Light::Dead => return None,
        _ => hb.late_ms(),
    };
    Some(last_beat_ms + after)
}

/// The light to show: deaths and silences outrank the softer flags.
pub fn shown_light(heartbeat: Light, waiting: bool, stalled: bool) -> Light {
    match heartbeat {
        Light::Healthy if waiting => Light::Waiting,
        Light::Healthy if stalled => Light::Stalled,
        other => other,
    }
}

/// What happens after an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Same profile, same worktree, after `delay_ms`.
    Restart { delay_ms: u64 },
    /// Hand the task to the fallback profile (restarts count afresh).
    Escalate { profile: String },
    /// Nothing left to try.
    Fail,
}

/// The supervision chain: restarts with exponential backoff up to
/// `maxRestarts` per profile, then the next fallback up to `maxFallbacks`,
/// then failure. `fallbacks_used` counts escalations so far; `chain` is the
/// task's own profile followed by its fallbacks.
pub fn after_failure(
    restart: &RestartSettings,
    max_fallbacks: u32,
    restarts_used: u32,
    fallbacks_used: u32,
    chain: &[String],
) -> Next {
    if restarts_used < restart.max_restarts {
        return Next::Restart {
            delay_ms: backoff_ms(restart, restarts_used),
        };
    }
    let next = fallbacks_used as usize + 1;
    if fallbacks_used < max_fallbacks
        && let Some(profile) = chain.get(next)
    {
        return Next::Escalate {
            profile: profile.clone(),
        };
    }
    Next::Fail
}

/// `backoffMs × 2^n`, capped at `maxBackoffMs`.
pub fn backoff_ms(restart: &RestartSettings, n: u32) -> u64 {
    restart
        .backoff_ms
        .saturating_mul(1u64 << n.min(20))
        .min(restart.max_backoff_ms.max(restart.backoff_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb() -> HeartbeatSettings {
        HeartbeatSettings {
            interval_ms: 100,
            late_after_ms: None,
            missing_after_ms: None,
            dead_after_ms: None,
        }
    }

    #[test]
    fn lights_follow_thresholds() {
        let hb = hb(); // late 200, missing 500, dead 1500
        assert_eq!(light_after_silence(&hb, 1000, 1199), Light::Healthy);
        assert_eq!(light_after_silence(&hb, 1000, 1200), Light::Late);
        assert_eq!(light_after_silence(&hb, 1000, 1500), Light::Missing);
        assert_eq!(light_after_silence(&hb, 1000, 2500), Light::Dead);
        // A clock that went backwards is not a death.
        assert_eq!(light_after_silence(&hb, 1000, 900), Light::Healthy);
    }

    #[test]
    fn explicit_thresholds_win() {
        let hb = HeartbeatSettings {
            interval_ms: 100,
            late_after_ms: Some(1000),
            missing_after_ms: Some(2000),
            dead_after_ms: Some(3000),
        };
        assert_eq!(light_after_silence(&hb, 0, 999), Light::Healthy);
        assert_eq!(light_after_silence(&hb, 0, 2999), Light::Missing);
        assert_eq!(light_after_silence(&hb, 0, 3000), Light::Dead);
    }

    #[test]
    fn waiting_and_stalled_only_soften_a_healthy_light() {
        assert_eq!(shown_light(Light::Healthy, true, false), Light::Waiting);
        assert_eq!(shown_light(Light::Healthy, false, true), Light::Stalled);
        assert_eq!(shown_light(Light::Dead, true, true), Light::Dead);
    }

    #[test]
    fn restart_then_escalate_then_fail() {
        let r = RestartSettings {
            max_restarts: 2,
            backoff_ms: 100,
            max_backoff_ms: 150,
            max_nudges: 2,
        };
        let chain = vec!["claude".to_string(), "codex".to_string()];
        assert_eq!(
            after_failure(&r, 1, 0, 0, &chain),
            Next::Restart { delay_ms: 100 }
        );
        assert_eq!(
            after_failure(&r, 1, 1, 0, &chain),
            Next::Restart { delay_ms: 150 }
        );
        assert_eq!(
            after_failure(&r, 1, 2, 0, &chain),
            Next::Escalate {
                profile: "codex".into()
            }
        );
        assert_eq!(after_failure(&r, 1, 2, 1, &chain), Next::Fail);
        // No fallback profile listed, or none allowed: fail.
        assert_eq!(after_failure(&r, 1, 2, 0, &chain[..1]), Next::Fail);
        assert_eq!(after_failure(&r, 0, 2, 0, &chain), Next::Fail);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let r = RestartSettings {
            max_restarts: 9,
            backoff_ms: 1000,
            max_backoff_ms: 30_000,
            max_nudges: 2,
        };
        let seq: Vec<u64> = (0..7).map(|n| backoff_ms(&r, n)).collect();
        assert_eq!(seq, vec![1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
        assert_eq!(backoff_ms(&r, 200), 30_000);
    }
}

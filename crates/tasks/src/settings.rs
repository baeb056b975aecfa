//! How workers run: how many tasks at once and for how long ([`WorkerConfig`]), and how often and
//! how late a transiently failing task is tried again ([`RetryPolicy`]).

use std::time::Duration;

use intentmesh_core::config::{ConfigError, Env, parse_between, parse_or};

pub(crate) const TASK_MAX_ATTEMPTS: &str = "TASK_MAX_ATTEMPTS";
pub(crate) const TASK_RETRY_BASE_MS: &str = "TASK_RETRY_BASE_MS";
pub(crate) const TASK_RETRY_MAX_MS: &str = "TASK_RETRY_MAX_MS";
pub(crate) const TASK_RETRY_JITTER: &str = "TASK_RETRY_JITTER";

/// Exponential backoff with jitter, bounded in attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Handler attempts in all, the first included; after the last the task is dead-lettered.
    pub max_attempts: u32,
    /// Delay before the second attempt; each later one doubles it.
    pub base: Duration,
    /// Upper bound on one delay.
    pub max: Duration,
    /// Fraction of each delay taken off at random (0 = none, 0.5 = up to half).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// Reads `TASK_MAX_ATTEMPTS`, `TASK_RETRY_BASE_MS`, `TASK_RETRY_MAX_MS`, `TASK_RETRY_JITTER`.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let max_attempts = parse_between(env, TASK_MAX_ATTEMPTS, d.max_attempts, 1..=20)?;
        let base: u64 = parse_or(env, TASK_RETRY_BASE_MS, 1000)?;
        let max: u64 = parse_or(env, TASK_RETRY_MAX_MS, 60_000)?;
        if base == 0 || max < base {
            return Err(ConfigError::new(
                TASK_RETRY_MAX_MS,
                &max.to_string(),
                "TASK_RETRY_BASE_MS must be above 0 and at most TASK_RETRY_MAX_MS",
            ));
        }
        let jitter = parse_between(env, TASK_RETRY_JITTER, d.jitter, 0.0..=1.0)?;
        Ok(Self {
            max_attempts,
            base: Duration::from_millis(base),
            max: Duration::from_millis(max),
            jitter,
        })
    }

    /// The delay before attempt `attempt + 1`, after `attempt` (≥ 1) failed: `base · 2^(attempt-1)`,
    /// capped at `max`, without jitter. Each distinct value is one retry queue.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base.saturating_mul(factor).min(self.max)
    }

    /// [`delay`](Self::delay) with up to `jitter` of it taken off at random, so a burst of
    /// failures does not come back as a burst.
    pub fn jittered(&self, attempt: u32) -> Duration {
        self.delay(attempt)
            .mul_f64(1.0 - self.jitter * fastrand::f64())
    }

    /// Every distinct delay, shortest first: the retry queues an agent needs.
    pub fn levels(&self) -> Vec<Duration> {
        let mut levels: Vec<Duration> = (1..self.max_attempts).map(|a| self.delay(a)).collect();
        levels.dedup();
        levels
    }

    /// Whether another attempt may follow after `attempt` attempts.
    pub fn allows_another(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Unsettled messages at a time (`TASK_PREFETCH`); also the worker's concurrency.
    pub prefetch: u16,
    /// Bound on one handler attempt (`TASK_TIMEOUT_SECS`); running out counts as transient.
    pub task_timeout: Duration,
    /// The queue's delivery limit: on the last delivery the broker allows (it has come back this
    /// many times) of a task that was started before, the worker gives up on it itself, so the
    /// task's state says why instead of staying `working`.
    pub delivery_limit: u32,
    /// How long in-flight tasks may take to finish after shutdown begins (the service's
    /// `SHUTDOWN_GRACE_SECS`).
    pub drain: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            prefetch: 16,
            task_timeout: Duration::from_secs(30),
            delivery_limit: 5,
            drain: Duration::from_secs(20),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_jitter_only_shortens() {
        let p = RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            jitter: 0.5,
        };
        let ms: Vec<u128> = (1..8).map(|a| p.delay(a).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(p.levels().len(), 5);
        for a in 1..8 {
            let j = p.jittered(a);
            assert!(j <= p.delay(a) && j >= p.delay(a) / 2, "{j:?}");
        }
        assert!(p.allows_another(7) && !p.allows_another(8));
    }

    #[test]
    fn bad_settings_name_their_variable() {
        use std::collections::HashMap;
        let env = HashMap::from([("TASK_MAX_ATTEMPTS", "0")]);
        assert_eq!(
            RetryPolicy::from_env(&env).unwrap_err().var,
            "TASK_MAX_ATTEMPTS"
        );
        let env = HashMap::from([("TASK_RETRY_BASE_MS", "5000"), ("TASK_RETRY_MAX_MS", "10")]);
        assert!(RetryPolicy::from_env(&env).is_err());
        let env = HashMap::from([("TASK_RETRY_JITTER", "2")]);
        assert!(RetryPolicy::from_env(&env).is_err());
    }
}

//! Requests per caller: `RATE_LIMIT_RPS` sustained, `RATE_LIMIT_BURST` at once, per principal
//! (per client address with `AUTH_MODE=none`). The limit is a GCRA (generic cell rate algorithm:
//! a token bucket kept as one timestamp, the "theoretical arrival time"), in Redis when the
//! gateway has one (every replica shares it; the script reads Redis's clock) and in memory
//! otherwise (bounded: `RATE_LIMIT_MAX_KEYS`). Past the limit: `429 rate_limited` with
//! `Retry-After`; every limited answer carries the IETF `RateLimit-Policy` and `RateLimit`
//! fields (draft-ietf-httpapi-ratelimit-headers). A store that fails lets the request through
//! (counted in `quota_checks{outcome="error"}`): a broken limiter is no outage.

mod memory;
mod redis;

use std::{fmt, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    http::HeaderValue,
    middleware::Next,
    response::{IntoResponse, Response},
};
use intentmesh_core::{
    ErrorCode,
    config::{ConfigError, Env, parse_or},
};

pub use memory::MemoryRateLimiter;
pub use redis::RedisRateLimiter;

use crate::{AppState, auth::Principal, error::ApiError};

pub(crate) const RATE_LIMIT_RPS: &str = "RATE_LIMIT_RPS";
pub(crate) const RATE_LIMIT_BURST: &str = "RATE_LIMIT_BURST";
pub(crate) const RATE_LIMIT_MAX_KEYS: &str = "RATE_LIMIT_MAX_KEYS";

/// A rate: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

impl Rate {
    /// The time one request uses up, in microseconds (GCRA's emission interval).
    fn interval_us(self) -> i64 {
        // `per_second` is positive and finite (checked when read).
        (1_000_000.0 / self.per_second).ceil() as i64
    }

    /// How far ahead of now the bucket may run (GCRA's tolerance): `burst` intervals.
    fn tolerance_us(self) -> i64 {
        self.interval_us().saturating_mul(i64::from(self.burst))
    }

    /// The window the policy is stated over: the time a full burst takes to come back.
    fn window_secs(self) -> u64 {
        let micros = u64::try_from(self.tolerance_us()).unwrap_or(u64::MAX);
        micros.div_ceil(1_000_000).max(1)
    }
}

/// `RATE_LIMIT_RPS` (unset or 0: no limit), `RATE_LIMIT_BURST` (default twice the rate, at least
/// 1), `RATE_LIMIT_MAX_KEYS` (callers remembered in memory, default 100,000).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    pub rate: Option<Rate>,
    pub max_keys: u64,
}

impl RateLimitConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let per_second: f64 = parse_or(env, RATE_LIMIT_RPS, 0.0)?;
        if !(0.0..=1_000_000.0).contains(&per_second) {
            return Err(ConfigError::new(
                RATE_LIMIT_RPS,
                &per_second.to_string(),
                "a rate between 0 (no limit) and 1,000,000 requests per second",
            ));
        }
        let default_burst = (per_second * 2.0).ceil().max(1.0) as u32;
        let burst: u32 = parse_or(env, RATE_LIMIT_BURST, default_burst)?;
        if burst == 0 {
            return Err(ConfigError::new(
                RATE_LIMIT_BURST,
                "0",
                "must be at least 1",
            ));
        }
        let max_keys: u64 = parse_or(env, RATE_LIMIT_MAX_KEYS, 100_000)?;
        if max_keys == 0 {
            return Err(ConfigError::new(
                RATE_LIMIT_MAX_KEYS,
                "0",
                "must be at least 1",
            ));
        }
        Ok(Self {
            rate: (per_second > 0.0).then_some(Rate { per_second, burst }),
            max_keys,
        })
    }
}

/// What one request was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests left in the burst after this one.
    pub remaining: u32,
    /// When the bucket is full again.
    pub reset: Duration,
    /// When a refused request may come back (zero when allowed).
    pub retry_after: Duration,
}

/// GCRA: the caller's theoretical arrival time `tat` (µs; `None`: a new caller), now, the rate →
/// the decision, and the new arrival time to store when allowed.
pub(crate) fn gcra(tat: Option<i64>, now: i64, rate: Rate) -> (Decision, Option<i64>) {
    let tat = tat.unwrap_or(now).max(now);
    let decision = decide(tat - now, rate);
    (
        decision,
        decision
            .allowed
            .then(|| tat.saturating_add(rate.interval_us())),
    )
}

/// GCRA's rule, for a request that finds the caller's arrival time `tat_ahead` µs ahead of now
/// (0: a full bucket): allowed while one more interval stays within the tolerance. The Redis
/// script applies the same rule where it stores the time.
pub(crate) fn decide(tat_ahead: i64, rate: Rate) -> Decision {
    let interval = rate.interval_us();
    let tolerance = rate.tolerance_us();
    let ahead = tat_ahead.saturating_add(interval);
    let micros = |us: i64| Duration::from_micros(u64::try_from(us.max(0)).unwrap_or(0));
    if ahead > tolerance {
        return Decision {
            allowed: false,
            remaining: 0,
            reset: micros(tat_ahead),
            retry_after: micros(ahead - tolerance),
        };
    }
    Decision {
        allowed: true,
        remaining: u32::try_from((tolerance - ahead) / interval).unwrap_or(u32::MAX),
        reset: micros(ahead),
        retry_after: Duration::ZERO,
    }
}

/// Whole seconds, rounded up: a client that waits as told is in time.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[derive(Debug, thiserror::Error)]
#[error("the rate limiter's store failed: {0}")]
pub struct RateLimitError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Where callers' arrival times are kept. One contract suite runs against every adapter
/// (`gateway/tests/contract_rate_limit.rs`).
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug {
    /// Counts one request of `key` against its rate, if it is allowed.
    async fn acquire(&self, key: &str) -> Result<Decision, RateLimitError>;

    fn rate(&self) -> Rate;
}

/// The caller's address, put on each request by the server (the key with `AUTH_MODE=none`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) Option<SocketAddr>);

/// The key a request is limited by: its principal, else its client's address.
fn key(request: &Request) -> String {
    if let Some(principal) = request.extensions().get::<Principal>() {
        return format!("p:{}", principal.id());
    }
    match request.extensions().get::<ClientAddr>() {
        Some(ClientAddr(Some(addr))) => format!("a:{}", addr.ip()),
        _ => "a:unknown".to_owned(),
    }
}

fn headers(response: &mut Response, rate: Rate, decision: &Decision) {
    let policy = format!("\"default\";q={};w={}", rate.burst, rate.window_secs());
    let now = format!(
        "\"default\";r={};t={}",
        decision.remaining,
        ceil_secs(decision.reset)
    );
    for (name, value) in [("ratelimit-policy", policy), ("ratelimit", now)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
}

/// Counts each request against its caller's rate; past it, `429 rate_limited`.
pub(crate) async fn middleware(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(limiter) = &state.rate_limiter else {
        return next.run(request).await;
    };
    if crate::is_operational(request.uri().path()) {
        return next.run(request).await;
    }
    let rate = limiter.rate();
    let decision = match limiter.acquire(&key(&request)).await {
        Ok(decision) => decision,
        Err(err) => {
            state.metrics.quota("rate", "error");
            tracing::debug!(error = %err, "rate limit not checked; the request goes on");
            return next.run(request).await;
        }
    };
    if !decision.allowed {
        state.metrics.quota("rate", "refused");
        let mut response = ApiError(
            intentmesh_core::AgentError::new(
                ErrorCode::RateLimited,
                "too many requests; slow down and retry after the time given",
            )
            .retry_after(Duration::from_secs(ceil_secs(decision.retry_after))),
        )
        .into_response();
        headers(&mut response, rate, &decision);
        return response;
    }
    state.metrics.quota("rate", "allowed");
    let mut response = next.run(request).await;
    headers(&mut response, rate, &decision);
    response
}

/// The limiter `config` asks for: Redis when the gateway has it (shared by replicas), else
/// memory; `None` without a rate.
pub fn limiter(
    config: &RateLimitConfig,
    redis: Option<(fred::prelude::Pool, &str)>,
) -> Option<Arc<dyn RateLimiter>> {
    let rate = config.rate?;
    Some(match redis {
        Some((pool, prefix)) => Arc::new(RedisRateLimiter::new(pool, prefix, rate)),
        None => Arc::new(MemoryRateLimiter::new(rate, config.max_keys)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_second: 10.0,
        burst: 3,
    };

    #[test]
    fn a_burst_then_the_rate() {
        let mut tat = None;
        let mut allowed = Vec::new();
        for _ in 0..4 {
            let (decision, next) = gcra(tat, 0, RATE);
            allowed.push((decision.allowed, decision.remaining));
            tat = next.or(tat);
        }
        assert_eq!(allowed, [(true, 2), (true, 1), (true, 0), (false, 0)]);
        let (refused, _) = gcra(tat, 0, RATE);
        assert_eq!(refused.retry_after, Duration::from_millis(100));
        // One interval later, one more.
        let (later, _) = gcra(tat, 100_000, RATE);
        assert!(later.allowed);
        assert_eq!(later.remaining, 0);
        // A whole window later, the full burst again.
        let (rested, _) = gcra(tat, 1_000_000, RATE);
        assert_eq!(rested.remaining, 2);
    }

    #[test]
    fn rates_are_read_and_checked() {
        use std::collections::HashMap;
        let read = |pairs: &[(&str, &str)]| {
            RateLimitConfig::from_env(&pairs.iter().copied().collect::<HashMap<_, _>>())
        };
        assert_eq!(read(&[]).unwrap().rate, None);
        assert_eq!(read(&[(RATE_LIMIT_RPS, "0")]).unwrap().rate, None);
        let rate = read(&[(RATE_LIMIT_RPS, "2.5")]).unwrap().rate.unwrap();
        assert_eq!(rate.burst, 5);
        assert_eq!(rate.window_secs(), 2);
        for bad in ["-1", "NaN", "inf", "fast"] {
            assert!(read(&[(RATE_LIMIT_RPS, bad)]).is_err(), "{bad}");
        }
        assert!(read(&[(RATE_LIMIT_RPS, "1"), (RATE_LIMIT_BURST, "0")]).is_err());
    }
}

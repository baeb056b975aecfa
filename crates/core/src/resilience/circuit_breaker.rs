//! A circuit breaker per downstream target, as a tower layer.
//!
//! Closed: calls pass; `failure_threshold` consecutive failures open it. Open: calls fail at once
//! with [`BreakerError::Open`] for `open_for`. Then half-open: up to `recovery_threshold` probe
//! calls pass at a time; a failure opens it again, `recovery_threshold` successes close it.
//! What counts as a failure is the caller's [`Classify`] (timeouts, connection errors and
//! `Unavailable`-class statuses; never a caller's bad input).
//!
//! tower has no circuit breaker and the crates that offer one either wrap a whole retry framework
//! or track failure *rates* over windows; the consecutive-failure machine the design asks for is
//! small enough to own and test under tokio's paused clock.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll},
    time::Duration,
};

use tokio::time::Instant;
use tower::{Layer, Service};

use crate::config::{ConfigError, Env, parse_or, seconds_or};

pub const CIRCUIT_FAILURE_THRESHOLD: &str = "CIRCUIT_FAILURE_THRESHOLD";
pub const CIRCUIT_TIMEOUT_SECS: &str = "CIRCUIT_TIMEOUT_SECS";
pub const CIRCUIT_RECOVERY_THRESHOLD: &str = "CIRCUIT_RECOVERY_THRESHOLD";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    pub failure_threshold: u32,
    pub open_for: Duration,
    pub recovery_threshold: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(60),
            recovery_threshold: 3,
        }
    }
}

impl BreakerConfig {
    /// Reads `CIRCUIT_<TARGET>_FAILURE_THRESHOLD`, `CIRCUIT_<TARGET>_TIMEOUT_SECS` and
    /// `CIRCUIT_<TARGET>_RECOVERY_THRESHOLD`, falling back to the same names without the target
    /// (`CIRCUIT_FAILURE_THRESHOLD`, ...) and then to 5, 60 s and 3.
    pub fn from_env(env: &impl Env, target: &str) -> Result<Self, ConfigError> {
        Self::shared(env)?.for_target(env, target)
    }

    /// The settings without a target: `CIRCUIT_FAILURE_THRESHOLD`, ... (else 5, 60 s and 3).
    fn shared(env: &impl Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        Self {
            failure_threshold: parse_or(env, CIRCUIT_FAILURE_THRESHOLD, d.failure_threshold)?,
            open_for: seconds_or(env, CIRCUIT_TIMEOUT_SECS, d.open_for)?,
            recovery_threshold: parse_or(env, CIRCUIT_RECOVERY_THRESHOLD, d.recovery_threshold)?,
        }
        .checked(CIRCUIT_FAILURE_THRESHOLD)
    }

    /// These settings, overridden by `target`'s own (`CIRCUIT_<TARGET>_…`).
    fn for_target(self, env: &impl Env, target: &str) -> Result<Self, ConfigError> {
        let target: String = target
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        if target.is_empty() {
            return Ok(self);
        }
        let failure_threshold = format!("CIRCUIT_{target}_FAILURE_THRESHOLD");
        Self {
            failure_threshold: parse_or(env, &failure_threshold, self.failure_threshold)?,
            open_for: seconds_or(
                env,
                &format!("CIRCUIT_{target}_TIMEOUT_SECS"),
                self.open_for,
            )?,
            recovery_threshold: parse_or(
                env,
                &format!("CIRCUIT_{target}_RECOVERY_THRESHOLD"),
                self.recovery_threshold,
            )?,
        }
        .checked(&failure_threshold)
    }

    fn checked(self, var: &str) -> Result<Self, ConfigError> {
        if self.failure_threshold == 0 || self.recovery_threshold == 0 {
            return Err(ConfigError::new(var, "0", "thresholds must be at least 1"));
        }
        Ok(self)
    }
}

/// Breaker settings for every target of one service: per named target, and a default for the
/// targets only known later (a worker named by its own `Describe`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BreakerConfigs {
    pub default: BreakerConfig,
    pub by_target: std::collections::HashMap<String, BreakerConfig>,
}

impl BreakerConfigs {
    /// Reads the shared `CIRCUIT_*` settings once, and each of `targets`' own.
    pub fn from_env(env: &impl Env, targets: &[&str]) -> Result<Self, ConfigError> {
        let default = BreakerConfig::shared(env)?;
        let mut by_target = std::collections::HashMap::new();
        for target in targets {
            if !by_target.contains_key(*target) {
                by_target.insert((*target).to_owned(), default.for_target(env, target)?);
            }
        }
        Ok(Self { default, by_target })
    }

    pub fn for_target(&self, target: &str) -> BreakerConfig {
        self.by_target.get(target).copied().unwrap_or(self.default)
    }
}

/// The breaker's state, with the values `circuit_breaker_state` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

/// How one call went, as far as the breaker is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// Neither: the target answered, but the caller was wrong (bad input, not found, ...).
    Ignored,
}

/// Decides what a result means for the breaker.
pub trait Classify<T, E>: Clone {
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Outcome + Clone,
{
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive_failures: u32,
    opened_at: Instant,
    probes_in_flight: u32,
    probe_successes: u32,
}

type OnChange = Arc<dyn Fn(BreakerState) + Send + Sync>;

/// One target's breaker, shared by every clone of the services it guards.
#[derive(Clone)]
pub struct CircuitBreaker {
    target: Arc<str>,
    config: BreakerConfig,
    inner: Arc<Mutex<Inner>>,
    on_change: Option<OnChange>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("target", &self.target)
            .field("config", &self.config)
            .field("state", &self.state())
            .finish()
    }
}

/// A call the breaker let through; its outcome must be recorded (dropping it counts as nothing,
/// so a canceled call neither opens nor closes the breaker — but a probe's slot is freed either
/// way, or canceled probes would keep a half-open breaker from ever trying again).
#[derive(Debug)]
pub struct Permit {
    /// The breaker's state, for a half-open probe whose slot is still taken.
    probe: Option<Arc<Mutex<Inner>>>,
}

impl Permit {
    fn release(&mut self) {
        if let Some(inner) = self.probe.take() {
            let mut inner = inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            inner.probes_in_flight = inner.probes_in_flight.saturating_sub(1);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.release();
    }
}

impl CircuitBreaker {
    pub fn new(target: &str, config: BreakerConfig) -> Self {
        Self {
            target: Arc::from(target),
            config,
            inner: Arc::new(Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                opened_at: Instant::now(),
                probes_in_flight: 0,
                probe_successes: 0,
            })),
            on_change: None,
        }
    }

    /// Calls `on_change` with every new state (for the `circuit_breaker_state` gauge).
    #[must_use]
    pub fn on_change(mut self, on_change: impl Fn(BreakerState) + Send + Sync + 'static) -> Self {
        on_change(self.state());
        self.on_change = Some(Arc::new(on_change));
        self
    }

    /// Reports every state in `circuit_breaker_state{agent, target}` of `metrics`.
    #[must_use]
    pub fn reported_in(self, metrics: Arc<crate::metrics::ServiceMetrics>) -> Self {
        let target = self.target.to_string();
        self.on_change(move |state| metrics.set_breaker_state(&target, state as i64))
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a few assignments; a panic cannot leave it half-made.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, inner: &mut Inner, state: BreakerState) {
        if inner.state != state {
            inner.state = state;
            tracing::warn!(target_service = %self.target, state = ?state, "circuit breaker changed state");
            if let Some(on_change) = &self.on_change {
                on_change(state);
            }
        }
    }

    /// The state now (an open breaker whose time is up reports half-open).
    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        if inner.state == BreakerState::Open && inner.opened_at.elapsed() >= self.config.open_for {
            BreakerState::HalfOpen
        } else {
            inner.state
        }
    }

    /// Lets a call through, or says how long until the breaker will try again.
    pub fn try_acquire(&self) -> Result<Permit, Duration> {
        let mut inner = self.lock();
        if inner.state == BreakerState::Open {
            let elapsed = inner.opened_at.elapsed();
            if elapsed < self.config.open_for {
                return Err(self.config.open_for - elapsed);
            }
            inner.probes_in_flight = 0;
            inner.probe_successes = 0;
            self.set(&mut inner, BreakerState::HalfOpen);
        }
        match inner.state {
            BreakerState::Closed => Ok(Permit { probe: None }),
            BreakerState::HalfOpen if inner.probes_in_flight < self.config.recovery_threshold => {
                inner.probes_in_flight += 1;
                Ok(Permit {
                    probe: Some(Arc::clone(&self.inner)),
                })
            }
            // Half-open with every probe slot taken: wait for them.
            _ => Err(Duration::from_secs(1)),
        }
    }

    /// Records how a permitted call went.
    pub fn record(&self, mut permit: Permit, outcome: Outcome) {
        permit.release();
        let mut inner = self.lock();
        match (inner.state, outcome) {
            (_, Outcome::Ignored) => {}
            (BreakerState::Closed, Outcome::Success) => inner.consecutive_failures = 0,
            (BreakerState::Closed, Outcome::Failure) => {
                inner.consecutive_failures += 1;
                if inner.consecutive_failures >= self.config.failure_threshold {
                    inner.opened_at = Instant::now();
                    self.set(&mut inner, BreakerState::Open);
                }
            }
            (BreakerState::HalfOpen, Outcome::Success) => {
                inner.probe_successes += 1;
                if inner.probe_successes >= self.config.recovery_threshold {
                    inner.consecutive_failures = 0;
                    self.set(&mut inner, BreakerState::Closed);
                }
            }
            (BreakerState::HalfOpen, Outcome::Failure) => {
                inner.opened_at = Instant::now();
                self.set(&mut inner, BreakerState::Open);
            }
            // A call let through before the breaker opened: it changes nothing now.
            (BreakerState::Open, _) => {}
        }
    }
}

/// The error of a guarded service: the breaker refused, or the inner service failed.
#[derive(Debug)]
pub enum BreakerError<E> {
    Open {
        target: Arc<str>,
        retry_after: Duration,
    },
    Inner(E),
}

impl<E: fmt::Display> fmt::Display for BreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open {
                target,
                retry_after,
            } => write!(
                f,
                "the circuit to {target} is open; next try in {:.0} s",
                retry_after.as_secs_f64().ceil()
            ),
            Self::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for BreakerError<E> {}

/// Wraps services in a [`CircuitBreaker`].
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C> {
    breaker: CircuitBreaker,
    classify: C,
}

impl<C> CircuitBreakerLayer<C> {
    pub fn new(breaker: CircuitBreaker, classify: C) -> Self {
        Self { breaker, classify }
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CircuitBreakerService<S, C> {
    inner: S,
    breaker: CircuitBreaker,
    classify: C,
}

impl<S, C, Req> Service<Req> for CircuitBreakerService<S, C>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    C: Classify<S::Response, S::Error> + Send + 'static,
{
    type Response = S::Response;
    type Error = BreakerError<S::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BreakerError::Inner)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let permit = match self.breaker.try_acquire() {
            Ok(permit) => permit,
            Err(retry_after) => {
                let target = Arc::clone(&self.breaker.target);
                return Box::pin(async move {
                    Err(BreakerError::Open {
                        target,
                        retry_after,
                    })
                });
            }
        };
        let future = self.inner.call(request);
        let breaker = self.breaker.clone();
        let classify = self.classify.clone();
        Box::pin(async move {
            let result = future.await;
            breaker.record(permit, classify.classify(&result));
            result.map_err(BreakerError::Inner)
        })
    }
}

#[cfg(test)]
mod tests;

//! Admission control: how many requests a server lets run at once, how long the rest may wait
//! for a turn, and a fast, clean `overloaded` for those that cannot get one in time.
//!
//! The limit adapts to latency as Netflix's concurrency-limits `Gradient2` does: every window of
//! samples compares the recent service time with a slow moving average of it; while they agree
//! the limit grows by about √limit, and when the recent one climbs past `TOLERANCE`× the average
//! (work is queueing inside the service) the limit shrinks in proportion. A window in which the
//! server was not using half its limit says nothing about the limit and leaves it alone.
//!
//! Waiters queue in arrival order (tokio's semaphore is fair) for at most `max_wait`, and never
//! past the request's own deadline: an answer nobody waits for any more is not worth the work.
//! At most `max_queue` wait at once; past it a request is refused at once.
//!
//! [`AdmissionLayer`] puts it in front of any `http` service; an [`AdmissionPolicy`] says which
//! requests it governs, until when each may wait, and how a refusal is spelt (a gRPC
//! `ResourceExhausted`, or an HTTP `503`, both with the `overloaded` code and `Retry-After`).

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use prometheus_client::metrics::gauge::Gauge;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

pub use crate::config::AdmissionConfig;
use crate::metrics::ServiceMetrics;

/// How the recent latency may exceed the long-run one before the limit shrinks.
const TOLERANCE: f64 = 1.5;
/// How much of each new estimate enters the limit.
const SMOOTHING: f64 = 0.2;
/// The long-run latency is an average over about this many windows.
const LONG_WINDOWS: f64 = 600.0;
/// A window closes after this many samples, or after `WINDOW` with at least `MIN_SAMPLES`.
const MAX_SAMPLES: u32 = 500;
const MIN_SAMPLES: u32 = 10;
const WINDOW: Duration = Duration::from_millis(100);

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overloaded {
    /// `max_queue` requests were waiting already.
    QueueFull,
    /// No turn came within `max_wait` or before the request's deadline.
    WaitExpired,
}

impl Overloaded {
    pub fn reason(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::WaitExpired => "wait_expired",
        }
    }
}

/// One server's admission controller; clones share it.
#[derive(Debug, Clone)]
pub struct Admission(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    config: AdmissionConfig,
    /// Holds `limit − in flight` permits (less any `debt`).
    permits: Arc<Semaphore>,
    /// Permits still to take out of circulation after the limit shrank while they were in use.
    debt: AtomicUsize,
    in_flight: AtomicUsize,
    waiting: AtomicUsize,
    limiter: Mutex<Gradient>,
    gauges: Option<Gauges>,
}

#[derive(Debug)]
struct Gauges {
    metrics: Arc<ServiceMetrics>,
    limit: Gauge,
    in_flight: Gauge,
    waiting: Gauge,
}

impl Admission {
    pub fn new(config: AdmissionConfig) -> Self {
        Self::build(config, None)
    }

    /// As [`new`](Self::new), reporting `admission_*` in `metrics`.
    pub fn reported_in(config: AdmissionConfig, metrics: Arc<ServiceMetrics>) -> Self {
        let (limit, in_flight, waiting) = metrics.admission_gauges();
        Self::build(
            config,
            Some(Gauges {
                metrics,
                limit,
                in_flight,
                waiting,
            }),
        )
    }

    fn build(config: AdmissionConfig, gauges: Option<Gauges>) -> Self {
        let min = config.min_limit.max(1);
        let max = config.max_limit.max(min);
        let config = AdmissionConfig {
            min_limit: min,
            max_limit: max,
            initial_limit: config.initial_limit.clamp(min, max),
            ..config
        };
        if let Some(g) = &gauges {
            g.limit.set(config.initial_limit as i64);
        }
        Self(Arc::new(Inner {
            permits: Arc::new(Semaphore::new(config.initial_limit)),
            debt: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            limiter: Mutex::new(Gradient::new(config.initial_limit as f64)),
            gauges,
            config,
        }))
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.lock().limit.round() as usize
    }

    pub fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::Relaxed)
    }

    pub fn waiting(&self) -> usize {
        self.0.waiting.load(Ordering::Relaxed)
    }

    /// A turn, waiting for at most `max_wait` and never past `deadline`.
    pub async fn acquire(&self, deadline: Option<Instant>) -> Result<Ticket, Overloaded> {
        let inner = &self.0;
        let permit = match Arc::clone(&inner.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let until = Instant::now() + inner.config.max_wait;
                let until = deadline.map_or(until, |d| d.min(until));
                self.wait(until).await?
            }
        };
        let in_flight = inner.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(g) = &inner.gauges {
            g.in_flight.inc();
        }
        Ok(Ticket {
            admission: self.clone(),
            permit: Some(permit),
            started: Instant::now(),
            in_flight,
        })
    }

    async fn wait(&self, until: Instant) -> Result<OwnedSemaphorePermit, Overloaded> {
        let inner = &self.0;
        let queued = inner.waiting.fetch_add(1, Ordering::Relaxed);
        if let Some(g) = &inner.gauges {
            g.waiting.inc();
        }
        let _waiting = Waiting(self);
        if queued >= inner.config.max_queue {
            return Err(self.refuse(Overloaded::QueueFull));
        }
        match tokio::time::timeout_at(until, Arc::clone(&inner.permits).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Timed out, or the semaphore closed (it never is).
            _ => Err(self.refuse(Overloaded::WaitExpired)),
        }
    }

    fn refuse(&self, why: Overloaded) -> Overloaded {
        if let Some(g) = &self.0.gauges {
            g.metrics.refused(why.reason());
        }
        why
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gradient> {
        // A panic elsewhere while holding it leaves numbers, not broken invariants.
        self.0
            .limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Feeds one service time to the limiter and applies a new limit, if the window closed.
    fn sample(&self, rtt: Duration, in_flight: usize) {
        let inner = &self.0;
        let (old, new) = {
            let mut gradient = self.lock();
            let old = gradient.limit.round() as usize;
            match gradient.sample(rtt, in_flight, &inner.config) {
                Some(new) => (old, new),
                None => return,
            }
        };
        if new > old {
            // Repay debt first: those permits are still out.
            let grow = new - old;
            let debt = inner
                .debt
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |debt| {
                    Some(debt - debt.min(grow))
                })
                .unwrap_or(0);
            inner.permits.add_permits(grow - debt.min(grow));
        } else if new < old {
            let shrink = old - new;
            let taken = inner.permits.forget_permits(shrink);
            inner.debt.fetch_add(shrink - taken, Ordering::Relaxed);
        }
        if let Some(g) = &inner.gauges {
            g.limit.set(new as i64);
        }
    }

    /// Returns a permit, or takes it out of circulation while the limit owes some.
    fn release(&self, permit: OwnedSemaphorePermit) {
        let inner = &self.0;
        let owed = inner
            .debt
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |debt| {
                debt.checked_sub(1)
            })
            .is_ok();
        if owed {
            permit.forget();
        } else {
            drop(permit);
        }
        inner.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(g) = &inner.gauges {
            g.in_flight.dec();
        }
    }
}

/// Counts a waiter out when its wait ends, however it ends (the request may be dropped).
struct Waiting<'a>(&'a Admission);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.0.waiting.fetch_sub(1, Ordering::Relaxed);
        if let Some(g) = &self.0.0.gauges {
            g.waiting.dec();
        }
    }
}

/// An admitted request's turn: give it back with [`done`](Self::done) (its service time is a
/// sample for the limit) or by dropping it (no sample: an error, a cancellation, a long wait
/// the caller asked for).
#[derive(Debug)]
pub struct Ticket {
    admission: Admission,
    permit: Option<OwnedSemaphorePermit>,
    started: Instant,
    in_flight: usize,
}

impl Ticket {
    /// The request finished normally: its service time tells the limiter how the server fares.
    pub fn done(mut self) {
        self.admission
            .sample(self.started.elapsed(), self.in_flight);
        if let Some(permit) = self.permit.take() {
            self.admission.release(permit);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.admission.release(permit);
        }
    }
}

/// The gradient limiter's state.
#[derive(Debug)]
struct Gradient {
    limit: f64,
    /// Long-run average service time, in seconds (0 until the first window).
    long_rtt: f64,
    window_start: Option<Instant>,
    samples: u32,
    sum: f64,
    /// The most requests in flight seen in this window.
    peak: usize,
}

impl Gradient {
    fn new(limit: f64) -> Self {
        Self {
            limit,
            long_rtt: 0.0,
            window_start: None,
            samples: 0,
            sum: 0.0,
            peak: 0,
        }
    }

    /// Adds a sample; when it closes a window, returns the new limit.
    fn sample(
        &mut self,
        rtt: Duration,
        in_flight: usize,
        config: &AdmissionConfig,
    ) -> Option<usize> {
        let now = Instant::now();
        let start = *self.window_start.get_or_insert(now);
        self.samples += 1;
        self.sum += rtt.as_secs_f64();
        self.peak = self.peak.max(in_flight);
        let closed = self.samples >= MAX_SAMPLES
            || (self.samples >= MIN_SAMPLES && now.duration_since(start) >= WINDOW);
        if !closed {
            return None;
        }
        let short = self.sum / f64::from(self.samples);
        let peak = self.peak;
        self.window_start = None;
        self.samples = 0;
        self.sum = 0.0;
        self.peak = 0;
        if short <= 0.0 {
            return None;
        }

        if self.long_rtt == 0.0 {
            self.long_rtt = short;
        } else {
            self.long_rtt += (short - self.long_rtt) / LONG_WINDOWS;
            // After a long stretch of slow answers, come back down quickly once they are fast.
            if self.long_rtt / short > 2.0 {
                self.long_rtt *= 0.95;
            }
        }
        // Not using half the limit: this window says nothing about it.
        if (peak as f64) < self.limit / 2.0 {
            return Some(self.limit.round() as usize);
        }
        let gradient = (TOLERANCE * self.long_rtt / short).clamp(0.5, 1.0);
        let estimate = self.limit * gradient + self.limit.sqrt();
        let limit = (self.limit * (1.0 - SMOOTHING) + estimate * SMOOTHING)
            .clamp(config.min_limit as f64, config.max_limit as f64);
        self.limit = limit;
        Some(limit.round() as usize)
    }
}

/// What a policy decides about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Not governed (health, metrics, reflection, streams with their own caps).
    Exempt,
    /// Governed: may wait until `deadline` (and at most `max_wait`); `sample` says whether its
    /// service time speaks for the server's health. A request that will go on to wait for
    /// something else (`Prefer: wait`) is not a sample, and gets a [`Turn`] in its extensions to
    /// give its turn back before it waits.
    Govern {
        deadline: Option<Instant>,
        sample: bool,
    },
}

/// An admitted request's turn, in its extensions when its policy said it is no sample: the
/// handler gives it back with [`release`](Self::release) once its work is done and only a wait
/// is left (the wait has its own cap).
#[derive(Debug, Clone)]
pub struct Turn(Arc<Mutex<Option<Ticket>>>);

impl Turn {
    /// Gives the turn back now (the request goes on outside admission).
    pub fn release(&self) {
        let ticket = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(ticket);
    }
}

/// Which requests an [`AdmissionLayer`] governs and how it answers the ones it refuses.
pub trait AdmissionPolicy<ReqBody, ResBody>: Clone + Send + Sync + 'static {
    fn admit(&self, request: &http::Request<ReqBody>) -> Admit;
    /// The answer to a refused request: `overloaded`, with `Retry-After`.
    fn refuse(&self, why: Overloaded) -> http::Response<ResBody>;
    /// Whether an answer is a normal one whose service time is a sample (not a failure).
    fn is_sample(&self, response: &http::Response<ResBody>) -> bool;
}

/// Admission control in front of a service.
#[derive(Debug, Clone)]
pub struct AdmissionLayer<P> {
    admission: Admission,
    policy: P,
}

impl<P> AdmissionLayer<P> {
    pub fn new(admission: Admission, policy: P) -> Self {
        Self { admission, policy }
    }
}

impl<S, P: Clone> tower::Layer<S> for AdmissionLayer<P> {
    type Service = AdmissionService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        AdmissionService {
            inner,
            admission: self.admission.clone(),
            policy: self.policy.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AdmissionService<S, P> {
    inner: S,
    admission: Admission,
    policy: P,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, P, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for AdmissionService<S, P>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    P: AdmissionPolicy<ReqBody, ResBody>,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        // The inner service was made ready for this call; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (deadline, sample) = match self.policy.admit(&request) {
            Admit::Exempt => return Box::pin(inner.call(request)),
            Admit::Govern { deadline, sample } => (deadline, sample),
        };
        let admission = self.admission.clone();
        let policy = self.policy.clone();
        let mut request = request;
        Box::pin(async move {
            let ticket = match admission.acquire(deadline).await {
                Ok(ticket) => ticket,
                Err(why) => return Ok(policy.refuse(why)),
            };
            if !sample {
                let turn = Turn(Arc::new(Mutex::new(Some(ticket))));
                request.extensions_mut().insert(turn.clone());
                let response = inner.call(request).await;
                turn.release();
                return response;
            }
            let response = inner.call(request).await;
            match &response {
                Ok(r) if policy.is_sample(r) => ticket.done(),
                _ => drop(ticket),
            }
            response
        })
    }
}

#[cfg(test)]
mod tests;

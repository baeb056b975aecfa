//! Outbound gRPC calls: one channel per downstream service, and for each target one tower stack,
//! built once at start, that every call to it goes through (gateway → root, root → workers):
//!
//! ```text
//! Call { message, deadline }
//!   → bounded retry   (only a call that did nothing there: Unavailable; backoff with jitter,
//!                      never past the deadline)
//!   → circuit breaker (the target's, shared by its methods; what counts is the caller's)
//!   → propagation     (grpc-timeout = what is left of the deadline; W3C traceparent)
//!   → the generated client's method
//! ```
//!
//! `GRPC_CONNECTIONS_PER_TARGET` HTTP/2 connections per downstream service
//! ([`pooled_channel`]), so that one connection's stream limit (`HTTP2_MAX_CONCURRENT_STREAMS`
//! on the other side) never caps what a replica is asked to do.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tokio::time::Instant;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tower::{Service, ServiceBuilder, util::BoxCloneSyncService};

use crate::resilience::{
    BreakerError, CircuitBreaker, CircuitBreakerLayer, Classify, caller_deadline,
};

/// A channel to `url` that connects on first use and reconnects by itself; over TLS with `tls`
/// (`config::tls`: then an `http://` URL is dialled as `https://`). An `https://` URL without
/// `tls` is verified against the system's roots.
pub fn lazy_channel(
    url: &str,
    tls: Option<&ClientTlsConfig>,
) -> Result<Channel, tonic::transport::Error> {
    Ok(endpoint(url, tls)?.connect_lazy())
}

fn endpoint(url: &str, tls: Option<&ClientTlsConfig>) -> Result<Endpoint, tonic::transport::Error> {
    let url = match (tls, url.strip_prefix("http://")) {
        (Some(_), Some(rest)) => format!("https://{rest}"),
        _ => url.to_owned(),
    };
    let endpoint = Endpoint::from_shared(url)?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    match tls {
        Some(tls) => endpoint.tls_config(tls.clone()),
        None if endpoint.uri().scheme_str() == Some("https") => {
            endpoint.tls_config(ClientTlsConfig::new().with_native_roots())
        }
        None => Ok(endpoint),
    }
}

/// A channel over `connections` HTTP/2 connections to `url`, each connected on first use and
/// reconnected by itself; calls go to the less loaded of two (tower's power of two choices).
pub fn pooled_channel(
    url: &str,
    connections: usize,
    tls: Option<&ClientTlsConfig>,
) -> Result<Channel, tonic::transport::Error> {
    if connections <= 1 {
        return lazy_channel(url, tls);
    }
    let endpoint = endpoint(url, tls)?;
    // Keyed by index: `balance_list` keys by URI, and would keep one of identical endpoints.
    let (channel, changes) = Channel::balance_channel::<usize>(connections);
    for key in 0..connections {
        // The capacity is `connections`: there is room for every insert.
        let _ = changes.try_send(tonic::transport::channel::Change::Insert(
            key,
            endpoint.clone(),
        ));
    }
    // The set never changes; the balancer keeps its connections when the sender goes.
    drop(changes);
    Ok(channel)
}

/// One call: the message, and when its answer is needed by (the caller's deadline, carried on to
/// the next hop).
#[derive(Debug, Clone)]
pub struct Call<T> {
    pub message: T,
    pub deadline: Instant,
}

impl<T> Call<T> {
    pub fn new(message: T, deadline: Instant) -> Self {
        Self { message, deadline }
    }
}

/// What a call through a stack can end in: the breaker refused it, or the target answered with a
/// status (an error of its own, or of the transport).
pub type CallError = BreakerError<tonic::Status>;

/// A target's stack for one method.
pub type Outbound<Req, Resp> = BoxCloneSyncService<Call<Req>, Resp, CallError>;

/// Extra attempts of a call the target did not act on (it was unreachable or said
/// `Unavailable`), and the first pause between them (doubling, with jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    pub extra: u32,
    pub base: Duration,
}

impl Retries {
    /// No retries: each call is tried once.
    pub const NONE: Self = Self {
        extra: 0,
        base: Duration::ZERO,
    };
}

/// The stack for calls of one method to one target. `unary` is the generated client's method
/// (`|req| client.process(req)`); `breaker` is the target's, shared with its other methods;
/// `classify` says what a result means for that breaker.
pub fn outbound<Req, Resp, S, C>(
    unary: S,
    breaker: CircuitBreaker,
    classify: C,
    retries: Retries,
) -> Outbound<Req, Resp>
where
    Req: Clone + Send + Sync + 'static,
    Resp: Send + 'static,
    S: Service<tonic::Request<Req>, Response = Resp, Error = tonic::Status>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    C: Classify<Resp, tonic::Status> + Send + Sync + 'static,
{
    let target: Arc<str> = Arc::from(breaker.target());
    BoxCloneSyncService::new(
        ServiceBuilder::new()
            .retry(RetryUnavailable {
                retries,
                attempt: 0,
                target,
            })
            .layer(CircuitBreakerLayer::new(breaker, classify))
            .service(Propagate(unary)),
    )
}

/// [`Call`] → `tonic::Request`: the deadline becomes `grpc-timeout`, the current span's context
/// `traceparent`. The deadline is also kept here: a target that has not answered by then is left
/// (a hung connection holds no caller past its budget), and a status that ends the call after the
/// deadline is marked as the caller's deadline running out ([`caller_deadline`]), which no breaker
/// counts.
#[derive(Debug, Clone)]
pub struct Propagate<S>(S);

impl<S, T> Service<Call<T>> for Propagate<S>
where
    S: Service<tonic::Request<T>, Error = tonic::Status>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = tonic::Status;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, tonic::Status>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, call: Call<T>) -> Self::Future {
        let deadline = call.deadline;
        let mut request = tonic::Request::new(call.message);
        request.set_timeout(deadline.saturating_duration_since(Instant::now()));
        crate::propagation::inject_grpc(&mut request);
        let answer = self.0.call(request);
        Box::pin(async move {
            match tokio::time::timeout_at(deadline, answer).await {
                Ok(Err(status))
                    if Instant::now() >= deadline
                        && matches!(
                            status.code(),
                            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
                        ) =>
                {
                    Err(caller_deadline(status))
                }
                Ok(answer) => answer,
                Err(_) => Err(caller_deadline(tonic::Status::deadline_exceeded(
                    "no answer before the deadline",
                ))),
            }
        })
    }
}

/// Retries a call the target did not act on, within its deadline. Every call carries the request
/// id the target keys its side effects on (the payment ledger's last-resort idempotency key), so
/// a repeat is safe even when the first attempt did reach it.
#[derive(Debug, Clone)]
struct RetryUnavailable {
    retries: Retries,
    attempt: u32,
    target: Arc<str>,
}

impl<T: Clone, Resp> tower::retry::Policy<Call<T>, Resp, CallError> for RetryUnavailable {
    type Future = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn retry(
        &mut self,
        call: &mut Call<T>,
        result: &mut Result<Resp, CallError>,
    ) -> Option<Self::Future> {
        let unavailable =
            matches!(result, Err(BreakerError::Inner(s)) if s.code() == tonic::Code::Unavailable);
        if !unavailable || self.attempt >= self.retries.extra {
            return None;
        }
        let pause = self
            .retries
            .base
            .saturating_mul(2u32.saturating_pow(self.attempt))
            .mul_f64(0.5 + fastrand::f64() / 2.0);
        if Instant::now() + pause >= call.deadline {
            return None;
        }
        self.attempt += 1;
        tracing::debug!(target_service = %self.target, attempt = self.attempt, "retrying an unavailable target");
        Some(Box::pin(tokio::time::sleep(pause)))
    }

    fn clone_request(&mut self, call: &Call<T>) -> Option<Call<T>> {
        // Without retries, no copy of every request for one that never comes.
        (self.retries.extra > 0).then(|| call.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use tower::ServiceExt;

    use super::*;
    use crate::resilience::{BreakerConfig, grpc_outcome};

    fn counting(
        answers: Vec<tonic::Code>,
    ) -> (
        impl Service<
            tonic::Request<u32>,
            Response = u32,
            Error = tonic::Status,
            Future = impl Future<Output = Result<u32, tonic::Status>> + Send,
        > + Clone
        + Send
        + Sync
        + 'static,
        Arc<AtomicU32>,
    ) {
        let calls = Arc::new(AtomicU32::new(0));
        let seen = Arc::clone(&calls);
        let answers = Arc::new(answers);
        let svc = tower::service_fn(move |req: tonic::Request<u32>| {
            let n = seen.fetch_add(1, Ordering::SeqCst) as usize;
            let answers = Arc::clone(&answers);
            async move {
                assert!(
                    req.metadata().get("grpc-timeout").is_some(),
                    "the deadline travels"
                );
                match answers.get(n) {
                    Some(tonic::Code::Ok) | None => Ok(req.into_inner()),
                    Some(code) => Err(tonic::Status::new(*code, "no")),
                }
            }
        });
        (svc, calls)
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    /// With TLS configured every target is dialled over TLS; without it, an `https://` target
    /// still is (against the system's roots), and an `http://` one is plaintext.
    #[test]
    fn targets_are_dialled_over_tls_whenever_tls_is_named_or_configured() {
        let tls = ClientTlsConfig::new();
        let upgraded = endpoint("http://payment:8001", Some(&tls)).unwrap();
        assert_eq!(upgraded.uri().scheme_str(), Some("https"));
        let public = endpoint("https://agent.example.com", None).unwrap();
        assert_eq!(public.uri().scheme_str(), Some("https"));
        let plain = endpoint("http://payment:8001", None).unwrap();
        assert_eq!(plain.uri().scheme_str(), Some("http"));
    }

    #[tokio::test]
    async fn unavailable_targets_are_tried_again_within_bounds() {
        let (svc, calls) = counting(vec![tonic::Code::Unavailable, tonic::Code::Unavailable]);
        let breaker = CircuitBreaker::new("t", BreakerConfig::default());
        let retries = Retries {
            extra: 2,
            base: Duration::from_millis(1),
        };
        let stack = outbound(svc, breaker, grpc_outcome::<u32>, retries);
        assert_eq!(stack.oneshot(Call::new(7, deadline())).await.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let (svc, calls) = counting(vec![tonic::Code::InvalidArgument]);
        let breaker = CircuitBreaker::new("t", BreakerConfig::default());
        let stack = outbound(svc, breaker, grpc_outcome::<u32>, retries);
        let err = stack.oneshot(Call::new(7, deadline())).await.unwrap_err();
        assert!(matches!(err, BreakerError::Inner(s) if s.code() == tonic::Code::InvalidArgument));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a refusal is not retried");
    }

    /// A target that does not answer within the deadline is left then, and that is the caller's
    /// deadline: the breaker does not count it, however often it happens.
    #[tokio::test]
    async fn a_call_ends_at_its_deadline_and_no_breaker_counts_it() {
        let config = BreakerConfig {
            failure_threshold: 1,
            ..BreakerConfig::default()
        };
        let breaker = CircuitBreaker::new("t", config);
        let hung = tower::service_fn(|_req: tonic::Request<u32>| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<u32, tonic::Status>(0)
        });
        let stack = outbound(hung, breaker.clone(), grpc_outcome::<u32>, Retries::NONE);
        for _ in 0..3 {
            let started = Instant::now();
            let soon = started + Duration::from_millis(20);
            let err = stack.clone().oneshot(Call::new(1, soon)).await.unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(5));
            assert!(
                matches!(&err, BreakerError::Inner(s) if s.code() == tonic::Code::DeadlineExceeded && crate::resilience::is_caller_deadline(s)),
                "{err}"
            );
        }
        assert_eq!(breaker.state(), crate::resilience::BreakerState::Closed);
    }

    /// Load shedding by the target does not open its breaker either.
    #[tokio::test]
    async fn shedding_does_not_open_the_breaker() {
        let config = BreakerConfig {
            failure_threshold: 1,
            ..BreakerConfig::default()
        };
        let breaker = CircuitBreaker::new("t", config);
        let (svc, _) = counting(vec![tonic::Code::ResourceExhausted; 5]);
        let stack = outbound(svc, breaker.clone(), grpc_outcome::<u32>, Retries::NONE);
        for _ in 0..5 {
            assert!(
                stack
                    .clone()
                    .oneshot(Call::new(1, deadline()))
                    .await
                    .is_err()
            );
        }
        assert_eq!(breaker.state(), crate::resilience::BreakerState::Closed);
    }

    #[tokio::test]
    async fn an_open_breaker_refuses_without_calling() {
        let config = BreakerConfig {
            failure_threshold: 1,
            ..BreakerConfig::default()
        };
        let (svc, calls) = counting(vec![tonic::Code::Internal]);
        let stack = outbound(
            svc,
            CircuitBreaker::new("t", config),
            grpc_outcome::<u32>,
            Retries::NONE,
        );
        assert!(
            stack
                .clone()
                .oneshot(Call::new(1, deadline()))
                .await
                .is_err()
        );
        let err = stack.oneshot(Call::new(1, deadline())).await.unwrap_err();
        assert!(matches!(err, BreakerError::Open { .. }), "{err}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}

//! Prometheus metrics per service (its own registry, served at `/metrics`), with the contract
//! names of docs/ARCHITECTURE.md ("Observability"), and the tower layer that records them for
//! every request. Crates with metrics of their own (tasks, routing) register them through
//! [`MetricFamilies`] when the service is put together.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub agent: String,
    pub method: String,
    pub status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentLabels {
    pub agent: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    pub agent: String,
    pub reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QuotaLabels {
    pub agent: String,
    /// `rate` (requests per principal), `daily_budget` (payments per principal and currency).
    pub quota: String,
    /// `allowed`, `refused`, or `error` (the quota's store failed; the request went on).
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BreakerLabels {
    pub agent: String,
    pub target: String,
}

type HistogramFamily = Family<AgentLabels, Histogram, fn() -> Histogram>;

/// Metric families a crate owns (task, routing), registered into a service's registry.
pub trait MetricFamilies {
    fn register(&self, registry: &mut Registry);
}

/// One service's metrics and the registry that encodes them.
#[derive(Debug)]
pub struct ServiceMetrics {
    agent: String,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: HistogramFamily,
    active_connections: Family<AgentLabels, Gauge>,
    breakers: Family<BreakerLabels, Gauge>,
    admission: AdmissionGauges,
    quotas: Family<QuotaLabels, Counter>,
}

/// The admission controller's state (`crate::resilience::admission`).
#[derive(Debug, Clone, Default)]
pub struct AdmissionGauges {
    pub limit: Family<AgentLabels, Gauge>,
    pub in_flight: Family<AgentLabels, Gauge>,
    pub waiting: Family<AgentLabels, Gauge>,
    pub refused: Family<RefusalLabels, Counter>,
}

/// 100 µs doubling up to ~52 s: fine enough for 0.1–100 ms, wide enough for timeouts.
pub fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

impl ServiceMetrics {
    /// A service's metrics: the request, connection and breaker families.
    pub fn new(agent: &str) -> Arc<Self> {
        Self::with(agent, &[])
    }

    /// As [`new`](Self::new), with `families` of other crates in the same registry.
    pub fn with(agent: &str, families: &[&dyn MetricFamilies]) -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = HistogramFamily::new_with_constructor(latency_histogram);
        let active_connections = Family::<AgentLabels, Gauge>::default();
        let breakers = Family::<BreakerLabels, Gauge>::default();
        let admission = AdmissionGauges::default();
        let quotas = Family::<QuotaLabels, Counter>::default();
        for family in families {
            family.register(&mut registry);
        }
        registry.register(
            "circuit_breaker_state",
            "Circuit breaker per downstream target: 0 closed, 1 open, 2 half-open",
            breakers.clone(),
        );
        registry.register(
            "agent_requests",
            "Requests handled, by agent, method and status",
            requests.clone(),
        );
        registry.register(
            "agent_request_duration_seconds",
            "Request handling time in seconds",
            duration.clone(),
        );
        registry.register(
            "agent_active_connections",
            "Open client connections",
            active_connections.clone(),
        );
        registry.register(
            "admission_limit",
            "Requests the admission controller lets run at once (adaptive)",
            admission.limit.clone(),
        );
        registry.register(
            "admission_in_flight",
            "Admitted requests running",
            admission.in_flight.clone(),
        );
        registry.register(
            "admission_waiting",
            "Requests waiting for admission",
            admission.waiting.clone(),
        );
        registry.register(
            "admission_refused",
            "Requests refused with `overloaded`, by reason (queue_full, wait_expired, connections)",
            admission.refused.clone(),
        );
        registry.register(
            "quota_checks",
            "Quota checks by quota (rate, daily_budget) and outcome (allowed, refused, error)",
            quotas.clone(),
        );
        Arc::new(Self {
            quotas,
            agent: agent.to_owned(),
            registry,
            requests,
            duration,
            active_connections,
            breakers,
            admission,
        })
    }

    /// Sets `circuit_breaker_state{agent, target}` (0 closed, 1 open, 2 half-open).
    pub fn set_breaker_state(&self, target: &str, state: i64) {
        self.breakers
            .get_or_create(&BreakerLabels {
                agent: self.agent.clone(),
                target: target.to_owned(),
            })
            .set(state);
    }

    /// This service's admission gauges: limit, in flight and waiting.
    pub fn admission_gauges(&self) -> (Gauge, Gauge, Gauge) {
        let labels = AgentLabels {
            agent: self.agent.clone(),
        };
        (
            self.admission.limit.get_or_create(&labels).clone(),
            self.admission.in_flight.get_or_create(&labels).clone(),
            self.admission.waiting.get_or_create(&labels).clone(),
        )
    }

    /// Counts one request or connection refused as overloaded, and why.
    pub fn refused(&self, reason: &str) {
        self.admission
            .refused
            .get_or_create(&RefusalLabels {
                agent: self.agent.clone(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts one check of `quota` and how it ended.
    pub fn quota(&self, quota: &str, outcome: &str) {
        self.quotas
            .get_or_create(&QuotaLabels {
                agent: self.agent.clone(),
                quota: quota.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Records one finished request.
    pub fn record(&self, method: &str, status: &str, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                agent: self.agent.clone(),
                method: method.to_owned(),
                status: status.to_owned(),
            })
            .inc();
        self.duration
            .get_or_create(&AgentLabels {
                agent: self.agent.clone(),
            })
            .observe(seconds);
    }

    /// A guard that counts one open connection until dropped.
    pub fn connection_opened(self: &Arc<Self>) -> ConnectionGuard {
        self.connections().inc();
        ConnectionGuard {
            metrics: Arc::clone(self),
        }
    }

    fn connections(&self) -> Gauge {
        self.active_connections
            .get_or_create(&AgentLabels {
                agent: self.agent.clone(),
            })
            .clone()
    }

    /// The OpenMetrics text exposition of this service's registry.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Decrements the open-connection gauge when dropped.
#[derive(Debug)]
pub struct ConnectionGuard {
    metrics: Arc<ServiceMetrics>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.metrics.connections().dec();
    }
}

/// The content type of [`ServiceMetrics::encode`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The gRPC methods the services serve: anything else under these services' names is one
/// bucket, however many names a caller invents.
const GRPC_METHODS: [&str; 7] = [
    "/intentmesh.v1.Agent/Process",
    "/intentmesh.v1.Agent/Describe",
    "/intentmesh.v1.Router/Route",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The HTTP routes the services serve (the gateway's task routes by their template).
const HTTP_ROUTES: [&str; 7] = [
    "/health",
    "/ready",
    "/metrics",
    "/process",
    "/route",
    "/openapi.json",
    "/",
];

/// A request's route with bounded cardinality, for span names: a known gRPC method or HTTP route
/// as itself, the gateway's task routes as their template, everything else `other`.
pub fn route_name(path: &str) -> &'static str {
    if let Some(known) = GRPC_METHODS
        .iter()
        .chain(HTTP_ROUTES.iter())
        .find(|p| **p == path)
    {
        return known;
    }
    match path
        .strip_prefix("/tasks/")
        .map(|rest| rest.split('/').nth(1))
    {
        Some(None) => "/tasks/{id}",
        Some(Some("events")) => "/tasks/{id}/events",
        Some(Some("cancel")) => "/tasks/{id}/cancel",
        _ => "other",
    }
}

/// Method label with bounded cardinality: a known gRPC method by its name, a known HTTP route by
/// its path, everything else `other`.
pub fn method_label(path: &str) -> &'static str {
    if let Some(known) = GRPC_METHODS.iter().find(|m| **m == path) {
        return known.rsplit('/').next().unwrap_or("other");
    }
    HTTP_ROUTES
        .iter()
        .find(|p| **p == path)
        .copied()
        .unwrap_or("other")
}

/// Status label: the gRPC status name for gRPC responses, else the HTTP status code.
fn status_label<B>(res: &http::Response<B>) -> String {
    let is_grpc = res
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !is_grpc {
        return res.status().as_str().to_owned();
    }
    match res.headers().get("grpc-status") {
        // OK statuses of unary calls arrive in trailers, which this layer does not wait for.
        None => "OK".to_owned(),
        Some(v) => {
            let code = v
                .to_str()
                .ok()
                .and_then(|s| s.parse::<i32>().ok())
                .map_or(tonic::Code::Unknown, tonic::Code::from_i32);
            format!("{code:?}")
        }
    }
}

/// Records `agent_requests_total` and `agent_request_duration_seconds` for every request.
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    metrics: Arc<ServiceMetrics>,
}

impl MetricsLayer {
    pub fn new(metrics: Arc<ServiceMetrics>) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

#[derive(Debug, Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Arc<ServiceMetrics>,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for MetricsService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let method = method_label(req.uri().path()).to_owned();
        let metrics = Arc::clone(&self.metrics);
        // The clone that was driven to readiness handles this call (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let start = Instant::now();
            let result = inner.call(req).await;
            let status = match &result {
                Ok(res) => status_label(res),
                Err(_) => "error".to_owned(),
            };
            metrics.record(&method, &status, start.elapsed().as_secs_f64());
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_names_are_exported() {
        let m = ServiceMetrics::new("payment");
        m.record("Process", "OK", 0.002);
        let guard = m.connection_opened();
        let text = m.encode();
        assert!(
            text.contains(
                r#"agent_requests_total{agent="payment",method="Process",status="OK"} 1"#
            )
        );
        assert!(text.contains("agent_request_duration_seconds_bucket"));
        assert!(text.contains(r#"agent_active_connections{agent="payment"} 1"#));
        drop(guard);
        assert!(
            m.encode()
                .contains(r#"agent_active_connections{agent="payment"} 0"#)
        );
    }

    #[test]
    fn method_labels_are_bounded() {
        assert_eq!(method_label("/intentmesh.v1.Agent/Process"), "Process");
        assert_eq!(method_label("/grpc.health.v1.Health/Check"), "Check");
        assert_eq!(method_label("/health"), "/health");
        assert_eq!(method_label("/random/junk/123"), "other");
        assert_eq!(method_label("/evil.Service/x"), "other");
        assert_eq!(method_label("/intentmesh.v1.Agent/Invented123"), "other");
        assert_eq!(method_label("/intentmesh.v1.Whatever/x"), "other");
        assert_eq!(
            route_name("/intentmesh.v1.Agent/Process"),
            "/intentmesh.v1.Agent/Process"
        );
        assert_eq!(route_name("/intentmesh.v1.Agent/Invented123"), "other");
        assert_eq!(route_name("/tasks/task_abc"), "/tasks/{id}");
        assert_eq!(route_name("/tasks/task_abc/events"), "/tasks/{id}/events");
        assert_eq!(route_name("/tasks/task_abc/nope"), "other");
        assert_eq!(route_name("/random/junk"), "other");
    }
}

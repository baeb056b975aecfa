//! A span per request, continuing the caller's trace (W3C `traceparent` in the headers).

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use opentelemetry::trace::TraceContextExt as _;
use tracing::{Instrument, instrument::Instrumented};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::propagation;

/// Wraps each request in a `server` span named after its route (unknown paths are one name,
/// `other`: a caller cannot mint span names), parented on the caller's context.
#[derive(Debug, Clone)]
pub struct TraceLayer {
    service: Arc<str>,
}

impl TraceLayer {
    pub fn new(service: &str) -> Self {
        Self {
            service: Arc::from(service),
        }
    }
}

impl<S> tower::Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService {
            inner,
            service: Arc::clone(&self.service),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TraceService<S> {
    inner: S,
    service: Arc<str>,
}

impl<S, B> tower::Service<http::Request<B>> for TraceService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let span = tracing::info_span!(
            "request",
            otel.name = crate::metrics::route_name(request.uri().path()),
            otel.kind = "server",
            service = %self.service,
            method = %request.method(),
            request_id = tracing::field::Empty,
            principal = tracing::field::Empty,
            trace_id = tracing::field::Empty,
        );
        // No caller context (or no OpenTelemetry layer) leaves the span a root: nothing to do.
        let _ = span.set_parent(propagation::parent_from_headers(request.headers()));
        // With span export on, every log line in this request names its trace.
        let trace = span.context().span().span_context().trace_id();
        if trace != opentelemetry::trace::TraceId::INVALID {
            span.record("trace_id", tracing::field::display(trace));
        }
        self.inner.call(request).instrument(span)
    }
}

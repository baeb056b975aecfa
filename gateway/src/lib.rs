//! The public gateway: JSON over HTTP in front, gRPC to the root agent behind.
//!
//! Layout (see docs/ARCHITECTURE.md): `handlers` and `tasks` take what `extract` checked and
//! answer with the shapes of `api` (converted by `convert`) or an `ApiError`; `root` holds the
//! stacks every call to the root agent goes through; `openapi` describes it all.

pub mod api;
mod config;
mod convert;
mod error;
pub mod extract;
mod handlers;
pub mod openapi;
mod request_id;
mod root;
mod tasks;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, FromRef, Request},
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};
use intentmesh_core::{
    metrics::{MetricsLayer, ServiceMetrics},
    serve::{ServeError, TraceLayer, TrackedListener, drain_within},
};
use intentmesh_tasks::TaskPorts;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, DEFAULT_ROOT_URL, Limits};
pub use error::ApiError;
pub use request_id::RequestId;

pub const SERVICE_NAME: &str = "gateway";

/// What every handler shares. Extractors clone it for each request, so a clone is one reference
/// count (the root's stacks and channel clones are not free: measured in `make bench`).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    root: root::Root,
    limits: Limits,
    metrics: Arc<ServiceMetrics>,
    tasks: Option<TaskPorts>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for Limits {
    fn from_ref(state: &AppState) -> Self {
        state.limits
    }
}

impl AppState {
    /// The stacks to the root agent over one lazily connected channel (nothing is dialled yet),
    /// its breaker reported in `metrics`; with `tasks`, the task API reads from them.
    pub fn new(
        config: &Config,
        metrics: Arc<ServiceMetrics>,
        tasks: Option<TaskPorts>,
    ) -> Result<Self, tonic::transport::Error> {
        Ok(Self(Arc::new(Shared {
            root: root::Root::new(config.root_url(), config.root_breaker, Arc::clone(&metrics))?,
            limits: config.limits,
            metrics,
            tasks,
        })))
    }
}

/// The gateway's routes and layers.
pub fn app(state: AppState) -> Router {
    let metrics = Arc::clone(&state.metrics);
    let max_body = state.limits.max_body_bytes;
    Router::new()
        .route("/process", post(handlers::process))
        .route("/route", post(handlers::route))
        .route("/tasks/{id}", get(tasks::get_task))
        .route("/tasks/{id}/events", get(tasks::task_events))
        .route("/tasks/{id}/cancel", post(tasks::cancel_task))
        .route("/health", get(handlers::health))
        .route("/ready", get(handlers::ready))
        .route("/metrics", get(handlers::metrics))
        .route("/openapi.json", get(openapi::serve))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        // Read inside-out: the body limit applies to extraction; errors are logged once, as they
        // leave; every request has its id (on its span, its error bodies and its answer) before
        // that; metrics see every request, including rejected ones.
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(log_errors))
        .layer(middleware::from_fn(request_id::middleware))
        .layer(MetricsLayer::new(metrics))
        // Outermost: every request's span, continuing a caller's `traceparent` if it sent one.
        .layer(TraceLayer::new(SERVICE_NAME))
        .with_state(state)
}

/// Logs each error response once, where it leaves the gateway (errors another IntentMesh service
/// made were logged there: DEBUG here).
async fn log_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if let Some(error::ErrorLogged(err)) = response.extensions().get::<error::ErrorLogged>() {
        let status = response.status().as_u16();
        if status >= 500 && !err.relayed {
            tracing::warn!(%method, %path, status, code = %err.code, error = %err.chain(), "request failed");
        } else {
            tracing::debug!(%method, %path, status, code = %err.code, error = %err.chain(), "request refused");
        }
    }
    response
}

/// Serves the gateway until `shutdown`, then drains in-flight requests within the grace period.
/// With `tasks`, the task API reads from them.
pub async fn serve(
    config: Config,
    tasks: Option<TaskPorts>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let metrics = ServiceMetrics::new(SERVICE_NAME);
    let state = AppState::new(&config, Arc::clone(&metrics), tasks)?;
    tracing::info!(service = SERVICE_NAME, addr = %listener.local_addr()?, root = %config.root_url(), "serving HTTP");
    let server = axum::serve(TrackedListener::new(listener, metrics), app(state))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    drain_within(
        server,
        &shutdown,
        config.server.shutdown_grace,
        SERVICE_NAME,
    )
    .await
}

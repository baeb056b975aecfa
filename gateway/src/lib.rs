//! The public gateway: JSON over HTTP in front, gRPC to the root agent behind.

mod body;
mod config;
mod convert;
mod error;
mod handlers;
mod prefer;
mod tasks;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};
use intentmesh_core::{
    metrics::{MetricsLayer, ServiceMetrics},
    resilience::CircuitBreaker,
    serve::{ServeError, TraceLayer, TrackedListener, drain_within},
    tasks::{PortsError, TaskPorts},
};
use intentmesh_proto::pb::{agent_client::AgentClient, router_client::RouterClient};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;

pub use config::{Config, DEFAULT_ROOT_URL, Limits};
pub use error::ApiError;

pub const SERVICE_NAME: &str = "gateway";

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    root: AgentClient<Channel>,
    router: RouterClient<Channel>,
    health: HealthClient<Channel>,
    limits: Limits,
    metrics: Arc<ServiceMetrics>,
    tasks: Option<TaskPorts>,
    /// Open while the root keeps failing: `/process` and `/route` then fail fast.
    root_breaker: CircuitBreaker,
}

impl AppState {
    /// Clients over one lazily connected channel to the root agent.
    pub fn new(
        config: &Config,
        metrics: Arc<ServiceMetrics>,
        tasks: Option<TaskPorts>,
    ) -> Result<Self, tonic::transport::Error> {
        let channel = intentmesh_core::client::lazy_channel(&config.root_url)?;
        Ok(Self {
            root: AgentClient::new(channel.clone()),
            router: RouterClient::new(channel.clone()),
            health: HealthClient::new(channel),
            limits: config.limits,
            root_breaker: CircuitBreaker::new("root", config.root_breaker)
                .reported_in(Arc::clone(&metrics)),
            metrics,
            tasks,
        })
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
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        // Read inside-out: the body limit applies to extraction; errors are logged once, as they
        // leave; metrics see every request, including rejected ones.
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(log_errors))
        .layer(MetricsLayer::new(metrics))
        // Outermost: every request's span, continuing a caller's `traceparent` if it sent one.
        .layer(TraceLayer::new(SERVICE_NAME))
        .with_state(state)
}

/// Logs each error response once, where it leaves the gateway.
async fn log_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if let Some(error::ErrorLogged(err)) = response.extensions().get::<error::ErrorLogged>() {
        let status = response.status().as_u16();
        if status >= 500 {
            tracing::warn!(%method, %path, status, code = %err.code.wire_name(), message = %err.message, "request failed");
        } else {
            tracing::debug!(%method, %path, status, code = %err.code.wire_name(), "request refused");
        }
    }
    response
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid ROOT_AGENT_URL: {0}")]
    RootUrl(#[from] tonic::transport::Error),
    #[error(transparent)]
    Tasks(#[from] PortsError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// Connects RabbitMQ and Redis when configured and serves the gateway until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let tasks = TaskPorts::connect(&config.tasks, SERVICE_NAME, false).await?;
    serve(config, tasks, listener, shutdown).await
}

/// Serves the gateway until `shutdown`, then drains in-flight requests within the grace period.
/// With `tasks`, the task API reads from them.
pub async fn serve(
    config: Config,
    tasks: Option<TaskPorts>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let metrics = ServiceMetrics::new(SERVICE_NAME);
    let state = AppState::new(&config, Arc::clone(&metrics), tasks)?;
    tracing::info!(service = SERVICE_NAME, addr = %listener.local_addr().map_err(ServeError::from)?, root = %config.root_url, "serving HTTP");
    let server = axum::serve(TrackedListener::new(listener, metrics), app(state))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    drain_within(
        server,
        &shutdown,
        config.server.shutdown_grace,
        SERVICE_NAME,
    )
    .await?;
    Ok(())
}

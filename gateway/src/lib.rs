//! The public gateway: JSON over HTTP in front, gRPC to the root agent behind.
//!
//! Layout (see docs/ARCHITECTURE.md): `handlers` and `tasks` take what `extract` checked and
//! answer with the shapes of `api` (converted by `convert`) or an `ApiError`; `root` holds the
//! stacks every call to the root agent goes through; `openapi` describes it all.

pub mod api;
pub mod auth;
mod config;
mod convert;
mod error;
pub mod extract;
mod followers;
mod handlers;
pub mod openapi;
pub mod rate_limit;
mod request_id;
mod root;
mod server;
mod tasks;

use std::sync::Arc;

use axum::response::IntoResponse;
use axum::{
    Router,
    extract::{DefaultBodyLimit, FromRef, Request, State},
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};
use intentmesh_core::{
    ErrorCode,
    metrics::{MetricsLayer, ServiceMetrics},
    resilience::{Admission, AdmissionLayer},
    serve::{ServeError, TraceLayer, drain_within},
};
use intentmesh_tasks::TaskPorts;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, DEFAULT_ROOT_URL, Limits};
pub use error::ApiError;
pub use followers::FollowerLimits;
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
    admission: Admission,
    body_read_timeout: std::time::Duration,
    followers: followers::Followers,
    /// `None` with `AUTH_MODE=none`.
    auth: Option<auth::Authenticator>,
    /// `None` without `RATE_LIMIT_RPS`.
    rate_limiter: Option<Arc<dyn rate_limit::RateLimiter>>,
    /// `ADMIN_LISTEN_ADDR`: `/metrics` is served there, not on the public port.
    admin: Option<std::net::SocketAddr>,
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
    /// The stacks to the root agent over lazily connected channels (nothing is dialled yet),
    /// its breaker and the gateway's admission reported in `metrics`; with `tasks`, the task API
    /// reads from them.
    pub fn new(
        config: &Config,
        metrics: Arc<ServiceMetrics>,
        tasks: Option<TaskPorts>,
    ) -> Result<Self, tonic::transport::Error> {
        Ok(Self(Arc::new(Shared {
            auth: auth::Authenticator::new(&config.auth),
            rate_limiter: rate_limit::limiter(
                &config.rate_limit,
                tasks
                    .as_ref()
                    .and_then(|t| t.redis.clone())
                    .zip(config.tasks.redis.as_ref().map(|r| r.key_prefix.as_str())),
            ),
            root: root::Root::new(
                config.root_url(),
                config.server.connections_per_target,
                config.server.tls.client(),
                config.root_breaker,
                Arc::clone(&metrics),
            )?,
            limits: config.limits,
            admission: Admission::reported_in(config.server.admission, Arc::clone(&metrics)),
            body_read_timeout: config.server.connections.body_read_timeout,
            followers: followers::Followers::new(config.followers),
            metrics,
            tasks,
            admin: config.server.admin,
        })))
    }
}

/// The gateway's routes and layers.
pub fn app(state: AppState) -> Router {
    let metrics = Arc::clone(&state.metrics);
    let max_body = state.limits.max_body_bytes;
    let admission = AdmissionLayer::new(
        state.admission.clone(),
        server::HttpAdmission {
            limits: state.limits,
        },
    );

    let routes = Router::new()
        .route("/process", post(handlers::process))
        .route("/route", post(handlers::route))
        .route("/tasks/{id}", get(tasks::get_task))
        .route("/tasks/{id}/events", get(tasks::task_events))
        .route("/tasks/{id}/cancel", post(tasks::cancel_task))
        .route("/openapi.json", get(openapi::serve))
        .merge(probe_routes());
    // With an admin port, `/metrics` is there only (it is not for the public).
    let routes = if state.admin.is_some() {
        routes
    } else {
        routes.route("/metrics", get(handlers::metrics))
    };
    routes
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        // Read inside-out: the body limit applies to extraction; work waits for admission
        // (refused: 503 overloaded); before that, the caller's rate (429 past it), and before
        // that who is calling (401); all of it with the body already read, so a slow sender
        // holds a connection, never a turn, and a refused client reads its answer instead of
        // a connection closed under its unread body. Errors are logged once, as they leave;
        // every request has its id (on its span, its error bodies and its answer) before that;
        // metrics see every request, including rejected ones.
        .layer(DefaultBodyLimit::max(max_body))
        .layer(admission)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::middleware,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::middleware,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), read_body))
        .layer(middleware::from_fn(log_errors))
        .layer(middleware::from_fn(request_id::middleware))
        .layer(MetricsLayer::new(metrics))
        // Outermost: every request's span, continuing a caller's `traceparent` if it sent one.
        .layer(TraceLayer::new(SERVICE_NAME))
        .with_state(state)
}

/// `/health` and `/ready`, on the public port and the admin port alike.
fn probe_routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(handlers::health))
        .route("/ready", get(handlers::ready))
}

/// The admin port's routes (`ADMIN_LISTEN_ADDR`): the probes and `/metrics`, plain HTTP, no
/// authentication (the network policy decides who reaches it).
pub fn admin_app(state: AppState) -> Router {
    probe_routes()
        .route("/metrics", get(handlers::metrics))
        .with_state(state)
}

/// The operational routes — probes, metrics and the API's description: anyone may call them,
/// and neither authentication, rate limits nor admission stand in their way.
pub(crate) fn is_operational(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics" | "/openapi.json")
}

/// Reads a request's body in full (at most `MAX_BODY_BYTES`, within `BODY_READ_TIMEOUT_SECS`)
/// before anything else is decided.
async fn read_body(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let limit = state.limits.max_body_bytes;
    let read = tokio::time::timeout(state.body_read_timeout, read_limited(body, limit));
    let err = match read.await {
        Ok(Read::Whole(bytes)) => {
            return next
                .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await;
        }
        Ok(Read::TooLarge) => ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the body is larger than allowed",
        )
        .with("max_bytes", limit),
        Ok(Read::Failed(err)) => ApiError::new(
            ErrorCode::InvalidRequest,
            format!("cannot read the body: {err}"),
        ),
        Err(_) => ApiError::new(ErrorCode::RequestTimeout, "the body did not arrive in time")
            .with("timeout_secs", state.body_read_timeout.as_secs_f64()),
    };
    err.into_response()
}

/// A body read under a limit.
enum Read {
    Whole(bytes::Bytes),
    TooLarge,
    Failed(axum::Error),
}

/// How much of a too-large body is read and dropped, as a multiple of the limit, so that its
/// client reads the `413` instead of a connection reset under its unread bytes; past it, the
/// answer goes at once and the connection closes.
const DRAIN_FACTOR: usize = 16;

/// Reads `body` whole if it is at most `limit` bytes; a larger one is read on and dropped, up
/// to [`DRAIN_FACTOR`] times the limit, and is [`Read::TooLarge`].
async fn read_limited(mut body: axum::body::Body, limit: usize) -> Read {
    use http_body_util::BodyExt as _;
    let mut kept = bytes::BytesMut::new();
    let mut dropped = 0usize;
    while let Some(frame) = body.frame().await {
        let data = match frame.map(|f| f.into_data()) {
            Ok(Ok(data)) => data,
            // Trailers carry nothing we read.
            Ok(Err(_)) => continue,
            Err(err) => return Read::Failed(err),
        };
        if dropped > 0 || kept.len() + data.len() > limit {
            dropped = dropped.saturating_add(data.len());
            if dropped > limit.saturating_mul(DRAIN_FACTOR) {
                return Read::TooLarge;
            }
            continue;
        }
        kept.extend_from_slice(&data);
    }
    if dropped > 0 {
        Read::TooLarge
    } else {
        Read::Whole(kept.freeze())
    }
}

/// Logs each error response once, where it leaves the gateway (errors another IntentMesh service
/// made were logged there: DEBUG here).
async fn log_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if let Some(error::ErrorLogged(err)) = response.extensions().get::<error::ErrorLogged>() {
        let status = response.status().as_u16();
        let shed = err.code == ErrorCode::Overloaded;
        if status >= 500 && !err.relayed && !shed {
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
    match &state.auth {
        Some(auth) => {
            tracing::info!(
                mode = config.auth.mode(),
                "callers must authenticate (AUTH_MODE)"
            );
            auth.watch(shutdown.clone());
        }
        None => tracing::warn!(
            "AUTH_MODE=none: no caller is authenticated, any caller may name any user_id and read any task; set AUTH_MODE=api_key and/or jwt outside development"
        ),
    }
    tracing::info!(service = SERVICE_NAME, addr = %listener.local_addr()?, root = %config.root_url(), "serving HTTP");
    let admin = match config.server.admin {
        Some(addr) => {
            let routes = admin_app(state.clone());
            Some(intentmesh_core::serve::spawn_admin(SERVICE_NAME, addr, routes, &shutdown).await?)
        }
        None => None,
    };
    let server = server::run(
        app(state),
        listener,
        config.server.connections,
        metrics,
        shutdown.clone(),
    );
    let served = drain_within(
        server,
        &shutdown,
        config.server.shutdown_grace,
        SERVICE_NAME,
    )
    .await;
    if let Some(admin) = admin {
        admin.abort();
    }
    served
}

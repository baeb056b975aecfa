//! The one way an agent is served: gRPC (its services, `grpc.health.v1.Health`, reflection) and
//! plain HTTP (`/health`, `/ready`, `/metrics`) on one port, with server policy on the builder,
//! and whatever else the agent runs until the same shutdown (a worker draining its queue) beside
//! it.

mod conn;
mod trace;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use futures::future::BoxFuture;

use axum::{Json, http::StatusCode, response::IntoResponse, routing::get};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic_health::server::HealthReporter;

pub use conn::{TrackedListener, TrackedStream};
pub use trace::TraceLayer;

use crate::{
    config::ServerConfig,
    metrics::{self, MetricsLayer, ServiceMetrics},
};

/// A failure of something run beside a server.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{what} stopped")]
    Companion {
        what: &'static str,
        #[source]
        source: BoxError,
    },
}

/// A readiness check: `Err(reason)` while a required dependency is unreachable.
pub type ReadyCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Ready when every one of `checks` is (asked in order; the first reason wins).
pub fn all_ready(checks: Vec<ReadyCheck>) -> ReadyCheck {
    Arc::new(move || {
        let checks = checks.clone();
        Box::pin(async move {
            for check in &checks {
                check().await?;
            }
            Ok(())
        })
    })
}

/// Something that runs beside the server until the same shutdown.
struct Companion {
    what: &'static str,
    run: BoxFuture<'static, Result<(), BoxError>>,
}

/// Builds and runs one agent's server.
pub struct AgentServer {
    name: String,
    config: ServerConfig,
    metrics: Arc<ServiceMetrics>,
    routes: tonic::service::RoutesBuilder,
    service_names: Vec<&'static str>,
    descriptor_sets: Vec<&'static [u8]>,
    ready: Vec<ReadyCheck>,
    companion: Option<Companion>,
}

impl std::fmt::Debug for AgentServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentServer")
            .field("name", &self.name)
            .field("services", &self.service_names)
            .finish_non_exhaustive()
    }
}

impl AgentServer {
    pub fn new(name: &str, config: ServerConfig, metrics: Arc<ServiceMetrics>) -> Self {
        Self {
            name: name.to_owned(),
            config,
            metrics,
            routes: tonic::service::RoutesBuilder::default(),
            service_names: Vec::new(),
            descriptor_sets: vec![tonic_health::pb::FILE_DESCRIPTOR_SET],
            ready: Vec::new(),
            companion: None,
        }
    }

    /// Serves reflection for the services of this encoded `FileDescriptorSet` too.
    pub fn reflection(mut self, descriptor_set: &'static [u8]) -> Self {
        self.descriptor_sets.push(descriptor_set);
        self
    }

    /// Runs `run` beside the server: it gets the same shutdown, and either stopping with an error
    /// stops the other (the worker that drains this agent's queue).
    pub fn companion<F, E>(mut self, what: &'static str, run: F) -> Self
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.companion = Some(Companion {
            what,
            run: Box::pin(async move { run.await.map_err(|e| Box::new(e) as BoxError) }),
        });
        self
    }

    /// Adds a gRPC service; its health status is reported under its fully qualified name.
    pub fn add_service<S>(mut self, svc: S) -> Self
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes.add_service(svc);
        self
    }

    /// Adds a check behind `GET /ready` and the gRPC health status: ready while all pass.
    pub fn readiness(mut self, check: ReadyCheck) -> Self {
        self.ready.push(check);
        self
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight requests for at most the
    /// configured grace period.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError> {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut reflection_v1 = tonic_reflection::server::Builder::configure();
        let mut reflection_v1alpha = tonic_reflection::server::Builder::configure();
        for set in &self.descriptor_sets {
            reflection_v1 = reflection_v1.register_encoded_file_descriptor_set(set);
            reflection_v1alpha = reflection_v1alpha.register_encoded_file_descriptor_set(set);
        }
        let reflection_v1 = reflection_v1.build_v1()?;
        let reflection_v1alpha = reflection_v1alpha.build_v1alpha()?;

        let Self {
            name,
            config,
            metrics,
            mut routes,
            service_names,
            ready,
            companion,
            ..
        } = self;
        let ready = (!ready.is_empty()).then(|| all_ready(ready));
        routes
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        let router = routes.routes().into_axum_router().merge(http_routes(
            &name,
            Arc::clone(&metrics),
            ready.clone(),
        ));

        // tonic-health starts "" as SERVING; nothing is serving until readiness says so.
        set_status(&health, &service_names, false).await;
        let health_watch = tokio::spawn(watch_readiness(
            health.clone(),
            service_names.clone(),
            ready.clone(),
            shutdown.child_token(),
        ));
        let local = listener.local_addr()?;
        tracing::info!(service = %name, addr = %local, "serving gRPC and HTTP");

        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map({
            let metrics = Arc::clone(&metrics);
            move |conn| conn.map(|stream| TrackedStream::new(stream, &metrics))
        });
        let drained = shutdown.clone();
        let server = tonic::transport::Server::builder()
            .accept_http1(true)
            .timeout(config.request_timeout)
            .concurrency_limit_per_connection(config.concurrency_limit_per_connection)
            .load_shed(true)
            .layer(MetricsLayer::new(Arc::clone(&metrics)))
            .layer(TraceLayer::new(&name))
            .add_routes(tonic::service::Routes::from(router))
            .serve_with_incoming_shutdown(incoming, async move {
                drained.cancelled().await;
                // The watcher stops first, so NOT_SERVING is the last word.
                let _ = health_watch.await;
                set_status(&health, &service_names, false).await;
            });
        let served = drain_within(server, &shutdown, config.shutdown_grace, &name);
        let Some(Companion { what, run }) = companion else {
            return served.await;
        };
        // Either stopping stops the other: the server at shutdown, the companion on a failure.
        let stop = shutdown.clone();
        let (served, ran) = tokio::join!(
            async {
                let r = served.await;
                shutdown.cancel();
                r
            },
            async move {
                let r = run.await;
                if r.is_err() {
                    stop.cancel();
                }
                r
            }
        );
        served?;
        ran.map_err(|source| ServeError::Companion { what, source })
    }
}

/// Runs `server` to completion, or gives up `grace` after `shutdown` fired.
pub async fn drain_within<F, E>(
    server: F,
    shutdown: &CancellationToken,
    grace: Duration,
    name: &str,
) -> Result<(), ServeError>
where
    F: Future<Output = Result<(), E>>,
    ServeError: From<E>,
{
    tokio::pin!(server);
    tokio::select! {
        res = &mut server => {
            res?;
            tracing::info!(service = %name, "stopped");
            Ok(())
        }
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(service = %name, grace_secs = grace.as_secs_f64(), "in-flight requests did not finish within the grace period");
            Ok(())
        }
    }
}

/// Keeps the gRPC health status in step with readiness: SERVING only while the ready check
/// passes (polled every 250 ms until ready, then every 2 s), until `stop`.
async fn watch_readiness(
    health: HealthReporter,
    names: Vec<&'static str>,
    ready: Option<ReadyCheck>,
    stop: CancellationToken,
) {
    let mut last = None;
    loop {
        let ok = match &ready {
            Some(check) => check().await.is_ok(),
            None => true,
        };
        if stop.is_cancelled() {
            return;
        }
        if last != Some(ok) {
            set_status(&health, &names, ok).await;
            last = Some(ok);
        }
        let wait = if ok {
            Duration::from_secs(2)
        } else {
            Duration::from_millis(250)
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn set_status(health: &HealthReporter, names: &[&'static str], serving: bool) {
    let status = if serving {
        tonic_health::ServingStatus::Serving
    } else {
        tonic_health::ServingStatus::NotServing
    };
    health.set_service_status("", status).await;
    for name in names {
        health.set_service_status(*name, status).await;
    }
}

/// `GET /health` (liveness), `GET /ready` (readiness) and `GET /metrics`.
pub fn http_routes(
    service: &str,
    metrics: Arc<ServiceMetrics>,
    ready: Option<ReadyCheck>,
) -> axum::Router {
    let service = service.to_owned();
    let ready_service = service.clone();
    axum::Router::new()
        .route(
            "/health",
            get(move || {
                let service = service.clone();
                async move {
                    Json(json!({"status": "healthy", "service": service, "version": crate::VERSION}))
                }
            }),
        )
        .route(
            "/ready",
            get(move || {
                let ready = ready.clone();
                let service = ready_service.clone();
                async move {
                    let verdict = match ready {
                        Some(check) => check().await,
                        None => Ok(()),
                    };
                    match verdict {
                        Ok(()) => (
                            StatusCode::OK,
                            Json(json!({"status": "ready", "service": service})),
                        ),
                        Err(reason) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            Json(
                                json!({"status": "not_ready", "service": service, "reason": reason}),
                            ),
                        ),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = Arc::clone(&metrics);
                async move {
                    (
                        [(http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
                        metrics.encode(),
                    )
                        .into_response()
                }
            }),
        )
}

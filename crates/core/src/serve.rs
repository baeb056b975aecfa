//! The one way an agent is served: gRPC (its services, `grpc.health.v1.Health`, reflection) and
//! plain HTTP (`/health`, `/ready`, `/metrics`) on one port, with server policy on the builder,
//! and whatever else the agent runs until the same shutdown (a worker draining its queue) beside
//! it.

mod allowed;
mod conn;
mod trace;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use futures::future::BoxFuture;

use axum::{Json, http::StatusCode, response::IntoResponse, routing::get};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic_health::server::HealthReporter;

pub use allowed::{AllowedClientsLayer, AllowedClientsService};
pub use conn::{Connections, Refuse, TrackedStream};
pub use trace::TraceLayer;

use crate::{
    AgentError,
    config::ServerConfig,
    metrics::{self, MetricsLayer, ServiceMetrics},
    resilience::{Admission, AdmissionLayer, AdmissionPolicy, Admit, Overloaded},
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
    companions: Vec<Companion>,
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
            companions: Vec::new(),
        }
    }

    /// Serves reflection for the services of this encoded `FileDescriptorSet` too.
    pub fn reflection(mut self, descriptor_set: &'static [u8]) -> Self {
        self.descriptor_sets.push(descriptor_set);
        self
    }

    /// Runs `run` beside the server (the worker that drains this agent's queue): it gets the same
    /// shutdown, and the server or any companion stopping with an error stops them all. Each call
    /// adds one.
    pub fn companion<F, E>(mut self, what: &'static str, run: F) -> Self
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.companions.push(Companion {
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
            companions,
            ..
        } = self;
        let ready = (!ready.is_empty()).then(|| all_ready(ready));
        routes
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        // With an admin port, `/metrics` is served there only; `/health` and `/ready` on both.
        let mut router = routes
            .routes()
            .into_axum_router()
            .merge(probe_routes(&name, ready.clone()));
        let admin = match config.admin {
            Some(addr) => {
                let routes =
                    probe_routes(&name, ready.clone()).merge(metrics_route(Arc::clone(&metrics)));
                Some(spawn_admin(&name, addr, routes, &shutdown).await?)
            }
            None => {
                router = router.merge(metrics_route(Arc::clone(&metrics)));
                None
            }
        };

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

        // gRPC peers are our own services with pooled connections: a refused one is closed.
        let incoming =
            Connections::new(config.connections, Arc::clone(&metrics)).incoming(listener);
        let admission = Admission::reported_in(config.admission, Arc::clone(&metrics));
        let limits = config.connections;
        let drained = shutdown.clone();
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = config.tls.server() {
            builder = builder.tls_config(tls.clone())?;
        }
        let server = builder
            .accept_http1(true)
            .timeout(config.request_timeout)
            .max_concurrent_streams(limits.http2_max_concurrent_streams)
            .http2_keepalive_interval(Some(limits.http2_keepalive))
            .http2_keepalive_timeout(Some(limits.http2_keepalive))
            .layer(MetricsLayer::new(Arc::clone(&metrics)))
            .layer(TraceLayer::new(&name))
            .layer(AllowedClientsLayer::new(
                config.tls.allowed_clients().cloned(),
            ))
            .layer(AdmissionLayer::new(admission, GrpcAdmission))
            .add_routes(tonic::service::Routes::from(router))
            .serve_with_incoming_shutdown(incoming, async move {
                drained.cancelled().await;
                // The watcher stops first, so NOT_SERVING is the last word.
                let _ = health_watch.await;
                set_status(&health, &service_names, false).await;
            });
        let served = async {
            let served = drain_within(server, &shutdown, config.shutdown_grace, &name).await;
            if let Some(admin) = admin {
                // It stops with the same shutdown; it has nothing in flight worth waiting for.
                admin.abort();
            }
            served
        };
        if companions.is_empty() {
            return served.await;
        }
        // Any stopping stops the rest: the server at shutdown, a companion on a failure.
        let ran = companions.into_iter().map(|Companion { what, run }| {
            let stop = shutdown.clone();
            async move {
                run.await.map_err(|source| {
                    stop.cancel();
                    ServeError::Companion { what, source }
                })
            }
        });
        let (served, ran) = tokio::join!(
            async {
                let r = served.await;
                shutdown.cancel();
                r
            },
            futures::future::join_all(ran)
        );
        served?;
        ran.into_iter().collect()
    }
}

/// Admission on an agent's port: every gRPC call but health, reflection and `Describe` (cheap,
/// and what a caller needs to learn the server is busy), waiting no longer than its
/// `grpc-timeout`; refused with `ResourceExhausted`, `overloaded` and `retry_after_secs`.
#[derive(Debug, Clone, Copy)]
pub struct GrpcAdmission;

impl<B> AdmissionPolicy<B, tonic::body::Body> for GrpcAdmission {
    fn admit(&self, request: &http::Request<B>) -> Admit {
        let path = request.uri().path();
        let exempt = path.starts_with("/grpc.")
            || path.ends_with("/Describe")
            || matches!(path, "/health" | "/ready" | "/metrics");
        if exempt {
            return Admit::Exempt;
        }
        let deadline = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::deadline::parse_grpc_timeout)
            .map(|t| tokio::time::Instant::now() + t);
        Admit::Govern {
            deadline,
            sample: true,
        }
    }

    fn refuse(&self, why: Overloaded) -> http::Response<tonic::body::Body> {
        let err = AgentError::overloaded("the service is at capacity; retry shortly")
            .with("reason", why.reason());
        tonic::Status::from(err).into_http()
    }

    fn is_sample(&self, response: &http::Response<tonic::body::Body>) -> bool {
        // A trailers-only answer carries its status in the headers: an error, not a sample.
        response.status().is_success()
            && response
                .headers()
                .get("grpc-status")
                .is_none_or(|s| s.as_bytes() == b"0")
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

/// Serves `router` (`/health`, `/ready` and `/metrics`) in plain HTTP on `addr` until `shutdown`:
/// the admin port (`ADMIN_LISTEN_ADDR`), what probes and Prometheus reach, apart from the
/// service port and its TLS.
pub async fn spawn_admin(
    service: &str,
    addr: std::net::SocketAddr,
    router: axum::Router,
    shutdown: &CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, ServeError> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(service = %service, addr = %listener.local_addr()?, "serving /health, /ready and /metrics");
    let stop = shutdown.clone();
    let service = service.to_owned();
    Ok(tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(service = %service, error = %err, "the admin port stopped");
        }
    }))
}

/// `GET /metrics`: the service's registry in the OpenMetrics text format.
pub fn metrics_route(metrics: Arc<ServiceMetrics>) -> axum::Router {
    axum::Router::new().route(
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

/// `GET /health` (liveness) and `GET /ready` (readiness).
pub fn probe_routes(service: &str, ready: Option<ReadyCheck>) -> axum::Router {
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
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("broke")]
    struct Broke;

    fn config() -> ServerConfig {
        ServerConfig::local(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// A failing companion stops the server and every other companion, and is the error
    /// `serve` returns; the companions that were stopped by the shutdown are not.
    #[tokio::test]
    async fn a_failing_companion_stops_the_server_and_the_others() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel();
        let other = shutdown.clone();
        let server = AgentServer::new("test", config(), ServiceMetrics::new("test"))
            .companion("patient", async move {
                other.cancelled().await;
                let _ = stopped_tx.send(());
                Ok::<_, Broke>(())
            })
            .companion("failing", async { Err::<(), _>(Broke) });
        let served = tokio::time::timeout(
            Duration::from_secs(10),
            server.serve(listener, shutdown.clone()),
        )
        .await
        .expect("serve returns once a companion fails");
        match served {
            Err(ServeError::Companion { what, .. }) => assert_eq!(what, "failing"),
            other => panic!("expected the failing companion's error, got {other:?}"),
        }
        assert!(shutdown.is_cancelled());
        stopped_rx
            .await
            .expect("the other companion saw the shutdown");
    }

    /// Without companions, the server runs until the shutdown and stops cleanly.
    #[tokio::test]
    async fn the_server_alone_stops_at_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        let server = AgentServer::new("test", config(), ServiceMetrics::new("test"));
        let serving = tokio::spawn(server.serve(listener, shutdown.clone()));
        shutdown.cancel();
        let served = tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("serve returns after the shutdown")
            .unwrap();
        assert!(served.is_ok(), "{served:?}");
    }
}

//! The root agent: learns its workers from their `Describe`, routes each request through a
//! cascade of classifiers (rules now; embeddings and an LLM plug in as later stages), extracts
//! entities deterministically, and dispatches to the chosen worker over gRPC.

mod config;
mod entities;
mod registry;
mod routing;
mod service;

use std::sync::Arc;

use intentmesh_core::{
    metrics::ServiceMetrics,
    serve::{AgentServer, ServeError},
    tasks::{PortsError, TaskPorts},
};
use intentmesh_proto::pb::{agent_server::AgentServer as AgentGrpc, router_server::RouterServer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, DEFAULT_AGENT_URLS, WorkerEndpoint, parse_workers};
pub use registry::{Registry, RegistryError};
pub use service::{AGENT_NAME, RootAgent};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Tasks(#[from] PortsError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// Connects RabbitMQ and Redis when configured and serves the root agent until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let tasks = TaskPorts::connect(&config.tasks, AGENT_NAME, false).await?;
    serve(config, tasks, listener, shutdown).await
}

/// Serves the root agent until `shutdown`, discovering workers in the background. With `tasks`,
/// work that runs asynchronously is queued there; without, it runs synchronously (or, when the
/// caller insists on async, is refused with `mode_not_available`).
pub async fn serve(
    config: Config,
    tasks: Option<TaskPorts>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let metrics = ServiceMetrics::new(AGENT_NAME);
    let registry = Arc::new(Registry::new(&config, Arc::clone(&metrics))?);
    let discovery =
        tokio::spawn(Arc::clone(&registry).run(config.discovery_interval, shutdown.child_token()));
    let ready_tasks = tasks.clone();
    let agent = RootAgent::new(
        Arc::clone(&registry),
        config.call_timeout,
        tasks,
        Arc::clone(&metrics),
    );
    let ready = Arc::clone(&registry);
    let served = AgentServer::new(AGENT_NAME, config.server, metrics)
        .add_service(AgentGrpc::new(agent.clone()))
        .add_service(RouterServer::new(agent))
        .readiness(Arc::new(move || {
            let registry = Arc::clone(&ready);
            Box::pin(async move { registry.ready() })
        }))
        .tasks(ready_tasks)
        .serve(listener, shutdown.clone())
        .await;
    shutdown.cancel();
    if let Err(err) = discovery.await {
        tracing::warn!(%err, "worker discovery task failed");
    }
    served?;
    Ok(())
}

//! The root agent: learns its workers from their `Describe`, routes each request through a
//! cascade of classifiers (rules, conversation context, embeddings, an LLM), extracts entities
//! deterministically, and dispatches to the chosen worker over gRPC.

mod config;
mod entities;
mod evaluate;
mod registry;
mod routing;
mod service;

use std::sync::Arc;

use intentmesh_core::{
    adapters::{
        memory::{MemoryConversations, MemoryRouteCache},
        redis::{RedisConversations, RedisRouteCache},
    },
    metrics::ServiceMetrics,
    ports::{Conversations, RouteCache, StateError},
    serve::{AgentServer, ServeError},
    tasks::{PortsError, TaskPorts},
};
use intentmesh_proto::pb::{agent_server::AgentServer as AgentGrpc, router_server::RouterServer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, DEFAULT_AGENT_URLS, WorkerEndpoint, parse_workers};
pub use evaluate::{Evaluation, Evaluator};
pub use registry::{Registry, RegistryError};
pub use routing::{EMBEDDINGS_BUILT, RoutingConfig, Stages, StagesError, parse_stages};
pub use service::{AGENT_NAME, RootAgent};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Tasks(#[from] PortsError),
    #[error(transparent)]
    Stages(#[from] StagesError),
    #[error("routing state (Redis): {0}")]
    State(#[from] StateError),
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
    let (conversations, cache) = routing_state(&config).await?;
    let stages = Stages::start(config.routing.clone(), cache, Some(Arc::clone(&metrics))).await?;
    tracing::info!(stages = ?config.routing.stages.iter().map(|s| routing::stage_name(*s)).collect::<Vec<_>>(), "routing cascade");
    let registry = Arc::new(Registry::new(
        &config,
        Arc::clone(&metrics),
        Arc::new(stages),
    )?);
    let discovery =
        tokio::spawn(Arc::clone(&registry).run(config.discovery_interval, shutdown.child_token()));
    let ready_tasks = tasks.clone();
    let agent = RootAgent::new(
        Arc::clone(&registry),
        config.call_timeout,
        tasks,
        Arc::clone(&metrics),
        conversations,
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

/// Sessions kept in memory at most (embedded; Redis bounds by time alone).
const MEMORY_SESSIONS: u64 = 100_000;

type RoutingState = (Option<Arc<dyn Conversations>>, Option<Arc<dyn RouteCache>>);

/// Conversations and the classification cache: in Redis when `REDIS_URL` is set, else in memory.
async fn routing_state(config: &Config) -> Result<RoutingState, StateError> {
    let r = &config.routing;
    let turns = r.conversation_turns;
    let conversations: Option<Arc<dyn Conversations>>;
    let cache: Option<Arc<dyn RouteCache>>;
    match &config.tasks.redis {
        Some(redis) => {
            conversations = if turns > 0 {
                Some(Arc::new(
                    RedisConversations::connect(redis, turns, r.conversation_ttl).await?,
                ))
            } else {
                None
            };
            cache = if r.cache_ttl.is_zero() {
                None
            } else {
                Some(Arc::new(
                    RedisRouteCache::connect(redis, r.cache_ttl).await?,
                ))
            };
        }
        None => {
            conversations = (turns > 0).then(|| {
                Arc::new(MemoryConversations::new(
                    turns,
                    MEMORY_SESSIONS,
                    r.conversation_ttl,
                )) as Arc<dyn Conversations>
            });
            cache = (!r.cache_ttl.is_zero()).then(|| {
                Arc::new(MemoryRouteCache::new(r.cache_max_entries, r.cache_ttl))
                    as Arc<dyn RouteCache>
            });
        }
    }
    Ok((conversations, cache))
}

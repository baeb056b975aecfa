//! The root agent: learns its workers from their `Describe`, routes each request through a
//! cascade of classifiers (rules, conversation context, embeddings, an LLM), reads entities
//! deterministically, and dispatches to the chosen worker over gRPC or through its queue.
//!
//! Layout (see docs/ARCHITECTURE.md): `service` (the gRPC adapter) → `dispatch`
//! (route, then run) → `routing` (the cascade) and `registry` (the workers and their outbound
//! stacks); `entities` and `state` (conversations, classification cache) serve routing.

mod config;
mod dispatch;
mod entities;
mod evaluate;
mod metrics;
mod registry;
mod routing;
mod service;
pub mod state;

use std::sync::Arc;

use intentmesh_core::{
    metrics::ServiceMetrics,
    serve::{AgentServer, ServeError},
};
use intentmesh_proto::pb::{agent_server::AgentServer as AgentGrpc, router_server::RouterServer};
use intentmesh_tasks::TaskPorts;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, DEFAULT_AGENT_URLS, WorkerEndpoint, parse_workers};
pub use dispatch::AGENT_NAME;
pub use evaluate::{Evaluation, Evaluator};
pub use metrics::RoutingMetrics;
pub use registry::{Registry, RegistryError};
pub use routing::{EMBEDDINGS_BUILT, RoutingConfig, Stage, Stages, StagesError, parse_stages};
pub use service::RootAgent;

use crate::{
    dispatch::Dispatcher,
    state::{
        Conversations, MemoryConversations, MemoryRouteCache, RedisConversations, RedisRouteCache,
        RouteCache,
    },
};

/// Why the root agent could not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Stages(#[from] StagesError),
    #[error("routing state (REDIS_URL)")]
    State(#[from] intentmesh_tasks::ports::StoreError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// Serves the root agent until `shutdown`, discovering workers in the background. With `tasks`,
/// work that runs asynchronously is queued there (and with Redis, conversations and the
/// classification cache live on its pool); without, it runs synchronously (or, when the caller
/// insists on async, is refused with `mode_not_available`).
pub async fn serve(
    config: Config,
    tasks: Option<TaskPorts>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    let routing_metrics = RoutingMetrics::new(AGENT_NAME);
    let metrics = ServiceMetrics::with(AGENT_NAME, &[&routing_metrics]);
    let (conversations, cache) = routing_state(&config, tasks.as_ref()).await?;
    let stages = Stages::start(
        config.routing.clone(),
        cache,
        Some((routing_metrics.clone(), Arc::clone(&metrics))),
    )
    .await?;
    tracing::info!(stages = ?config.routing.stages.iter().map(|s| s.name()).collect::<Vec<_>>(), "routing cascade");
    let registry = Arc::new(Registry::new(
        &config,
        Arc::clone(&metrics),
        Arc::new(stages),
    )?);
    let discovery =
        tokio::spawn(Arc::clone(&registry).run(config.discovery_interval, shutdown.child_token()));
    let dispatcher = Dispatcher::new(
        Arc::clone(&registry),
        tasks.clone(),
        routing_metrics,
        conversations,
    );
    let agent = RootAgent::new(
        Arc::new(dispatcher),
        Arc::clone(&registry),
        config.call_timeout,
    );
    let ready = Arc::clone(&registry);
    let mut server = AgentServer::new(AGENT_NAME, config.server, metrics)
        .reflection(intentmesh_proto::FILE_DESCRIPTOR_SET)
        .add_service(AgentGrpc::new(agent.clone()))
        .add_service(RouterServer::new(agent))
        .readiness(Arc::new(move || {
            let registry = Arc::clone(&ready);
            Box::pin(async move { registry.ready() })
        }));
    if let Some(tasks) = &tasks {
        server = server.readiness(tasks.ready_check());
    }
    let served = server.serve(listener, shutdown.clone()).await;
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

/// Conversations and the classification cache: in Redis when `REDIS_URL` is set — on the pool
/// the service's task ports hold, or on one opened here when they have none (task ports in
/// memory) — else in memory.
async fn routing_state(
    config: &Config,
    tasks: Option<&TaskPorts>,
) -> Result<RoutingState, intentmesh_tasks::ports::StoreError> {
    let r = &config.routing;
    let turns = r.conversation_turns;
    let redis = match (&config.tasks.redis, tasks.and_then(|t| t.redis.clone())) {
        (Some(redis), Some(pool)) => Some((pool, redis.key_prefix.as_str())),
        (Some(redis), None) => Some((
            intentmesh_tasks::adapters::redis::connect(redis).await?,
            redis.key_prefix.as_str(),
        )),
        (None, _) => None,
    };
    Ok(match redis {
        Some((pool, prefix)) => (
            (turns > 0).then(|| {
                Arc::new(RedisConversations::new(
                    pool.clone(),
                    prefix,
                    turns,
                    r.conversation_ttl,
                )) as Arc<dyn Conversations>
            }),
            (!r.cache_ttl.is_zero()).then(|| {
                Arc::new(RedisRouteCache::new(pool, prefix, r.cache_ttl)) as Arc<dyn RouteCache>
            }),
        ),
        None => (
            (turns > 0).then(|| {
                Arc::new(MemoryConversations::new(
                    turns,
                    MEMORY_SESSIONS,
                    r.conversation_ttl,
                )) as Arc<dyn Conversations>
            }),
            (!r.cache_ttl.is_zero()).then(|| {
                Arc::new(MemoryRouteCache::new(r.cache_max_entries, r.cache_ttl))
                    as Arc<dyn RouteCache>
            }),
        ),
    })
}

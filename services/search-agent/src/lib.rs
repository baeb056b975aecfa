//! The search agent: a product catalog with full-text search, filters and pagination, answering
//! over gRPC and, with a queue, as a worker of queued searches.
//!
//! Layout: `service` (the gRPC adapter) → `agent` (the contract's request in, a page out; also
//! the task handler) → `domain` (queries, the `Catalog` port) ← `adapters` (SQLite FTS5,
//! PostgreSQL full-text search, a cache).

mod adapters;
mod agent;
mod card;
pub mod catalog;
mod config;
mod domain;
mod service;

use std::sync::Arc;

use intentmesh_core::{
    config::DatabaseUrl,
    errors::Chain,
    metrics::ServiceMetrics,
    serve::{AgentServer, ServeError},
};
use intentmesh_proto::pb::agent_server::AgentServer as AgentGrpc;
use intentmesh_tasks::{TaskMetrics, TaskPorts, attach_worker};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use adapters::{cached::CachedCatalog, postgres::PostgresCatalog, sqlite::SqliteCatalog};
pub use agent::SearchAgent;
pub use card::{AGENT_NAME, SKILL_SEARCH, card};
pub use config::Config;
pub use domain::{
    catalog::{Catalog, CatalogError, Product, SearchPage},
    query::{
        CATALOG_CURRENCY, DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE, QueryError, SearchQuery,
        from_entities, terms,
    },
};
pub use service::SearchService;

/// Opens the catalog the config names (in-memory SQLite when unset) and loads the committed
/// products into it when it holds fewer.
pub async fn open_catalog(config: &Config) -> Result<Arc<dyn Catalog>, CatalogError> {
    let catalog: Arc<dyn Catalog> = match &config.database {
        Some(DatabaseUrl::Postgres(url)) => {
            Arc::new(PostgresCatalog::connect(url, config.pool_size).await?)
        }
        Some(DatabaseUrl::Sqlite(url)) => Arc::new(SqliteCatalog::connect(url, 4).await?),
        None => Arc::new(SqliteCatalog::connect("sqlite::memory:", 4).await?),
    };
    let products = catalog::embedded()
        .map_err(|e| CatalogError::Data(format!("the committed catalog: {e}")))?;
    if catalog.count().await? < products.len() as u64 {
        catalog.load(&products).await?;
        tracing::info!(products = products.len(), "catalog loaded");
    }
    if config.cache_capacity == 0 {
        return Ok(catalog);
    }
    Ok(Arc::new(CachedCatalog::new(
        catalog,
        config.cache_capacity,
        config.cache_ttl,
    )))
}

/// Serves the search agent over a catalog the caller opened and, with `tasks`, consumes its
/// queue of asynchronous searches.
pub async fn serve(
    config: Config,
    catalog: Arc<dyn Catalog>,
    tasks: Option<TaskPorts>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let task_metrics = TaskMetrics::new(AGENT_NAME);
    let metrics = ServiceMetrics::with(AGENT_NAME, &[&task_metrics]);
    let agent = SearchAgent::new(Arc::clone(&catalog));
    let server = AgentServer::new(AGENT_NAME, config.server, metrics)
        .reflection(intentmesh_proto::FILE_DESCRIPTOR_SET)
        .add_service(AgentGrpc::new(SearchService::new(agent.clone())))
        .readiness(Arc::new(move || {
            let catalog = Arc::clone(&catalog);
            Box::pin(async move { catalog.ready().await.map_err(|e| Chain::of(&e).to_string()) })
        }));
    attach_worker(
        server,
        AGENT_NAME,
        tasks,
        Arc::new(agent),
        task_metrics,
        &shutdown,
    )
    .serve(listener, shutdown)
    .await
}

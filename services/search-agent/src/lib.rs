//! The search agent: a product catalog with full-text search, filters and pagination.

mod adapters;
mod card;
pub mod catalog;
mod config;
mod domain;
mod service;

use std::sync::Arc;

use intentmesh_core::{
    config::DatabaseUrl,
    metrics::ServiceMetrics,
    serve::{AgentServer, ServeError},
    tasks::{AgentHandler, PortsError, TaskPorts},
};
use intentmesh_proto::pb::agent_server::AgentServer as AgentGrpc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use adapters::{cached::CachedCatalog, postgres::PostgresCatalog, sqlite::SqliteCatalog};
pub use card::{AGENT_NAME, SKILL_SEARCH, card};
pub use config::Config;
pub use domain::{
    catalog::{Catalog, CatalogError, Product, SearchPage},
    query::{
        CATALOG_CURRENCY, DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE, SearchQuery, from_entities,
        terms,
    },
};
pub use service::SearchAgent;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot open the catalog: {0}")]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Tasks(#[from] PortsError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

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
    let products = catalog::embedded().map_err(|e| CatalogError::Data(e.to_string()))?;
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

/// Opens the catalog and serves until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let catalog = open_catalog(&config).await?;
    let tasks = TaskPorts::connect(&config.tasks, AGENT_NAME, false).await?;
    serve(config, catalog, tasks, listener, shutdown).await
}

/// Serves the search agent over a catalog the caller opened and, with `tasks`, consumes its
/// queue of asynchronous searches.
pub async fn serve(
    config: Config,
    catalog: Arc<dyn Catalog>,
    tasks: Option<TaskPorts>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let ready_catalog = Arc::clone(&catalog);
    let agent = SearchAgent::new(catalog);
    AgentServer::new(AGENT_NAME, config.server, ServiceMetrics::new(AGENT_NAME))
        .add_service(AgentGrpc::new(agent.clone()))
        .readiness(Arc::new(move || {
            let catalog = Arc::clone(&ready_catalog);
            Box::pin(async move { catalog.ready().await.map_err(|e| e.to_string()) })
        }))
        .tasks(tasks)
        .worker(Arc::new(AgentHandler(agent)))
        .serve(listener, shutdown)
        .await?;
    Ok(())
}

//! The search agent's settings.

use std::{net::SocketAddr, time::Duration};

use intentmesh_core::config::{
    ConfigError, DATABASE_POOL_SIZE, DatabaseUrl, Env, ServerConfig, parse_or, seconds_or,
};
use intentmesh_tasks::AsyncConfig;

pub(crate) const ELASTICSEARCH_URL: &str = "ELASTICSEARCH_URL";
pub(crate) const SEARCH_CACHE_CAPACITY: &str = "SEARCH_CACHE_CAPACITY";
pub(crate) const SEARCH_CACHE_TTL_SECS: &str = "SEARCH_CACHE_TTL_SECS";

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `DATABASE_URL`; unset means an in-memory SQLite catalog loaded from the committed data.
    pub database: Option<DatabaseUrl>,
    /// `DATABASE_POOL_SIZE`.
    pub pool_size: u32,
    /// `SEARCH_CACHE_CAPACITY`: search pages kept in memory (0 turns the cache off).
    pub cache_capacity: u64,
    /// `SEARCH_CACHE_TTL_SECS`: how long a cached page may be served.
    pub cache_ttl: Duration,
    /// RabbitMQ and Redis for queued searches (both or neither when the agent runs alone).
    pub tasks: AsyncConfig,
}

impl Config {
    pub fn from_env(env: &impl Env, default_listen: SocketAddr) -> Result<Self, ConfigError> {
        if let Some(url) = env.get(ELASTICSEARCH_URL) {
            // Never a silent fallback: a configured backend we do not have is an error.
            return Err(ConfigError::new(
                ELASTICSEARCH_URL,
                &url,
                "Elasticsearch is not supported by this build; unset it to use SQL full-text search",
            ));
        }
        let server = ServerConfig::from_env(env, "SEARCH", default_listen)?;
        Ok(Self {
            database: DatabaseUrl::from_env(env)?,
            pool_size: parse_or(env, DATABASE_POOL_SIZE, 10)?,
            cache_capacity: parse_or(env, SEARCH_CACHE_CAPACITY, 10_000)?,
            cache_ttl: seconds_or(env, SEARCH_CACHE_TTL_SECS, Duration::from_secs(30))?,
            tasks: AsyncConfig::from_env(env, server.shutdown_grace)?,
            server,
        })
    }
}

//! Redis adapters (fred): task records, conversations and the classification cache.

mod routing;
mod task_store;

use std::time::Duration;

use fred::prelude::{Builder, ClientLike, Config, Pool, ReconnectPolicy};

use crate::{
    config::{ConfigError, Env, parse_between},
    ports::StoreError,
};

pub use routing::{RedisConversations, RedisRouteCache};
pub use task_store::RedisTaskStore;

/// `REDIS_URL` and how to use it.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: String,
    pub pool_size: usize,
    /// Prefix of every key (`<prefix>:task:<id>`); tests use their own.
    pub key_prefix: String,
    /// How long a task record lives before it finishes.
    pub record_ttl: Duration,
    /// How long a finished task's result is kept.
    pub result_ttl: Duration,
}

impl RedisConfig {
    /// Reads `REDIS_URL` (None when unset), `REDIS_POOL_SIZE`, `REDIS_KEY_PREFIX`,
    /// `TASK_RECORD_TTL_SECS` and `TASK_RESULT_TTL_SECS`.
    pub fn from_env(env: &impl Env) -> Result<Option<Self>, ConfigError> {
        let Some(url) = env.get("REDIS_URL") else {
            return Ok(None);
        };
        Config::from_url(&url).map_err(|e| ConfigError::new("REDIS_URL", &url, e))?;
        let pool_size = parse_between(env, "REDIS_POOL_SIZE", 4, 1..=64)?;
        let (record_ttl, result_ttl) = ttls_from_env(env)?;
        Ok(Some(Self {
            url,
            pool_size,
            key_prefix: env
                .get("REDIS_KEY_PREFIX")
                .unwrap_or_else(|| "intentmesh".to_owned()),
            record_ttl,
            result_ttl,
        }))
    }
}

/// `TASK_RECORD_TTL_SECS` (default 7 days) and `TASK_RESULT_TTL_SECS` (default 1 day).
pub fn ttls_from_env(env: &impl Env) -> Result<(Duration, Duration), ConfigError> {
    Ok((
        crate::config::seconds_or(env, "TASK_RECORD_TTL_SECS", Duration::from_secs(7 * 86_400))?,
        crate::config::seconds_or(env, "TASK_RESULT_TTL_SECS", Duration::from_secs(86_400))?,
    ))
}

/// A connected pool, checked once; fails fast when Redis cannot be reached. Later connection
/// loss is retried in the background (exponential, up to 5 s apart).
pub async fn pool(config: &RedisConfig) -> Result<Pool, StoreError> {
    let unavailable = |e: fred::error::Error| StoreError::Unavailable(e.to_string());
    let redis_config = Config::from_url(&config.url).map_err(unavailable)?;
    let pool = Builder::from_config(redis_config)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(5);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = Duration::from_secs(5);
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
        .build_pool(config.pool_size)
        .map_err(unavailable)?;
    pool.init().await.map_err(unavailable)?;
    Ok(pool)
}

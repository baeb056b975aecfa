//! Redis (fred): the task store, and the one connection pool a service opens for all of its Redis
//! adapters.

mod task_store;

use std::{sync::Arc, time::Duration};

use fred::prelude::{Builder, ClientLike, Config, Pool, ReconnectPolicy};
use intentmesh_core::config::{ConfigError, Env, parse_between};

use crate::ports::StoreError;

pub use task_store::RedisTaskStore;

pub(crate) const REDIS_URL: &str = "REDIS_URL";
pub(crate) const REDIS_POOL_SIZE: &str = "REDIS_POOL_SIZE";
pub(crate) const REDIS_KEY_PREFIX: &str = "REDIS_KEY_PREFIX";

/// `REDIS_URL` and how to use it.
#[derive(Clone)]
pub struct RedisConfig {
    pub url: String,
    pub pool_size: usize,
    /// Prefix of every key (`<prefix>:task:<id>`); tests use their own.
    pub key_prefix: String,
    /// `TLS_CA_FILE`'s certificates, trusted beside the system's roots for `rediss://` (set by
    /// [`AsyncConfig::from_env`](crate::AsyncConfig::from_env), which reads the file once).
    pub ca_pem: Option<Arc<str>>,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &intentmesh_core::config::mask_credentials(&self.url))
            .field("pool_size", &self.pool_size)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

impl RedisConfig {
    /// Reads `REDIS_URL` (None when unset), `REDIS_POOL_SIZE` and `REDIS_KEY_PREFIX`; no CA.
    pub fn from_env(env: &impl Env) -> Result<Option<Self>, ConfigError> {
        let Some(url) = env.get(REDIS_URL) else {
            return Ok(None);
        };
        Config::from_url(&url).map_err(|e| ConfigError::url(REDIS_URL, &url, e))?;
        Ok(Some(Self {
            ca_pem: None,
            url,
            pool_size: parse_between(env, REDIS_POOL_SIZE, 4, 1..=64)?,
            key_prefix: env
                .get(REDIS_KEY_PREFIX)
                .unwrap_or_else(|| "intentmesh".to_owned()),
        }))
    }
}

/// A connected pool, checked once; fails fast when Redis cannot be reached. Later connection
/// loss is retried in the background (exponential, up to 5 s apart).
pub async fn connect(config: &RedisConfig) -> Result<Pool, StoreError> {
    let unavailable = |e: fred::error::Error| StoreError::Unavailable(Box::new(e));
    let mut redis_config = Config::from_url(&config.url).map_err(unavailable)?;
    if redis_config.tls.is_some() {
        // `rediss://`: the system's roots and TLS_CA_FILE.
        let tls = intentmesh_core::config::tls::rustls_client_config(config.ca_pem.as_deref())
            .map_err(|e| StoreError::Unavailable(e.into()))?;
        redis_config.tls = Some(fred::types::config::TlsConnector::from(tls).into());
    }
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

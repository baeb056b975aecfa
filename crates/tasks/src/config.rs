//! Which adapters asynchronous work uses: RabbitMQ and Redis when their URLs are set, memory
//! when embedded, and nothing (async off) for a lone service without them.

use std::{sync::Arc, time::Duration};

use intentmesh_core::config::{ConfigError, Env, parse_or, seconds_or};

use crate::{
    adapters::{
        amqp::{self, AmqpConfig},
        memory::{MemoryBroker, MemoryEventLog, MemoryTaskStore},
        redis::{self, RedisConfig, RedisTaskStore},
    },
    ports::{Broker, BrokerError, EventLog, StoreError, TaskPorts, TaskStore},
    settings::{RetryPolicy, WorkerConfig},
};

pub(crate) const TASK_PREFETCH: &str = "TASK_PREFETCH";
pub(crate) const TASK_TIMEOUT_SECS: &str = "TASK_TIMEOUT_SECS";
pub(crate) const TASK_RECORD_TTL_SECS: &str = "TASK_RECORD_TTL_SECS";
pub(crate) const TASK_RESULT_TTL_SECS: &str = "TASK_RESULT_TTL_SECS";

/// Settings for asynchronous work, read once.
#[derive(Debug, Clone)]
pub struct AsyncConfig {
    pub amqp: Option<AmqpConfig>,
    pub redis: Option<RedisConfig>,
    pub retry: RetryPolicy,
    pub worker: WorkerConfig,
    /// How long a task record lives before it finishes (`TASK_RECORD_TTL_SECS`, 7 days).
    pub record_ttl: Duration,
    /// How long a finished task's result is kept (`TASK_RESULT_TTL_SECS`, 1 day).
    pub result_ttl: Duration,
}

impl AsyncConfig {
    /// Reads `RABBITMQ_*`, `REDIS_*` and `TASK_*` (see the README's configuration table). A
    /// worker's tasks get the service's shutdown grace, `drain`, to finish.
    pub fn from_env(env: &impl Env, drain: Duration) -> Result<Self, ConfigError> {
        let retry = RetryPolicy::from_env(env)?;
        let mut amqp = AmqpConfig::from_env(env, retry)?;
        let mut redis = RedisConfig::from_env(env)?;
        // `TLS_CA_FILE`, read once for whichever of them speaks TLS.
        let tls = amqp.as_ref().is_some_and(|a| a.url.starts_with("amqps://"))
            || redis.as_ref().is_some_and(|r| r.url.starts_with("rediss"));
        if tls {
            let ca = intentmesh_core::config::tls::ca_pem_from_env(env)?;
            if let Some(amqp) = &mut amqp {
                amqp.ca_pem.clone_from(&ca);
            }
            if let Some(redis) = &mut redis {
                redis.ca_pem = ca;
            }
        }
        let prefetch: u16 = parse_or(env, TASK_PREFETCH, 16)?;
        if prefetch == 0 {
            return Err(ConfigError::new(TASK_PREFETCH, "0", "must be at least 1"));
        }
        let delivery_limit = amqp.as_ref().map_or(5, |a| a.delivery_limit);
        Ok(Self {
            amqp,
            redis,
            retry,
            worker: WorkerConfig {
                prefetch,
                task_timeout: seconds_or(env, TASK_TIMEOUT_SECS, Duration::from_secs(30))?,
                delivery_limit,
                drain,
            },
            record_ttl: seconds_or(env, TASK_RECORD_TTL_SECS, Duration::from_secs(7 * 86_400))?,
            result_ttl: seconds_or(env, TASK_RESULT_TTL_SECS, Duration::from_secs(86_400))?,
        })
    }

    /// Defaults with no URLs: embedded adapters.
    pub fn embedded() -> Self {
        Self {
            amqp: None,
            redis: None,
            retry: RetryPolicy::default(),
            worker: WorkerConfig::default(),
            record_ttl: Duration::from_secs(7 * 86_400),
            result_ttl: Duration::from_secs(86_400),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PortsError {
    #[error("RABBITMQ_URL")]
    Broker(#[from] BrokerError),
    #[error("REDIS_URL")]
    Store(#[from] StoreError),
    #[error(
        "RABBITMQ_URL and REDIS_URL go together when a service runs on its own: set both, or neither to run without asynchronous work"
    )]
    Incomplete,
}

impl TaskPorts {
    /// In-memory adapters for one process.
    pub fn memory(config: &AsyncConfig) -> Self {
        Self {
            broker: Arc::new(MemoryBroker::new(config.worker.delivery_limit)),
            store: Arc::new(MemoryTaskStore::new(config.record_ttl, config.result_ttl)),
            events: Arc::new(MemoryEventLog::new(100_000)),
            retry: config.retry,
            worker: config.worker.clone(),
            redis: None,
        }
    }

    /// Connects what is configured, failing fast. With `embedded` (the whole mesh in one
    /// process) an unset URL means the in-memory adapter; without it (one service alone) both URLs
    /// must be set, or neither (`Ok(None)`: no asynchronous work). One Redis pool is opened, and
    /// kept in [`TaskPorts::redis`] for the service's other Redis adapters.
    pub async fn connect(
        config: &AsyncConfig,
        service: &str,
        embedded: bool,
    ) -> Result<Option<Self>, PortsError> {
        if !embedded {
            match (&config.amqp, &config.redis) {
                (None, None) => return Ok(None),
                (Some(_), Some(_)) => {}
                _ => return Err(PortsError::Incomplete),
            }
        }
        let memory = Self::memory(config);
        let (broker, events): (Arc<dyn Broker>, Arc<dyn EventLog>) = match &config.amqp {
            Some(amqp) => {
                let (broker, events) = amqp::connect(amqp, service).await?;
                (Arc::new(broker), Arc::new(events))
            }
            None => (memory.broker, memory.events),
        };
        let (store, pool): (Arc<dyn TaskStore>, _) = match &config.redis {
            Some(redis) => {
                let pool = redis::connect(redis).await?;
                let store = RedisTaskStore::new(
                    pool.clone(),
                    &redis.key_prefix,
                    config.record_ttl,
                    config.result_ttl,
                );
                (Arc::new(store), Some(pool))
            }
            None => (memory.store, None),
        };
        Ok(Some(Self {
            broker,
            store,
            events,
            retry: config.retry,
            worker: config.worker.clone(),
            redis: pool,
        }))
    }
}

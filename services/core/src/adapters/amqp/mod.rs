//! RabbitMQ through lapin: work on quorum queues with retry queues and a dead-letter queue per
//! agent ([`AmqpBroker`]), lifecycle events on a stream ([`AmqpEventLog`]).
//!
//! Reconnection is ours, not lapin's auto-recovery: a connection that fails is dropped and the
//! next use opens a new one and declares its topology again; a consumer loop does the same and
//! resumes. Deliveries from the old connection cannot be acked any more, so the broker redelivers
//! them and the worker's state checks make the repeat harmless.

mod broker;
mod codec;
mod events;
mod pool;
mod topology;

pub use broker::AmqpBroker;
pub use events::AmqpEventLog;
pub(crate) use pool::ChannelPool;
use std::time::Duration;
pub use topology::Names;

use std::sync::Arc;

use crate::{
    config::{ConfigError, Env, parse_between, parse_or},
    ports::BrokerError,
    tasks::RetryPolicy,
};

/// Connects to RabbitMQ (failing fast when it cannot be reached) and returns the broker and the
/// event log, sharing one pool of publishing connections named after `service`.
pub async fn connect(
    config: &AmqpConfig,
    service: &str,
) -> Result<(AmqpBroker, AmqpEventLog), BrokerError> {
    let pool = Arc::new(ChannelPool::new(config, service));
    pool.channel(pool::Use::Events).await?;
    Ok((AmqpBroker::new(Arc::clone(&pool)), AmqpEventLog::new(pool)))
}

/// `RABBITMQ_URL` and how to use it.
#[derive(Debug, Clone)]
pub struct AmqpConfig {
    pub url: String,
    /// Connections for publishing (`RABBITMQ_CONNECTION_POOL_SIZE`); each consumer has its own.
    pub pool_size: usize,
    /// First part of every queue name: `<prefix>.<agent>.tasks` (`TASK_QUEUE_PREFIX`).
    pub prefix: String,
    /// Deliveries of one message before the broker dead-letters it (`x-delivery-limit`): the
    /// backstop for a message that crashes its worker every time (`TASK_DELIVERY_LIMIT`).
    pub delivery_limit: u32,
    pub retry: RetryPolicy,
    /// Bound on connecting and on each confirm.
    pub timeout: Duration,
}

impl AmqpConfig {
    /// Reads `RABBITMQ_URL` (None when unset), `RABBITMQ_CONNECTION_POOL_SIZE`,
    /// `TASK_QUEUE_PREFIX`, `TASK_DELIVERY_LIMIT` and the retry policy.
    pub fn from_env(env: &impl Env, retry: RetryPolicy) -> Result<Option<Self>, ConfigError> {
        let Some(url) = env.get("RABBITMQ_URL") else {
            return Ok(None);
        };
        if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
            return Err(ConfigError::new(
                "RABBITMQ_URL",
                &url,
                "expected an amqp:// or amqps:// URL",
            ));
        }
        let pool_size = parse_between(env, "RABBITMQ_CONNECTION_POOL_SIZE", 2, 1..=32)?;
        let prefix = env
            .get("TASK_QUEUE_PREFIX")
            .unwrap_or_else(|| "intentmesh".to_owned());
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ConfigError::new(
                "TASK_QUEUE_PREFIX",
                &prefix,
                "letters, digits, '-', '_' and '.' only",
            ));
        }
        let delivery_limit: u32 = parse_or(env, "TASK_DELIVERY_LIMIT", 5)?;
        if delivery_limit == 0 {
            return Err(ConfigError::new(
                "TASK_DELIVERY_LIMIT",
                "0",
                "must be at least 1",
            ));
        }
        Ok(Some(Self {
            url,
            pool_size,
            prefix,
            delivery_limit,
            retry,
            timeout: Duration::from_secs(10),
        }))
    }
}

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

use std::{sync::Arc, time::Duration};

use intentmesh_core::config::{ConfigError, Env, mask_credentials, parse_between, parse_or};

pub use broker::AmqpBroker;
pub use events::AmqpEventLog;
pub(crate) use pool::ChannelPool;
pub use topology::Names;

use crate::{ports::BrokerError, settings::RetryPolicy};

pub(crate) const RABBITMQ_URL: &str = "RABBITMQ_URL";
pub(crate) const RABBITMQ_CONNECTION_POOL_SIZE: &str = "RABBITMQ_CONNECTION_POOL_SIZE";
pub(crate) const TASK_QUEUE_PREFIX: &str = "TASK_QUEUE_PREFIX";
pub(crate) const TASK_DELIVERY_LIMIT: &str = "TASK_DELIVERY_LIMIT";

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
#[derive(Clone)]
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
    /// `TLS_CA_FILE`'s certificates, trusted beside the system's roots for `amqps://` (set by
    /// [`AsyncConfig::from_env`](crate::AsyncConfig::from_env), which reads the file once).
    pub ca_pem: Option<Arc<str>>,
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &mask_credentials(&self.url))
            .field("pool_size", &self.pool_size)
            .field("prefix", &self.prefix)
            .field("delivery_limit", &self.delivery_limit)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The URL with the default virtual host spelled out when its path is a bare `/`:
/// `amqp://guest:guest@localhost:5672/` (as the Python AMQP clients write it) means the vhost
/// `/`, which the AMQP URI spec writes `%2f` — lapin would read an empty vhost.
fn default_vhost(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let Some((scheme, rest)) = base.split_once("://") else {
        return url.to_owned();
    };
    let host_start = rest.rfind('@').map_or(0, |at| at + 1);
    let path = rest[host_start..]
        .find('/')
        .map(|i| &rest[host_start + i..]);
    if path != Some("/") {
        return url.to_owned();
    }
    let mut fixed = format!("{scheme}://{rest}%2f");
    if let Some(query) = query {
        fixed.push('?');
        fixed.push_str(query);
    }
    fixed
}

impl AmqpConfig {
    /// Reads `RABBITMQ_URL` (None when unset), `RABBITMQ_CONNECTION_POOL_SIZE`,
    /// `TASK_QUEUE_PREFIX`, `TASK_DELIVERY_LIMIT` and the retry policy.
    pub fn from_env(env: &impl Env, retry: RetryPolicy) -> Result<Option<Self>, ConfigError> {
        let Some(url) = intentmesh_core::config::url(env, RABBITMQ_URL, &["amqp", "amqps"])? else {
            return Ok(None);
        };
        let url = default_vhost(&url);
        let pool_size = parse_between(env, RABBITMQ_CONNECTION_POOL_SIZE, 2, 1..=32)?;
        let prefix = env
            .get(TASK_QUEUE_PREFIX)
            .unwrap_or_else(|| "intentmesh".to_owned());
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ConfigError::new(
                TASK_QUEUE_PREFIX,
                &prefix,
                "letters, digits, '-', '_' and '.' only",
            ));
        }
        let delivery_limit: u32 = parse_or(env, TASK_DELIVERY_LIMIT, 5)?;
        if delivery_limit == 0 {
            return Err(ConfigError::new(
                TASK_DELIVERY_LIMIT,
                "0",
                "must be at least 1",
            ));
        }
        Ok(Some(Self {
            ca_pem: None,
            url,
            pool_size,
            prefix,
            delivery_limit,
            retry,
            timeout: Duration::from_secs(10),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn a_bare_slash_is_the_default_vhost() {
        for (given, meant) in [
            (
                "amqp://guest:guest@localhost:5672/",
                "amqp://guest:guest@localhost:5672/%2f",
            ),
            ("amqp://localhost/", "amqp://localhost/%2f"),
            (
                "amqps://u:p@h:5671/?heartbeat=10",
                "amqps://u:p@h:5671/%2f?heartbeat=10",
            ),
            (
                "amqp://guest:guest@localhost:5672/%2f",
                "amqp://guest:guest@localhost:5672/%2f",
            ),
            (
                "amqp://guest:guest@localhost:5672",
                "amqp://guest:guest@localhost:5672",
            ),
            ("amqp://h/staging", "amqp://h/staging"),
            ("amqp://u:pa/ss@h/", "amqp://u:pa/ss@h/%2f"),
        ] {
            assert_eq!(default_vhost(given), meant, "{given}");
        }
        let env = HashMap::from([(RABBITMQ_URL, "amqp://guest:guest@localhost:5672/")]);
        let config = AmqpConfig::from_env(&env, RetryPolicy::default())
            .unwrap()
            .unwrap();
        assert_eq!(config.url, "amqp://guest:guest@localhost:5672/%2f");
        assert!(!format!("{config:?}").contains("guest:guest"));
    }

    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        let env = HashMap::from([(RABBITMQ_URL, "http://guest:s3cr3t@localhost:5672/")]);
        let err = AmqpConfig::from_env(&env, RetryPolicy::default()).unwrap_err();
        assert_eq!(err.var, RABBITMQ_URL);
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
}

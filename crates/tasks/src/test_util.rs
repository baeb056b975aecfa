//! Test support for asynchronous work: settings and adapters on the test RabbitMQ and Redis, with
//! names of the test's own. Real services only: when one is unreachable these helpers panic,
//! naming the variable that points at it.

use std::time::Duration;

use intentmesh_core::test_util::{rabbitmq_url, redis_url, unique_name};

use crate::{
    AsyncConfig, RetryPolicy, TaskPorts,
    adapters::{
        amqp::{AmqpConfig, Names},
        redis::RedisConfig,
    },
};

/// Asynchronous-work settings pointing at the test RabbitMQ and Redis, with a queue and key prefix
/// of this test's own (`imtest-<hint>-<random>`), long TTLs and the given retry policy.
pub fn real_async_config(hint: &str, retry: RetryPolicy) -> AsyncConfig {
    let prefix = unique_name(&format!("imtest_{hint}")).replace('_', "-");
    let mut config = AsyncConfig::embedded();
    config.retry = retry;
    config.record_ttl = Duration::from_secs(3600);
    config.result_ttl = Duration::from_secs(3600);
    config.worker.delivery_limit = 5;
    config.amqp = Some(AmqpConfig {
        url: rabbitmq_url(),
        pool_size: 2,
        prefix: prefix.clone(),
        delivery_limit: 5,
        retry,
        timeout: Duration::from_secs(10),
        ca_pem: None,
    });
    config.redis = Some(RedisConfig {
        url: redis_url(),
        pool_size: 2,
        key_prefix: prefix,
        ca_pem: None,
    });
    config
}

/// Real adapters for `config`. Panics loudly when RabbitMQ or Redis is unreachable: a test of
/// them never skips.
pub async fn real_ports(config: &AsyncConfig) -> TaskPorts {
    match TaskPorts::connect(config, "imtest", false).await {
        Ok(Some(ports)) => ports,
        Ok(None) => panic!("real_ports needs a config with RABBITMQ_URL and REDIS_URL"),
        Err(err) => panic!(
            "RabbitMQ ({}) and Redis ({}) are required for this test: {}",
            rabbitmq_url(),
            redis_url(),
            intentmesh_core::errors::Chain::of(&err)
        ),
    }
}

/// Deletes the queues of `agents` (and the event stream) under a test's prefix.
pub async fn delete_test_queues(config: &AsyncConfig, agents: &[&str]) {
    use lapin::options::QueueDeleteOptions;
    let Some(amqp) = &config.amqp else { return };
    let names = Names::new(&amqp.prefix);
    let Ok(connection) =
        lapin::Connection::connect(&amqp.url, lapin::ConnectionProperties::default()).await
    else {
        return;
    };
    let Ok(channel) = connection.create_channel().await else {
        return;
    };
    let mut queues = vec![names.events()];
    for agent in agents {
        queues.push(names.tasks(agent));
        queues.push(names.dlq(agent));
        for level in amqp.retry.levels() {
            queues.push(names.retry(agent, level));
        }
    }
    for queue in queues {
        let _ = channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = connection.close(200, "bye".into()).await;
}

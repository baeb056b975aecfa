//! Test support shared by the workspace's tests. Real services only: when one is unreachable
//! these helpers panic, naming the variable that points at it.

use sqlx::{Connection, Executor, PgConnection};

/// The PostgreSQL server tests use: `TEST_DATABASE_URL`, else the local CI default.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A name unique to this test run: `<hint>_<random>` in lower case, safe as an SQL identifier.
pub fn unique_name(hint: &str) -> String {
    let clean: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{clean}_{}", uuid::Uuid::new_v4().simple())
}

/// Creates a new, empty database for one test and returns its URL. Panics loudly when
/// PostgreSQL cannot be reached: a test of PostgreSQL never skips.
pub async fn fresh_postgres_database(hint: &str) -> String {
    let admin_url = postgres_admin_url();
    let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is required for this test (TEST_DATABASE_URL={admin_url}): {e}")
    });
    // `imtest_` marks databases `make test` may drop on its next run.
    let name = unique_name(&format!("imtest_{hint}"));
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}

/// The Redis server tests use: `TEST_REDIS_URL`, else the local CI default.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The RabbitMQ server tests use: `TEST_RABBITMQ_URL`, else the local CI default.
pub fn rabbitmq_url() -> String {
    std::env::var("TEST_RABBITMQ_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// Asynchronous-work settings pointing at the test RabbitMQ and Redis, with a queue and key prefix
/// of this test's own (`imtest-<hint>-<random>`), short TTLs and the given retry policy.
pub fn real_async_config(
    hint: &str,
    retry: crate::tasks::RetryPolicy,
) -> crate::tasks::AsyncConfig {
    use std::time::Duration;
    let prefix = unique_name(&format!("imtest_{hint}")).replace('_', "-");
    let mut config = crate::tasks::AsyncConfig::embedded();
    config.retry = retry;
    config.record_ttl = Duration::from_secs(3600);
    config.result_ttl = Duration::from_secs(3600);
    config.worker.delivery_limit = 5;
    config.amqp = Some(crate::adapters::amqp::AmqpConfig {
        url: rabbitmq_url(),
        pool_size: 2,
        prefix: prefix.clone(),
        delivery_limit: 5,
        retry,
        timeout: Duration::from_secs(10),
    });
    config.redis = Some(crate::adapters::redis::RedisConfig {
        url: redis_url(),
        pool_size: 2,
        key_prefix: prefix,
        record_ttl: config.record_ttl,
        result_ttl: config.result_ttl,
    });
    config
}

/// Real adapters for `config`. Panics loudly when RabbitMQ or Redis is unreachable: a test of
/// them never skips.
pub async fn real_ports(config: &crate::tasks::AsyncConfig) -> crate::tasks::TaskPorts {
    match crate::tasks::TaskPorts::connect(config, "imtest", false).await {
        Ok(Some(ports)) => ports,
        Ok(None) => panic!("real_ports needs a config with RABBITMQ_URL and REDIS_URL"),
        Err(err) => panic!(
            "RabbitMQ ({}) and Redis ({}) are required for this test: {err}",
            rabbitmq_url(),
            redis_url()
        ),
    }
}

/// Deletes the queues of `agents` (and the event stream) under a test's prefix.
pub async fn delete_test_queues(config: &crate::tasks::AsyncConfig, agents: &[&str]) {
    use lapin::options::QueueDeleteOptions;
    let Some(amqp) = &config.amqp else { return };
    let names = crate::adapters::amqp::Names::new(&amqp.prefix);
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

//! Test support shared by the workspace's tests. Real services only: when one is unreachable
//! these helpers panic, naming the variable that points at it.

use sqlx::{Connection, Executor, PgConnection};

use crate::config::{Env, ProcessEnv};

/// The PostgreSQL server tests use: `TEST_DATABASE_URL`, else the local CI default.
pub fn postgres_admin_url() -> String {
    ProcessEnv
        .get("TEST_DATABASE_URL")
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
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
    ProcessEnv
        .get("TEST_REDIS_URL")
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned())
}

/// The RabbitMQ server tests use: `TEST_RABBITMQ_URL`, else the local CI default.
pub fn rabbitmq_url() -> String {
    ProcessEnv
        .get("TEST_RABBITMQ_URL")
        .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

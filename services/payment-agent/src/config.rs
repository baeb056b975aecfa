//! The payment agent's settings.

use std::net::SocketAddr;

use intentmesh_core::{
    config::{ConfigError, DATABASE_POOL_SIZE, DatabaseUrl, Env, ServerConfig, parse_or},
    money::Decimal,
};
use intentmesh_tasks::AsyncConfig;

use crate::domain::validate::PaymentPolicy;

pub(crate) const INTENTMESH_DATA_DIR: &str = "INTENTMESH_DATA_DIR";
pub(crate) const PAYMENT_MAX_AMOUNT: &str = "PAYMENT_MAX_AMOUNT";
pub(crate) const PAYMENT_DAILY_LIMITS: &str = "PAYMENT_DAILY_LIMITS";

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `DATABASE_URL`, or the embedded SQLite file under `INTENTMESH_DATA_DIR` (default `data`).
    pub database: DatabaseUrl,
    /// `DATABASE_POOL_SIZE` (PostgreSQL; the SQLite ledger has one writer).
    pub pool_size: u32,
    pub policy: PaymentPolicy,
    /// RabbitMQ and Redis for queued payments (both or neither when the agent runs alone).
    pub tasks: AsyncConfig,
}

impl Config {
    pub fn from_env(env: &impl Env, default_listen: SocketAddr) -> Result<Self, ConfigError> {
        let database = match DatabaseUrl::from_env(env)? {
            Some(url) => url,
            None => {
                let dir = env
                    .get(INTENTMESH_DATA_DIR)
                    .unwrap_or_else(|| "data".to_owned());
                DatabaseUrl::Sqlite(format!("sqlite://{dir}/ledger.sqlite?mode=rwc"))
            }
        };
        let max_amount: Decimal =
            parse_or(env, PAYMENT_MAX_AMOUNT, PaymentPolicy::default().max_amount)?;
        if max_amount <= Decimal::ZERO {
            return Err(ConfigError::new(
                PAYMENT_MAX_AMOUNT,
                &max_amount.to_string(),
                "must be greater than zero",
            ));
        }
        let daily_limits = match env.get(PAYMENT_DAILY_LIMITS) {
            None => Default::default(),
            Some(raw) => PaymentPolicy::parse_daily_limits(&raw)
                .map_err(|why| ConfigError::new(PAYMENT_DAILY_LIMITS, &raw, why))?,
        };
        let server = ServerConfig::from_env(env, "PAYMENT", default_listen)?;
        Ok(Self {
            database,
            pool_size: parse_or(env, DATABASE_POOL_SIZE, 10)?,
            policy: PaymentPolicy {
                max_amount,
                daily_limits,
            },
            tasks: AsyncConfig::from_env(env, server.shutdown_grace)?,
            server,
        })
    }
}

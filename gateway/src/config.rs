//! The gateway's settings.

use std::{net::SocketAddr, time::Duration};

use intentmesh_core::{
    config::{ConfigError, Env, ServerConfig, parse_or, seconds_or},
    resilience::BreakerConfig,
    tasks::AsyncConfig,
};

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `ROOT_AGENT_URL`: where the root agent listens.
    pub root_url: String,
    pub limits: Limits,
    /// RabbitMQ and Redis, where the task API reads (both or neither when alone).
    pub tasks: AsyncConfig,
    /// The breaker in front of the root agent (`CIRCUIT_ROOT_*`, else `CIRCUIT_*`).
    pub root_breaker: BreakerConfig,
}

/// Request limits (DESIGN.md §10).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `MAX_BODY_BYTES` (default 64 KiB): larger bodies get 413.
    pub max_body_bytes: usize,
    /// `MAX_MESSAGE_CHARS` (default 4,000).
    pub max_message_chars: usize,
    /// The longest `user_id` accepted.
    pub max_user_id_chars: usize,
    /// The time budget of one request, across every hop (`REQUEST_TIMEOUT_SECS`).
    pub request_timeout: Duration,
    /// The longest `Prefer: wait=N` honoured (`MAX_PREFER_WAIT_SECS`, default 30).
    pub max_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_message_chars: 4_000,
            max_user_id_chars: 128,
            request_timeout: Duration::from_secs(10),
            max_wait: Duration::from_secs(30),
        }
    }
}

pub const DEFAULT_ROOT_URL: &str = "http://127.0.0.1:8003";

impl Config {
    pub fn from_env(env: &impl Env, default_listen: SocketAddr) -> Result<Self, ConfigError> {
        let server = ServerConfig::from_env(env, "GATEWAY", default_listen)?;
        let root_url = env
            .get("ROOT_AGENT_URL")
            .unwrap_or_else(|| DEFAULT_ROOT_URL.to_owned());
        if !(root_url.starts_with("http://") || root_url.starts_with("https://")) {
            return Err(ConfigError::new(
                "ROOT_AGENT_URL",
                &root_url,
                "expected an http(s) URL",
            ));
        }
        let defaults = Limits::default();
        let limits = Limits {
            max_body_bytes: parse_or(env, "MAX_BODY_BYTES", defaults.max_body_bytes)?,
            max_message_chars: parse_or(env, "MAX_MESSAGE_CHARS", defaults.max_message_chars)?,
            max_user_id_chars: defaults.max_user_id_chars,
            request_timeout: server.request_timeout,
            max_wait: seconds_or(env, "MAX_PREFER_WAIT_SECS", defaults.max_wait)?,
        };
        Ok(Self {
            server,
            root_url,
            limits,
            tasks: AsyncConfig::from_env(env)?,
            root_breaker: BreakerConfig::from_env(env, "root")?,
        })
    }
}

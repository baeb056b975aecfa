//! The gateway's settings.

use std::{net::SocketAddr, time::Duration};

use intentmesh_core::{
    config::{ConfigError, Env, ServerConfig, max_message_chars, parse_or, seconds_or, url},
    resilience::BreakerConfig,
};
use intentmesh_tasks::AsyncConfig;

use crate::FollowerLimits;

pub(crate) const ROOT_AGENT_URL: &str = "ROOT_AGENT_URL";
pub(crate) const MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";
pub(crate) const MAX_PREFER_WAIT_SECS: &str = "MAX_PREFER_WAIT_SECS";
pub(crate) const MAX_CONTEXT_DEPTH: &str = "MAX_CONTEXT_DEPTH";
pub(crate) const MAX_CONTEXT_KEYS: &str = "MAX_CONTEXT_KEYS";
pub(crate) const MAX_CONTEXT_BYTES: &str = "MAX_CONTEXT_BYTES";
pub(crate) const SSE_MAX_FOLLOWERS: &str = "SSE_MAX_FOLLOWERS";
pub(crate) const SSE_MAX_FOLLOWERS_PER_USER: &str = "SSE_MAX_FOLLOWERS_PER_USER";

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `ROOT_AGENT_URL`: where the root agent listens; `None` when unset ([`DEFAULT_ROOT_URL`],
    /// unless the launcher knows better).
    pub root_url: Option<String>,
    pub limits: Limits,
    /// RabbitMQ and Redis, where the task API reads (both or neither when alone).
    pub tasks: AsyncConfig,
    /// The breaker in front of the root agent (`CIRCUIT_ROOT_*`, else `CIRCUIT_*`).
    pub root_breaker: BreakerConfig,
    /// Task event streams open at once (`SSE_MAX_FOLLOWERS`, default 2,000) and per user
    /// (`SSE_MAX_FOLLOWERS_PER_USER`, default 16).
    pub followers: FollowerLimits,
    /// `AUTH_MODE` and its settings.
    pub auth: crate::auth::AuthConfig,
    /// `RATE_LIMIT_*`.
    pub rate_limit: crate::rate_limit::RateLimitConfig,
}

/// Request limits (docs/ARCHITECTURE.md, "The gateway").
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
    /// How deep `context` may nest objects and arrays (`MAX_CONTEXT_DEPTH`, default 8; the
    /// context itself is level 1). Far below what the agents' gRPC decoders take.
    pub max_context_depth: usize,
    /// Keys in `context`, counted at every level (`MAX_CONTEXT_KEYS`, default 64).
    pub max_context_keys: usize,
    /// `context` as compact JSON, in bytes (`MAX_CONTEXT_BYTES`, default 16 KiB).
    pub max_context_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_message_chars: 4_000,
            max_user_id_chars: 128,
            request_timeout: Duration::from_secs(10),
            max_wait: Duration::from_secs(30),
            max_context_depth: 8,
            max_context_keys: 64,
            max_context_bytes: 16 * 1024,
        }
    }
}

/// A count that must be at least 1.
fn positive(env: &impl Env, name: &str, default: usize) -> Result<usize, ConfigError> {
    let value: usize = parse_or(env, name, default)?;
    if value == 0 {
        return Err(ConfigError::new(name, "0", "must be at least 1"));
    }
    Ok(value)
}

pub const DEFAULT_ROOT_URL: &str = "http://127.0.0.1:8003";

impl Config {
    /// Where the root agent listens.
    pub fn root_url(&self) -> &str {
        self.root_url.as_deref().unwrap_or(DEFAULT_ROOT_URL)
    }

    pub fn from_env(env: &impl Env, default_listen: SocketAddr) -> Result<Self, ConfigError> {
        let server = ServerConfig::from_env(env, "GATEWAY", default_listen)?;
        let root_url = url(env, ROOT_AGENT_URL, &["http", "https"])?;
        if let Some(root_url) = &root_url {
            root_url
                .parse::<http::Uri>()
                .map_err(|e| ConfigError::new(ROOT_AGENT_URL, root_url, e))?;
        }
        let defaults = Limits::default();
        let limits = Limits {
            max_body_bytes: parse_or(env, MAX_BODY_BYTES, defaults.max_body_bytes)?,
            max_message_chars: max_message_chars(env)?,
            max_user_id_chars: defaults.max_user_id_chars,
            request_timeout: server.request_timeout,
            max_wait: seconds_or(env, MAX_PREFER_WAIT_SECS, defaults.max_wait)?,
            max_context_depth: positive(env, MAX_CONTEXT_DEPTH, defaults.max_context_depth)?,
            max_context_keys: parse_or(env, MAX_CONTEXT_KEYS, defaults.max_context_keys)?,
            max_context_bytes: positive(env, MAX_CONTEXT_BYTES, defaults.max_context_bytes)?,
        };
        let followers = FollowerLimits {
            per_process: positive(
                env,
                SSE_MAX_FOLLOWERS,
                FollowerLimits::default().per_process,
            )?,
            per_user: positive(
                env,
                SSE_MAX_FOLLOWERS_PER_USER,
                FollowerLimits::default().per_user,
            )?,
        };
        Ok(Self {
            auth: crate::auth::AuthConfig::from_env(env)?,
            rate_limit: crate::rate_limit::RateLimitConfig::from_env(env)?,
            followers,
            tasks: AsyncConfig::from_env(env, server.shutdown_grace)?,
            server,
            root_url,
            limits,
            root_breaker: BreakerConfig::from_env(env, "root")?,
        })
    }
}

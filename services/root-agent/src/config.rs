//! The root agent's settings.

use std::{net::SocketAddr, time::Duration};

use intentmesh_core::{
    config::{ConfigError, Env, ServerConfig, seconds_or},
    resilience::BreakerConfigs,
};
use intentmesh_tasks::AsyncConfig;

use crate::routing::RoutingConfig;

pub(crate) const AGENT_URLS: &str = "AGENT_URLS";
pub(crate) const DISCOVERY_INTERVAL_SECS: &str = "DISCOVERY_INTERVAL_SECS";
pub(crate) const AGENT_CALL_TIMEOUT_SECS: &str = "AGENT_CALL_TIMEOUT_SECS";

/// One worker the root talks to. The name is optional: the worker's `Describe` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerEndpoint {
    pub name: Option<String>,
    pub url: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `AGENT_URLS`: comma-separated `url` or `name=url`; `None` when unset (the local defaults,
    /// [`DEFAULT_AGENT_URLS`], unless the launcher knows better).
    pub workers: Option<Vec<WorkerEndpoint>>,
    /// The routing cascade: stages, thresholds, embeddings, LLM, cache, conversations.
    pub routing: RoutingConfig,
    /// `DISCOVERY_INTERVAL_SECS`: how often workers are described again.
    pub discovery_interval: Duration,
    /// `AGENT_CALL_TIMEOUT_SECS`: the most one dispatch may take (less if the caller has less).
    pub call_timeout: Duration,
    /// RabbitMQ and Redis, where asynchronous work is queued (both or neither when alone).
    pub tasks: AsyncConfig,
    /// `CIRCUIT_*` and `CIRCUIT_<AGENT>_*`: a circuit breaker per worker.
    pub breakers: BreakerConfigs,
}

pub const DEFAULT_AGENT_URLS: &str = "payment=http://127.0.0.1:8001,search=http://127.0.0.1:8002";

/// Parses `AGENT_URLS`.
pub fn parse_workers(raw: &str) -> Result<Vec<WorkerEndpoint>, String> {
    let workers: Vec<WorkerEndpoint> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let (name, url) = match entry.split_once('=') {
                Some((name, url)) => (Some(name.trim().to_owned()), url.trim()),
                None => (None, entry),
            };
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("{url:?} is not an http(s) URL"));
            }
            if let Err(err) = url.parse::<http::Uri>() {
                return Err(format!("{url:?} is not a URL: {err}"));
            }
            if name.as_deref().is_some_and(str::is_empty) {
                return Err(format!("empty agent name in {entry:?}"));
            }
            Ok(WorkerEndpoint {
                name,
                url: url.to_owned(),
            })
        })
        .collect::<Result<_, _>>()?;
    if workers.is_empty() {
        return Err("at least one worker URL is needed".to_owned());
    }
    Ok(workers)
}

impl Config {
    pub fn from_env(env: &impl Env, default_listen: SocketAddr) -> Result<Self, ConfigError> {
        let workers = env
            .get(AGENT_URLS)
            .map(|raw| parse_workers(&raw).map_err(|r| ConfigError::new(AGENT_URLS, &raw, r)))
            .transpose()?;
        let server = ServerConfig::from_env(env, "ROOT", default_listen)?;
        let breakers = BreakerConfigs::from_env(
            env,
            &workers
                .iter()
                .flatten()
                .filter_map(|w| w.name.as_deref())
                .chain(["payment", "search", "llm"])
                .collect::<Vec<_>>(),
        )?;
        Ok(Self {
            routing: RoutingConfig::from_env(env, &breakers)?,
            discovery_interval: seconds_or(env, DISCOVERY_INTERVAL_SECS, Duration::from_secs(30))?,
            call_timeout: seconds_or(env, AGENT_CALL_TIMEOUT_SECS, Duration::from_secs(10))?,
            tasks: AsyncConfig::from_env(env, server.shutdown_grace)?,
            server,
            breakers,
            workers,
        })
    }

    /// The workers to describe: those configured, else the local defaults.
    pub fn workers(&self) -> Vec<WorkerEndpoint> {
        self.workers
            .clone()
            .unwrap_or_else(|| parse_workers(DEFAULT_AGENT_URLS).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_urls_with_and_without_names() {
        let w = parse_workers("payment=http://a:1, http://b:2").unwrap();
        assert_eq!(w[0].name.as_deref(), Some("payment"));
        assert_eq!(
            w[1],
            WorkerEndpoint {
                name: None,
                url: "http://b:2".into()
            }
        );
        assert!(parse_workers("ftp://x").is_err());
        assert!(parse_workers(" , ").is_err());
        assert!(parse_workers("=http://a").is_err());
    }
}

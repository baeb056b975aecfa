//! The tracing subscriber: human-readable for `make run`, JSON for containers.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::{ConfigError, Env};

/// Log output format (`LOG_FORMAT=text|json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// A `tracing` filter (`RUST_LOG`, else `LOG_LEVEL`, else `info`).
    pub filter: String,
    pub format: LogFormat,
}

impl TelemetryConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let filter = env
            .get("RUST_LOG")
            .or_else(|| env.get("LOG_LEVEL").map(|l| l.to_ascii_lowercase()))
            .unwrap_or_else(|| "info".to_owned());
        EnvFilter::try_new(&filter).map_err(|e| ConfigError::new("RUST_LOG", &filter, e))?;
        let format = match env.get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    other,
                    "expected text or json",
                ));
            }
        };
        Ok(Self { filter, format })
    }
}

/// Installs the global subscriber. Call once, from `main`.
pub fn init(config: &TelemetryConfig) {
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    match config.format {
        LogFormat::Text => registry
            .with(fmt::layer().with_target(false).with_writer(std::io::stderr))
            .init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

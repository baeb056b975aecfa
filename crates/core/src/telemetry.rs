//! The tracing subscriber: human-readable for `make run`, JSON for containers, and spans exported
//! over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (off otherwise, at no cost).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::{ConfigError, Env};

pub const RUST_LOG: &str = "RUST_LOG";
pub const LOG_LEVEL: &str = "LOG_LEVEL";
pub const LOG_FORMAT: &str = "LOG_FORMAT";
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

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
    /// Where spans go (OTLP over HTTP): `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; unset, or `OTEL_SDK_DISABLED=true`: none.
    pub otlp_traces_endpoint: Option<String>,
    /// `OTEL_SERVICE_NAME` (default `intentmesh`).
    pub service_name: String,
}

impl TelemetryConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let filter = env
            .get(RUST_LOG)
            .or_else(|| env.get(LOG_LEVEL).map(|l| l.to_ascii_lowercase()))
            .unwrap_or_else(|| "info".to_owned());
        EnvFilter::try_new(&filter).map_err(|e| ConfigError::new(RUST_LOG, &filter, e))?;
        let format = match env.get(LOG_FORMAT).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(LOG_FORMAT, other, "expected text or json"));
            }
        };
        let disabled = env
            .get(OTEL_SDK_DISABLED)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let endpoint = env
            .get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
            .map(|e| (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, e.clone(), e))
            .or_else(|| {
                env.get(OTEL_EXPORTER_OTLP_ENDPOINT).map(|e| {
                    let traces = format!("{}/v1/traces", e.trim_end_matches('/'));
                    (OTEL_EXPORTER_OTLP_ENDPOINT, e, traces)
                })
            });
        let otlp_traces_endpoint = match endpoint {
            Some((var, raw, _)) if !(raw.starts_with("http://") || raw.starts_with("https://")) => {
                return Err(ConfigError::new(var, &raw, "expected an http(s) URL"));
            }
            Some((_, _, traces)) if !disabled => Some(traces),
            _ => None,
        };
        Ok(Self {
            filter,
            format,
            otlp_traces_endpoint,
            service_name: env
                .get(OTEL_SERVICE_NAME)
                .unwrap_or_else(|| "intentmesh".to_owned()),
        })
    }
}

/// Flushes and stops span export when dropped (at the end of `main`).
#[derive(Debug)]
pub struct TelemetryGuard(Option<SdkTracerProvider>);

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("intentmesh: could not flush traces: {err}");
        }
    }
}

fn tracer_provider(config: &TelemetryConfig) -> Option<SdkTracerProvider> {
    let endpoint = config.otlp_traces_endpoint.as_ref()?;
    match SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()
    {
        Ok(exporter) => Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    Resource::builder()
                        .with_service_name(config.service_name.clone())
                        .build(),
                )
                .build(),
        ),
        Err(err) => {
            eprintln!("intentmesh: traces will not be exported to {endpoint}: {err}");
            None
        }
    }
}

/// Installs the global subscriber and the W3C trace-context propagator. Call once, from `main`;
/// keep the guard until the end.
#[must_use]
pub fn init(config: &TelemetryConfig) -> TelemetryGuard {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = tracer_provider(config);
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("intentmesh")));
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
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
    TelemetryGuard(provider)
}

/// Names the verified caller on the current request span (`principal` in every log line of it);
/// a no-op outside one.
pub fn record_principal(principal: &str) {
    tracing::Span::current().record("principal", principal);
}

/// Names the request being handled on the current request span (`request_id` in every log line
/// of it); a no-op outside one.
pub fn record_request_id(request_id: &str) {
    if !request_id.is_empty() {
        tracing::Span::current().record("request_id", request_id);
    }
}

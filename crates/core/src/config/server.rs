//! Settings every server shares, and the other settings more than one service reads.

use std::{net::SocketAddr, time::Duration};

use super::{ConfigError, Env, parse_between, parse_or, seconds_or};

pub const REQUEST_TIMEOUT_SECS: &str = "REQUEST_TIMEOUT_SECS";
pub const ADMISSION_INITIAL_LIMIT: &str = "ADMISSION_INITIAL_LIMIT";
pub const ADMISSION_MIN_LIMIT: &str = "ADMISSION_MIN_LIMIT";
pub const ADMISSION_MAX_LIMIT: &str = "ADMISSION_MAX_LIMIT";
pub const ADMISSION_MAX_WAIT_MS: &str = "ADMISSION_MAX_WAIT_MS";
pub const ADMISSION_MAX_QUEUE: &str = "ADMISSION_MAX_QUEUE";
pub const MAX_CONNECTIONS: &str = "MAX_CONNECTIONS";
pub const IDLE_TIMEOUT_SECS: &str = "IDLE_TIMEOUT_SECS";
pub const HEADER_READ_TIMEOUT_SECS: &str = "HEADER_READ_TIMEOUT_SECS";
pub const BODY_READ_TIMEOUT_SECS: &str = "BODY_READ_TIMEOUT_SECS";
pub const HTTP2_MAX_CONCURRENT_STREAMS: &str = "HTTP2_MAX_CONCURRENT_STREAMS";
pub const HTTP2_KEEPALIVE_SECS: &str = "HTTP2_KEEPALIVE_SECS";
pub const GRPC_CONNECTIONS_PER_TARGET: &str = "GRPC_CONNECTIONS_PER_TARGET";
pub const SHUTDOWN_GRACE_SECS: &str = "SHUTDOWN_GRACE_SECS";
pub const DATABASE_URL: &str = "DATABASE_URL";
pub const DATABASE_POOL_SIZE: &str = "DATABASE_POOL_SIZE";
pub const MAX_MESSAGE_CHARS: &str = "MAX_MESSAGE_CHARS";
pub const ADMIN_LISTEN_ADDR: &str = "ADMIN_LISTEN_ADDR";

/// `MAX_MESSAGE_CHARS` (default 4,000): the longest message the gateway and the root take.
pub fn max_message_chars(env: &impl Env) -> Result<usize, ConfigError> {
    parse_between(env, MAX_MESSAGE_CHARS, 4_000, 1..=1_000_000)
}

/// Settings every server shares.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (`<SERVICE>_LISTEN_ADDR`).
    pub listen: SocketAddr,
    /// Upper bound on any one request's handling time (`REQUEST_TIMEOUT_SECS`).
    pub request_timeout: Duration,
    /// How long in-flight work (requests, and a worker's tasks) may take to finish after shutdown
    /// begins (`SHUTDOWN_GRACE_SECS`).
    pub shutdown_grace: Duration,
    /// How many requests run at once, and how long others wait (`ADMISSION_*`).
    pub admission: AdmissionConfig,
    /// Open connections, their timers and HTTP/2 limits.
    pub connections: ConnectionLimits,
    /// HTTP/2 connections to each gRPC service this one calls (`GRPC_CONNECTIONS_PER_TARGET`).
    pub connections_per_target: usize,
    /// Where `/health`, `/ready` and `/metrics` are served on their own, in plain HTTP
    /// (`<PREFIX>_ADMIN_LISTEN_ADDR`, else `ADMIN_LISTEN_ADDR`); `/metrics` then leaves the
    /// service port. Unset: all three stay on the service port.
    pub admin: Option<SocketAddr>,
    /// Service-to-service TLS (`TLS_*`), for this server and the gRPC clients it runs.
    pub tls: super::tls::TlsConfig,
}

/// Bounds and starting point of an admission controller (`crate::resilience::Admission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionConfig {
    pub initial_limit: usize,
    pub min_limit: usize,
    pub max_limit: usize,
    /// The longest a request waits for a turn (less when its deadline comes sooner).
    pub max_wait: Duration,
    /// How many may wait at once; past it, a request is refused without waiting.
    pub max_queue: usize,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            initial_limit: 64,
            min_limit: 8,
            max_limit: 1024,
            max_wait: Duration::from_secs(5),
            max_queue: 20_000,
        }
    }
}

/// What one process lets its clients' connections hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections (`MAX_CONNECTIONS`, default 16,384); past it new ones are refused
    /// (HTTP: `503 overloaded`, then closed) while open ones are served.
    pub max_connections: usize,
    /// A connection that sends and receives nothing this long is closed (`IDLE_TIMEOUT_SECS`,
    /// default 60; longer than HTTP/2 keep-alive pings and SSE keep-alive comments).
    pub idle_timeout: Duration,
    /// The longest a client may take to send a request's headers (`HEADER_READ_TIMEOUT_SECS`,
    /// default 10).
    pub header_read_timeout: Duration,
    /// The longest a client may take to send a request's body (`BODY_READ_TIMEOUT_SECS`,
    /// default 10).
    pub body_read_timeout: Duration,
    /// Concurrent streams per HTTP/2 connection (`HTTP2_MAX_CONCURRENT_STREAMS`, default 1,024).
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2 keep-alive ping interval of the gRPC servers (`HTTP2_KEEPALIVE_SECS`, default
    /// 30). The gateway sends none: its idle connections end by `idle_timeout`.
    pub http2_keepalive: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 16_384,
            idle_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            http2_max_concurrent_streams: 1024,
            http2_keepalive: Duration::from_secs(30),
        }
    }
}

impl ConnectionLimits {
    /// Reads `MAX_CONNECTIONS`, the `*_TIMEOUT_SECS` and the `HTTP2_*` settings.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            max_connections: parse_between(env, MAX_CONNECTIONS, d.max_connections, 1..=1_000_000)?,
            idle_timeout: seconds_or(env, IDLE_TIMEOUT_SECS, d.idle_timeout)?,
            header_read_timeout: seconds_or(env, HEADER_READ_TIMEOUT_SECS, d.header_read_timeout)?,
            body_read_timeout: seconds_or(env, BODY_READ_TIMEOUT_SECS, d.body_read_timeout)?,
            http2_max_concurrent_streams: parse_between(
                env,
                HTTP2_MAX_CONCURRENT_STREAMS,
                d.http2_max_concurrent_streams,
                1..=100_000,
            )?,
            http2_keepalive: seconds_or(env, HTTP2_KEEPALIVE_SECS, d.http2_keepalive)?,
        })
    }
}

/// Reads the `ADMISSION_*` settings.
fn admission_from_env(env: &impl Env) -> Result<AdmissionConfig, ConfigError> {
    let d = AdmissionConfig::default();
    let min_limit = parse_between(env, ADMISSION_MIN_LIMIT, d.min_limit, 1..=1_000_000)?;
    let max_limit = parse_between(env, ADMISSION_MAX_LIMIT, d.max_limit, 1..=1_000_000)?;
    if max_limit < min_limit {
        return Err(ConfigError::new(
            ADMISSION_MAX_LIMIT,
            &max_limit.to_string(),
            format!("must be at least {ADMISSION_MIN_LIMIT} ({min_limit})"),
        ));
    }
    let initial_limit = parse_between(
        env,
        ADMISSION_INITIAL_LIMIT,
        d.initial_limit.clamp(min_limit, max_limit),
        min_limit..=max_limit,
    )?;
    let max_wait_ms: u64 = parse_between(
        env,
        ADMISSION_MAX_WAIT_MS,
        d.max_wait.as_millis() as u64,
        0..=600_000,
    )?;
    Ok(AdmissionConfig {
        initial_limit,
        min_limit,
        max_limit,
        max_wait: Duration::from_millis(max_wait_ms),
        max_queue: parse_between(env, ADMISSION_MAX_QUEUE, d.max_queue, 0..=10_000_000)?,
    })
}

/// `GRPC_CONNECTIONS_PER_TARGET` (default 2): HTTP/2 connections to each gRPC target, so one
/// connection's stream limit never caps a replica.
fn connections_per_target(env: &impl Env) -> Result<usize, ConfigError> {
    parse_between(env, GRPC_CONNECTIONS_PER_TARGET, 2, 1..=64)
}

/// `<PREFIX>_ADMIN_LISTEN_ADDR`, else `ADMIN_LISTEN_ADDR`.
fn admin_addr(env: &impl Env, prefix: &str) -> Result<Option<SocketAddr>, ConfigError> {
    for key in [
        format!("{prefix}_{ADMIN_LISTEN_ADDR}"),
        ADMIN_LISTEN_ADDR.to_owned(),
    ] {
        if let Some(raw) = env.get(&key) {
            return raw
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| ConfigError::new(&key, &raw, e));
        }
    }
    Ok(None)
}

impl ServerConfig {
    /// Reads `<PREFIX>_LISTEN_ADDR`, `REQUEST_TIMEOUT_SECS`, `SHUTDOWN_GRACE_SECS`, the
    /// `ADMISSION_*` settings and the connection limits.
    pub fn from_env(
        env: &impl Env,
        prefix: &str,
        default_listen: SocketAddr,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            listen: parse_or(env, &format!("{prefix}_LISTEN_ADDR"), default_listen)?,
            request_timeout: seconds_or(env, REQUEST_TIMEOUT_SECS, Duration::from_secs(10))?,
            shutdown_grace: seconds_or(env, SHUTDOWN_GRACE_SECS, Duration::from_secs(20))?,
            admission: admission_from_env(env)?,
            connections: ConnectionLimits::from_env(env)?,
            connections_per_target: connections_per_target(env)?,
            admin: admin_addr(env, prefix)?,
            tls: super::tls::TlsConfig::from_env(env)?,
        })
    }

    /// Defaults for tests and embedded use: the given address, 10 s timeout, 5 s grace.
    pub fn local(listen: SocketAddr) -> Self {
        Self {
            listen,
            request_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            admission: AdmissionConfig::default(),
            connections: ConnectionLimits::default(),
            connections_per_target: 2,
            admin: None,
            tls: super::tls::TlsConfig::default(),
        }
    }
}

/// A database location: unset means the embedded SQLite default.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        match self {
            Self::Sqlite(url) => write!(f, "Sqlite({url:?})"),
            Self::Postgres(url) => write!(f, "Postgres({:?})", super::mask_credentials(url)),
        }
    }
}

impl DatabaseUrl {
    /// Reads `DATABASE_URL`; `None` when unset.
    pub fn from_env(env: &impl Env) -> Result<Option<Self>, ConfigError> {
        env.get(DATABASE_URL)
            .map(|raw| Self::parse(&raw).map_err(|r| ConfigError::url(DATABASE_URL, &raw, r)))
            .transpose()
    }

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(Self::Postgres(raw.to_owned()))
        } else if raw.starts_with("sqlite:") {
            Ok(Self::Sqlite(raw.to_owned()))
        } else {
            Err("expected a postgres:// or sqlite: URL")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn unset_values_take_defaults_and_bad_ones_name_the_variable() {
        let env: HashMap<&str, &str> = HashMap::from([(REQUEST_TIMEOUT_SECS, "abc")]);
        let err =
            ServerConfig::from_env(&env, "PAYMENT", "127.0.0.1:8001".parse().unwrap()).unwrap_err();
        assert_eq!(err.var, REQUEST_TIMEOUT_SECS);

        let env: HashMap<&str, &str> = HashMap::from([("PAYMENT_LISTEN_ADDR", "0.0.0.0:9")]);
        let cfg =
            ServerConfig::from_env(&env, "PAYMENT", "127.0.0.1:8001".parse().unwrap()).unwrap();
        assert_eq!(cfg.listen.port(), 9);
        assert_eq!(cfg.request_timeout, Duration::from_secs(10));
    }

    #[test]
    fn zero_durations_and_limits_are_rejected() {
        let env: HashMap<&str, &str> = HashMap::from([(REQUEST_TIMEOUT_SECS, "0")]);
        assert!(ServerConfig::from_env(&env, "X", "127.0.0.1:1".parse().unwrap()).is_err());
        for var in [MAX_CONNECTIONS, ADMISSION_MIN_LIMIT, IDLE_TIMEOUT_SECS] {
            let env: HashMap<&str, &str> = HashMap::from([(var, "0")]);
            let err =
                ServerConfig::from_env(&env, "X", "127.0.0.1:1".parse().unwrap()).unwrap_err();
            assert_eq!(err.var, var);
        }
        let env: HashMap<&str, &str> =
            HashMap::from([(ADMISSION_MIN_LIMIT, "100"), (ADMISSION_MAX_LIMIT, "10")]);
        let err = ServerConfig::from_env(&env, "X", "127.0.0.1:1".parse().unwrap()).unwrap_err();
        assert_eq!(err.var, ADMISSION_MAX_LIMIT);
        // The initial limit follows a raised minimum when it is not set itself.
        let env: HashMap<&str, &str> = HashMap::from([(ADMISSION_MIN_LIMIT, "100")]);
        let cfg = ServerConfig::from_env(&env, "X", "127.0.0.1:1".parse().unwrap()).unwrap();
        assert_eq!(cfg.admission.initial_limit, 100);
    }

    #[test]
    fn database_urls_are_classified_and_their_passwords_kept_out_of_errors() {
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(matches!(
            DatabaseUrl::parse("sqlite://x.db"),
            Ok(DatabaseUrl::Sqlite(_))
        ));
        let env: HashMap<&str, &str> =
            HashMap::from([(DATABASE_URL, "mysql://app:hunter2@db/ledger")]);
        let err = DatabaseUrl::from_env(&env).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let url = DatabaseUrl::parse("postgres://app:hunter2@db/ledger").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
    }

    #[test]
    fn the_message_limit_is_bounded() {
        let env: HashMap<&str, &str> = HashMap::from([(MAX_MESSAGE_CHARS, "0")]);
        assert!(max_message_chars(&env).is_err());
        assert_eq!(
            max_message_chars(&HashMap::<&str, &str>::new()).unwrap(),
            4_000
        );
    }
}

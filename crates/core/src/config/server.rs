//! Settings every server shares, and the other settings more than one service reads.

use std::{net::SocketAddr, time::Duration};

use super::{ConfigError, Env, parse_between, parse_or, seconds_or};

pub const REQUEST_TIMEOUT_SECS: &str = "REQUEST_TIMEOUT_SECS";
pub const CONCURRENCY_LIMIT_PER_CONNECTION: &str = "CONCURRENCY_LIMIT_PER_CONNECTION";
pub const SHUTDOWN_GRACE_SECS: &str = "SHUTDOWN_GRACE_SECS";
pub const DATABASE_URL: &str = "DATABASE_URL";
pub const DATABASE_POOL_SIZE: &str = "DATABASE_POOL_SIZE";
pub const MAX_MESSAGE_CHARS: &str = "MAX_MESSAGE_CHARS";

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
    /// In-flight requests per connection before new ones are shed
    /// (`CONCURRENCY_LIMIT_PER_CONNECTION`).
    pub concurrency_limit_per_connection: usize,
    /// How long in-flight work (requests, and a worker's tasks) may take to finish after shutdown
    /// begins (`SHUTDOWN_GRACE_SECS`).
    pub shutdown_grace: Duration,
}

impl ServerConfig {
    /// Reads `<PREFIX>_LISTEN_ADDR`, `REQUEST_TIMEOUT_SECS`, `CONCURRENCY_LIMIT_PER_CONNECTION` and
    /// `SHUTDOWN_GRACE_SECS`.
    pub fn from_env(
        env: &impl Env,
        prefix: &str,
        default_listen: SocketAddr,
    ) -> Result<Self, ConfigError> {
        let concurrency: usize = parse_or(env, CONCURRENCY_LIMIT_PER_CONNECTION, 256)?;
        if concurrency == 0 {
            return Err(ConfigError::new(
                CONCURRENCY_LIMIT_PER_CONNECTION,
                "0",
                "must be at least 1",
            ));
        }
        Ok(Self {
            listen: parse_or(env, &format!("{prefix}_LISTEN_ADDR"), default_listen)?,
            request_timeout: seconds_or(env, REQUEST_TIMEOUT_SECS, Duration::from_secs(10))?,
            concurrency_limit_per_connection: concurrency,
            shutdown_grace: seconds_or(env, SHUTDOWN_GRACE_SECS, Duration::from_secs(20))?,
        })
    }

    /// Defaults for tests and embedded use: the given address, 10 s timeout, 256 per connection.
    pub fn local(listen: SocketAddr) -> Self {
        Self {
            listen,
            request_timeout: Duration::from_secs(10),
            concurrency_limit_per_connection: 256,
            shutdown_grace: Duration::from_secs(5),
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
            .map(|raw| Self::parse(&raw).map_err(|r| ConfigError::new(DATABASE_URL, &raw, r)))
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
        let env: HashMap<&str, &str> = HashMap::from([(CONCURRENCY_LIMIT_PER_CONNECTION, "0")]);
        assert!(ServerConfig::from_env(&env, "X", "127.0.0.1:1".parse().unwrap()).is_err());
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

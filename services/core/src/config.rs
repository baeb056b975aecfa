//! Configuration is data, parsed once before anything binds. Values are read through [`Env`], so
//! tests pass a map instead of touching the process environment.

use std::{collections::HashMap, fmt, net::SocketAddr, str::FromStr, time::Duration};

/// A source of configuration strings (the process environment, or a map in tests).
pub trait Env {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment. The only place IntentMesh reads `std::env`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Env for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key)
            .cloned()
            .filter(|v| !v.trim().is_empty())
    }
}

impl Env for HashMap<&str, &str> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key)
            .map(|v| (*v).to_owned())
            .filter(|v| !v.trim().is_empty())
    }
}

/// A configuration value that could not be used. The launcher exits 64 (`EX_USAGE`) with it.
#[derive(Debug, thiserror::Error)]
#[error("invalid {var}={value:?}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub value: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(var: &str, value: &str, reason: impl fmt::Display) -> Self {
        Self {
            var: var.to_owned(),
            value: value.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// Parses `key` with `FromStr`, or returns `default` when it is unset.
pub fn parse_or<T>(env: &impl Env, key: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    match env.get(key) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e| ConfigError::new(key, &raw, e)),
    }
}

/// As [`parse_or`], and the value must lie in `range` (`1..=64`, `0.0..=1.0`).
pub fn parse_between<T>(
    env: &impl Env,
    key: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + fmt::Display,
    T::Err: fmt::Display,
{
    let value = parse_or(env, key, default)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            key,
            &value.to_string(),
            format!("must be between {} and {}", range.start(), range.end()),
        ))
    }
}

/// Parses a duration given in (possibly fractional) seconds.
pub fn seconds_or(env: &impl Env, key: &str, default: Duration) -> Result<Duration, ConfigError> {
    match env.get(key) {
        None => Ok(default),
        Some(raw) => {
            let secs: f64 = raw
                .trim()
                .parse()
                .map_err(|e| ConfigError::new(key, &raw, e))?;
            Duration::try_from_secs_f64(secs)
                .map_err(|e| ConfigError::new(key, &raw, e))
                .and_then(|d| {
                    if d.is_zero() {
                        Err(ConfigError::new(key, &raw, "must be greater than zero"))
                    } else {
                        Ok(d)
                    }
                })
        }
    }
}

/// Settings every server shares.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Upper bound on any one request's handling time.
    pub request_timeout: Duration,
    /// In-flight requests per connection before new ones are shed.
    pub concurrency_limit_per_connection: usize,
    /// How long in-flight requests may take to finish after shutdown begins.
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
        let concurrency: usize = parse_or(env, "CONCURRENCY_LIMIT_PER_CONNECTION", 256)?;
        if concurrency == 0 {
            return Err(ConfigError::new(
                "CONCURRENCY_LIMIT_PER_CONNECTION",
                "0",
                "must be at least 1",
            ));
        }
        Ok(Self {
            listen: parse_or(env, &format!("{prefix}_LISTEN_ADDR"), default_listen)?,
            request_timeout: seconds_or(env, "REQUEST_TIMEOUT_SECS", Duration::from_secs(10))?,
            concurrency_limit_per_connection: concurrency,
            shutdown_grace: seconds_or(env, "SHUTDOWN_GRACE_SECS", Duration::from_secs(20))?,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    /// Reads `DATABASE_URL`; `None` when unset.
    pub fn from_env(env: &impl Env) -> Result<Option<Self>, ConfigError> {
        env.get("DATABASE_URL")
            .map(|raw| Self::parse(&raw).map_err(|r| ConfigError::new("DATABASE_URL", &raw, r)))
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
    use super::*;

    #[test]
    fn unset_values_take_defaults_and_bad_ones_name_the_variable() {
        let env: HashMap<&str, &str> = HashMap::from([("REQUEST_TIMEOUT_SECS", "abc")]);
        let err =
            ServerConfig::from_env(&env, "PAYMENT", "127.0.0.1:8001".parse().unwrap()).unwrap_err();
        assert_eq!(err.var, "REQUEST_TIMEOUT_SECS");

        let env: HashMap<&str, &str> = HashMap::from([("PAYMENT_LISTEN_ADDR", "0.0.0.0:9")]);
        let cfg =
            ServerConfig::from_env(&env, "PAYMENT", "127.0.0.1:8001".parse().unwrap()).unwrap();
        assert_eq!(cfg.listen.port(), 9);
        assert_eq!(cfg.request_timeout, Duration::from_secs(10));
    }

    #[test]
    fn bounded_values_stay_in_their_range() {
        let env: HashMap<&str, &str> = HashMap::from([("POOL", "65"), ("RATIO", "0.25")]);
        let err = parse_between(&env, "POOL", 4, 1..=64).unwrap_err();
        assert!(err.to_string().contains("POOL"), "{err}");
        assert!(err.to_string().contains("between 1 and 64"), "{err}");
        assert_eq!(parse_between(&env, "RATIO", 0.5, 0.0..=1.0).unwrap(), 0.25);
        assert_eq!(parse_between(&env, "UNSET", 4, 1..=64).unwrap(), 4);
    }

    #[test]
    fn zero_durations_and_limits_are_rejected() {
        let env: HashMap<&str, &str> = HashMap::from([("REQUEST_TIMEOUT_SECS", "0")]);
        assert!(ServerConfig::from_env(&env, "X", "127.0.0.1:1".parse().unwrap()).is_err());
        let env: HashMap<&str, &str> = HashMap::from([("CONCURRENCY_LIMIT_PER_CONNECTION", "0")]);
        assert!(ServerConfig::from_env(&env, "X", "127.0.0.1:1".parse().unwrap()).is_err());
    }

    #[test]
    fn database_urls_are_classified() {
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(matches!(
            DatabaseUrl::parse("sqlite://x.db"),
            Ok(DatabaseUrl::Sqlite(_))
        ));
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
    }
}

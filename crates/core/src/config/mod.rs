//! Configuration is data, parsed once before anything binds. Values are read through [`Env`], so
//! tests pass a map instead of touching the process environment, and each variable is read in one
//! place per service (its name a constant there) and passed on by argument.
//!
//! A [`ConfigError`] names the variable and never prints a secret: credentials in a URL are
//! masked in the value and in the reason alike.

mod server;
pub mod tls;

use std::{borrow::Cow, collections::HashMap, fmt, str::FromStr, sync::LazyLock, time::Duration};

use regex::Regex;

pub use server::{
    ADMIN_LISTEN_ADDR, ADMISSION_INITIAL_LIMIT, ADMISSION_MAX_LIMIT, ADMISSION_MAX_QUEUE,
    ADMISSION_MAX_WAIT_MS, ADMISSION_MIN_LIMIT, AdmissionConfig, BODY_READ_TIMEOUT_SECS,
    ConnectionLimits, DATABASE_POOL_SIZE, DATABASE_URL, DatabaseUrl, GRPC_CONNECTIONS_PER_TARGET,
    HEADER_READ_TIMEOUT_SECS, HTTP2_KEEPALIVE_SECS, HTTP2_MAX_CONCURRENT_STREAMS,
    IDLE_TIMEOUT_SECS, MAX_CONNECTIONS, MAX_MESSAGE_CHARS, REQUEST_TIMEOUT_SECS,
    SHUTDOWN_GRACE_SECS, ServerConfig, max_message_chars,
};

/// A source of configuration strings (the process environment, or a map in tests). Empty values
/// count as unset.
pub trait Env {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment: the only place IntentMesh reads `std::env`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    #[allow(clippy::disallowed_methods)] // the one reader of the process environment
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

impl<E: Env + ?Sized> Env for &E {
    fn get(&self, key: &str) -> Option<String> {
        (**self).get(key)
    }
}

// A literal pattern: it compiles, or every test of this module fails.
#[allow(clippy::expect_used)]
static CREDENTIALS: LazyLock<Regex> = LazyLock::new(|| {
    // scheme://user:password@ — up to the last `@` of the word, so an unencoded `@` in a password
    // is masked too.
    Regex::new(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:@/\s]*):[^\s]*@")
        .expect("a literal pattern")
});

/// `text` with the password of every URL in it replaced by `***`.
pub fn mask_credentials(text: &str) -> Cow<'_, str> {
    CREDENTIALS.replace_all(text, "$head:***@")
}

/// `url` with everything between its scheme and its last `@` replaced by `***`.
fn mask_userinfo(url: &str) -> String {
    let Some(at) = url.rfind('@') else {
        return mask_credentials(url).into_owned();
    };
    let start = url.find("://").map_or_else(
        || url.find(':').filter(|&i| i < at).map_or(0, |i| i + 1),
        |i| i + 3,
    );
    format!("{}***{}", &url[..start.min(at)], &url[at..])
}

/// A configuration value that could not be used. The launcher exits 64 (`EX_USAGE`) with it.
#[derive(Debug, thiserror::Error)]
#[error("invalid {var}={value:?}: {reason}")]
pub struct ConfigError {
    pub var: String,
    /// The value as given, with any URL password masked.
    pub value: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(var: &str, value: &str, reason: impl fmt::Display) -> Self {
        Self {
            var: var.to_owned(),
            value: mask_credentials(value).into_owned(),
            reason: mask_credentials(&reason.to_string()).into_owned(),
        }
    }

    /// An error about a URL that may hold credentials (`DATABASE_URL`, `REDIS_URL`,
    /// `RABBITMQ_URL`): whatever precedes its last `@` is masked even when the URL is malformed
    /// (a missing `//`, a space in the password), in the value and wherever the reason repeats it.
    pub fn url(var: &str, value: &str, reason: impl fmt::Display) -> Self {
        let masked = mask_userinfo(value);
        let reason = reason.to_string().replace(value, &masked);
        Self {
            var: var.to_owned(),
            value: masked,
            reason: mask_credentials(&reason).into_owned(),
        }
    }

    /// An error about a secret (an API key): its value is never shown.
    pub fn secret(var: &str, reason: impl fmt::Display) -> Self {
        Self {
            var: var.to_owned(),
            value: "<hidden>".to_owned(),
            reason: mask_credentials(&reason.to_string()).into_owned(),
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

/// Parses a duration given in (possibly fractional) seconds; zero is refused.
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

/// A URL-valued setting: unset is `None`; set, it must start with one of `schemes`.
pub fn url(env: &impl Env, key: &str, schemes: &[&str]) -> Result<Option<String>, ConfigError> {
    let Some(raw) = env.get(key) else {
        return Ok(None);
    };
    let raw = raw.trim().to_owned();
    if schemes.iter().any(|s| raw.starts_with(&format!("{s}://"))) {
        Ok(Some(raw))
    } else {
        let expected: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
        Err(ConfigError::url(
            key,
            &raw,
            format!("expected a {} URL", expected.join(" or ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn passwords_never_reach_a_config_error() {
        for url in [
            "postgres://app:s3cr3t@db:5432/ledger",
            "amqp://guest:s3cr3t@rabbit:5672/%2f",
            "redis://:s3cr3t@cache:6379",
            "rediss://user:p@ss/w0rd-s3cr3t@cache:6380",
        ] {
            let err = ConfigError::new("SOME_URL", url, format!("cannot parse {url}"));
            let shown = err.to_string();
            assert!(!shown.contains("s3cr3t"), "{shown}");
            assert!(shown.contains(":***@"), "{shown}");
        }
        assert_eq!(
            mask_credentials("http://host:8080/path"),
            "http://host:8080/path"
        );
        assert_eq!(mask_credentials("amqp://guest@host/"), "amqp://guest@host/");
        // Malformed URLs hide what could be a password too.
        for url in [
            "postgres:/app:s3cr3t@db/ledger",
            "postgres://app:s3 cr3t@db/ledger",
            "app:s3cr3t@db:5432",
            "redis://:s3cr3t@@cache",
        ] {
            let err = ConfigError::url("DATABASE_URL", url, format!("cannot parse {url}"));
            let shown = err.to_string();
            assert!(!shown.contains("cr3t"), "{shown}");
            assert!(shown.contains("***@"), "{shown}");
        }
        let err = ConfigError::secret("OPENAI_API_KEY", "too short");
        assert!(!err.to_string().contains("sk-"), "{err}");
    }

    #[test]
    fn urls_must_have_an_expected_scheme() {
        let env: HashMap<&str, &str> = HashMap::from([("U", "ftp://x"), ("V", "http://y ")]);
        let err = url(&env, "U", &["http", "https"]).unwrap_err();
        assert!(err.reason.contains("http:// or https://"), "{err}");
        assert_eq!(
            url(&env, "V", &["http"]).unwrap().as_deref(),
            Some("http://y")
        );
        assert_eq!(url(&env, "W", &["http"]).unwrap(), None);
    }
}

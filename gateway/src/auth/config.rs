//! The `AUTH_*` settings.

use std::{path::PathBuf, sync::Arc, time::Duration};

use intentmesh_core::config::{ConfigError, Env, seconds_or};

pub(crate) const AUTH_MODE: &str = "AUTH_MODE";
pub(crate) const AUTH_API_KEYS_FILE: &str = "AUTH_API_KEYS_FILE";
pub(crate) const AUTH_JWT_JWKS_URL: &str = "AUTH_JWT_JWKS_URL";
pub(crate) const AUTH_JWT_ISSUER: &str = "AUTH_JWT_ISSUER";
pub(crate) const AUTH_JWT_AUDIENCE: &str = "AUTH_JWT_AUDIENCE";
pub(crate) const AUTH_JWT_PRINCIPAL_CLAIM: &str = "AUTH_JWT_PRINCIPAL_CLAIM";
pub(crate) const AUTH_JWT_LEEWAY_SECS: &str = "AUTH_JWT_LEEWAY_SECS";
pub(crate) const AUTH_JWT_JWKS_TTL_SECS: &str = "AUTH_JWT_JWKS_TTL_SECS";
pub(crate) const AUTH_JWT_JWKS_MIN_REFRESH_SECS: &str = "AUTH_JWT_JWKS_MIN_REFRESH_SECS";

/// How callers prove who they are; both `None` is `AUTH_MODE=none`.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// `api_key` mode: the keys of `AUTH_API_KEYS_FILE`, read once at start (and again by the
    /// gateway when the file changes).
    pub api_keys: Option<Arc<super::ApiKeys>>,
    /// `jwt` mode.
    pub jwt: Option<JwtConfig>,
}

/// Where the identity provider's signing keys are: an `http(s)` URL or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    Url(String),
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// `AUTH_JWT_JWKS_URL`.
    pub jwks: JwksSource,
    /// `AUTH_JWT_ISSUER`: the `iss` every token must carry.
    pub issuer: String,
    /// `AUTH_JWT_AUDIENCE`: an `aud` every token must carry.
    pub audience: String,
    /// `AUTH_JWT_PRINCIPAL_CLAIM` (default `sub`): the claim naming the caller.
    pub principal_claim: String,
    /// `AUTH_JWT_LEEWAY_SECS` (default 60, at most 300): clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// `AUTH_JWT_JWKS_TTL_SECS` (default 300): how long fetched keys are used before they are
    /// fetched again (kept, with a warning, while the provider cannot be reached).
    pub ttl: Duration,
    /// `AUTH_JWT_JWKS_MIN_REFRESH_SECS` (default 30): the least time between two fetches, so
    /// tokens naming unknown keys cannot make the gateway hammer the provider.
    pub min_refresh: Duration,
}

impl AuthConfig {
    pub fn is_on(&self) -> bool {
        self.api_keys.is_some() || self.jwt.is_some()
    }

    /// The mode's name as `AUTH_MODE` spells it.
    pub fn mode(&self) -> &'static str {
        match (self.api_keys.is_some(), self.jwt.is_some()) {
            (false, false) => "none",
            (true, false) => "api_key",
            (false, true) => "jwt",
            (true, true) => "api_key,jwt",
        }
    }

    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let raw = env.get(AUTH_MODE).unwrap_or_else(|| "none".to_owned());
        let (mut api_key, mut jwt) = (false, false);
        for part in raw.split(',').map(str::trim) {
            match part {
                "none" if raw.trim() == "none" => {}
                "api_key" => api_key = true,
                "jwt" => jwt = true,
                _ => {
                    return Err(ConfigError::new(
                        AUTH_MODE,
                        &raw,
                        "must be none, api_key, jwt or api_key,jwt",
                    ));
                }
            }
        }
        let api_keys = if api_key {
            let path = PathBuf::from(required(env, AUTH_API_KEYS_FILE, "api_key")?);
            // A missing or malformed file stops the start (exit 64), naming the line.
            let keys = super::ApiKeys::load(&path).map_err(|err| {
                ConfigError::new(AUTH_API_KEYS_FILE, &path.display().to_string(), err)
            })?;
            Some(Arc::new(keys))
        } else {
            None
        };
        let jwt = if jwt {
            Some(JwtConfig::from_env(env)?)
        } else {
            None
        };
        Ok(Self { api_keys, jwt })
    }
}

fn required(env: &impl Env, name: &str, mode: &str) -> Result<String, ConfigError> {
    env.get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ConfigError::new(name, "", format!("is required with AUTH_MODE {mode}")))
}

impl JwtConfig {
    fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let raw = required(env, AUTH_JWT_JWKS_URL, "jwt")?;
        let jwks = if raw.starts_with("http://") || raw.starts_with("https://") {
            raw.parse::<reqwest::Url>()
                .map_err(|e| ConfigError::new(AUTH_JWT_JWKS_URL, &raw, e))?;
            JwksSource::Url(raw)
        } else if raw.contains("://") {
            return Err(ConfigError::new(
                AUTH_JWT_JWKS_URL,
                &raw,
                "must be an http(s) URL or a file path",
            ));
        } else {
            JwksSource::File(PathBuf::from(raw))
        };
        let leeway = seconds_or(env, AUTH_JWT_LEEWAY_SECS, Duration::from_secs(60))?;
        if leeway > Duration::from_secs(300) {
            return Err(ConfigError::new(
                AUTH_JWT_LEEWAY_SECS,
                &leeway.as_secs().to_string(),
                "at most 300 (five minutes of clock skew)",
            ));
        }
        Ok(Self {
            jwks,
            issuer: required(env, AUTH_JWT_ISSUER, "jwt")?,
            audience: required(env, AUTH_JWT_AUDIENCE, "jwt")?,
            principal_claim: env
                .get(AUTH_JWT_PRINCIPAL_CLAIM)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "sub".to_owned()),
            leeway,
            ttl: seconds_or(env, AUTH_JWT_JWKS_TTL_SECS, Duration::from_secs(300))?,
            min_refresh: seconds_or(env, AUTH_JWT_JWKS_MIN_REFRESH_SECS, Duration::from_secs(30))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<AuthConfig, ConfigError> {
        AuthConfig::from_env(&pairs.iter().copied().collect::<HashMap<_, _>>())
    }

    #[test]
    fn modes_are_read_and_each_needs_its_settings() {
        assert_eq!(config(&[]).unwrap().mode(), "none");
        assert_eq!(config(&[(AUTH_MODE, "none")]).unwrap().mode(), "none");
        assert!(config(&[(AUTH_MODE, "api_key")]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        let path = file.to_str().unwrap();
        assert!(
            config(&[(AUTH_MODE, "api_key"), (AUTH_API_KEYS_FILE, path)]).is_err(),
            "the file must exist"
        );
        std::fs::write(&file, "alice nothex\n").unwrap();
        let err = config(&[(AUTH_MODE, "api_key"), (AUTH_API_KEYS_FILE, path)]).unwrap_err();
        assert!(err.reason.contains("line 1"), "{err}");
        std::fs::write(&file, "# no keys yet\n").unwrap();
        let keys = config(&[(AUTH_MODE, "api_key"), (AUTH_API_KEYS_FILE, path)]).unwrap();
        assert_eq!(keys.mode(), "api_key");
        let jwt = [
            (AUTH_MODE, "api_key, jwt"),
            (AUTH_API_KEYS_FILE, path),
            (AUTH_JWT_JWKS_URL, "https://idp.example/jwks.json"),
            (AUTH_JWT_ISSUER, "https://idp.example/"),
            (AUTH_JWT_AUDIENCE, "intentmesh"),
        ];
        let both = config(&jwt).unwrap();
        assert_eq!(both.mode(), "api_key,jwt");
        let j = both.jwt.unwrap();
        assert_eq!(j.principal_claim, "sub");
        assert_eq!(
            j.jwks,
            JwksSource::Url("https://idp.example/jwks.json".into())
        );
        assert!(config(&jwt[..4]).is_err(), "the audience is required");
        for bad in ["basic", "none,jwt", "api_key;jwt", "jwt,"] {
            assert!(config(&[(AUTH_MODE, bad)]).is_err(), "{bad}");
        }
        let mut file = jwt.to_vec();
        file[2] = (AUTH_JWT_JWKS_URL, "/etc/intentmesh/jwks.json");
        assert!(matches!(
            config(&file).unwrap().jwt.unwrap().jwks,
            JwksSource::File(_)
        ));
        file[2] = (AUTH_JWT_JWKS_URL, "ftp://idp/jwks");
        assert!(config(&file).is_err());
    }
}

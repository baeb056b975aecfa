//! JWTs from an identity provider: RS256, ES256 or EdDSA, signed by a key of the provider's JWKS
//! (`AUTH_JWT_JWKS_URL`, a URL or a file), with the configured `iss` and `aud`, unexpired (within
//! `AUTH_JWT_LEEWAY_SECS` of skew). The principal is the `AUTH_JWT_PRINCIPAL_CLAIM` claim (`sub`);
//! scopes come from `scope` (space-separated) and `scp` (a list or a string).
//!
//! The keys are cached for `AUTH_JWT_JWKS_TTL_SECS` and fetched again when a token names a key
//! the cache lacks (a rotation), at most once per `AUTH_JWT_JWKS_MIN_REFRESH_SECS`; while the
//! provider cannot be reached, the keys already fetched stay in use.

use std::{
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse},
};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::{JwksSource, JwtConfig, Principal, valid_principal};

/// The largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// How long one JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub(crate) enum JwtError {
    #[error("malformed")]
    Malformed,
    #[error("signed with {0:?}; RS256, ES256 and EdDSA are accepted")]
    Algorithm(Algorithm),
    #[error("signed by an unknown key")]
    UnknownKey,
    #[error("the signing keys cannot be fetched")]
    NoKeys,
    #[error("{0}")]
    Rejected(String),
    #[error("claim {0:?} is missing or not a user id")]
    Principal(String),
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("status {0}")]
    Status(reqwest::StatusCode),
    #[error("larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("{0}")]
    File(#[from] std::io::Error),
    #[error("not a JWKS: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Clone)]
struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Cache {
    keys: Vec<Key>,
    /// When the keys were fetched (`None`: never).
    fetched: Option<Instant>,
}

impl Cache {
    fn find(&self, kid: Option<&str>, algorithm: Algorithm) -> Option<Key> {
        let mut candidates = self.keys.iter().filter(|k| k.algorithm == algorithm);
        match kid {
            Some(kid) => candidates.find(|k| k.kid.as_deref() == Some(kid)).cloned(),
            // No `kid`: only a set with one key of that algorithm says which.
            None => {
                let first = candidates.next()?;
                candidates.next().is_none().then(|| first.clone())
            }
        }
    }
}

/// Cheap to clone: a background refresh holds one.
#[derive(Debug, Clone)]
pub(crate) struct JwtVerifier(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    config: JwtConfig,
    http: reqwest::Client,
    cache: RwLock<Arc<Cache>>,
    /// One fetch at a time; holds when the last one was tried.
    fetching: Arc<tokio::sync::Mutex<Option<Instant>>>,
}

impl JwtVerifier {
    pub(crate) fn new(config: JwtConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            // A redirect could lead from https to http: the provider's URL is to be exact.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self(Arc::new(Inner {
            config,
            http,
            cache: RwLock::new(Arc::new(Cache::default())),
            fetching: Arc::new(tokio::sync::Mutex::new(None)),
        }))
    }

    fn cached(&self) -> Arc<Cache> {
        Arc::clone(&self.0.cache.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn fresh(&self, cache: &Cache) -> bool {
        cache
            .fetched
            .is_some_and(|at| at.elapsed() < self.0.config.ttl)
    }

    /// The caller `token` proves.
    pub(crate) async fn verify(&self, token: &str) -> Result<Principal, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
        ) {
            return Err(JwtError::Algorithm(header.alg));
        }
        let key = self.key(header.kid.as_deref(), header.alg).await?;
        let config = &self.0.config;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = config.leeway.as_secs();
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|err| JwtError::Rejected(rejection(&err)))?
            .claims;
        let claim = &config.principal_claim;
        let id = claims
            .get(claim)
            .and_then(Value::as_str)
            .filter(|id| valid_principal(id))
            .ok_or_else(|| JwtError::Principal(claim.clone()))?;
        Ok(Principal::new(id, scopes(&claims)))
    }

    /// The key for `kid`. A known one is answered at once, and a stale cache is refreshed in the
    /// background meanwhile; an unknown one waits for a fetch (a rotation), at most one per
    /// `min_refresh`.
    async fn key(&self, kid: Option<&str>, algorithm: Algorithm) -> Result<Key, JwtError> {
        let cache = self.cached();
        if let Some(key) = cache.find(kid, algorithm) {
            if !self.fresh(&cache) {
                self.refresh_in_background();
            }
            return Ok(key);
        }
        let mut last_try = self.0.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.cached().find(kid, algorithm) {
            return Ok(key);
        }
        self.fetch_if_due(&mut last_try).await;
        drop(last_try);
        let cache = self.cached();
        match cache.find(kid, algorithm) {
            Some(key) => Ok(key),
            None if cache.fetched.is_none() => Err(JwtError::NoKeys),
            None => Err(JwtError::UnknownKey),
        }
    }

    /// Fetches the keys now, unless a fetch was tried less than `min_refresh` ago.
    async fn fetch_if_due(&self, last_try: &mut Option<Instant>) {
        if last_try.is_some_and(|t| t.elapsed() < self.0.config.min_refresh) {
            return;
        }
        *last_try = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "JWKS fetched");
                *self.0.cache.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Cache {
                    keys,
                    fetched: Some(Instant::now()),
                });
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot fetch the JWKS; keys already fetched stay in use");
            }
        }
    }

    /// Starts a fetch in a task of its own unless one is running (requests go on with the
    /// keys they have).
    pub(crate) fn refresh_in_background(&self) {
        let Ok(mut last_try) = Arc::clone(&self.0.fetching).try_lock_owned() else {
            return;
        };
        let verifier = self.clone();
        tokio::spawn(async move { verifier.fetch_if_due(&mut last_try).await });
    }

    async fn fetch(&self) -> Result<Vec<Key>, FetchError> {
        let bytes = match &self.0.config.jwks {
            JwksSource::File(path) => {
                let bytes = tokio::fs::read(path).await?;
                if bytes.len() > MAX_JWKS_BYTES {
                    return Err(FetchError::TooLarge);
                }
                bytes
            }
            JwksSource::Url(url) => {
                let mut response = self.0.http.get(url).send().await?;
                if !response.status().is_success() {
                    return Err(FetchError::Status(response.status()));
                }
                let mut bytes = Vec::new();
                while let Some(chunk) = response.chunk().await? {
                    if bytes.len() + chunk.len() > MAX_JWKS_BYTES {
                        return Err(FetchError::TooLarge);
                    }
                    bytes.extend_from_slice(&chunk);
                }
                bytes
            }
        };
        Ok(keys(&bytes)?)
    }
}

/// The signing keys of a JWKS document that this verifier accepts; others (encryption keys,
/// other algorithms, kinds this library does not know) are left out, not an error.
fn keys(document: &[u8]) -> Result<Vec<Key>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<Value>,
    }
    let set: Set = serde_json::from_slice(document)?;
    Ok(set
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| {
            if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
                return None;
            }
            let algorithm = algorithm_of(&jwk)?;
            let key = DecodingKey::from_jwk(&jwk).ok()?;
            Some(Key {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key,
            })
        })
        .collect())
}

/// The algorithm a key is for: its `alg`, else what its type and curve imply; only RS256,
/// ES256 and EdDSA.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(implied),
        Some(KeyAlgorithm::RS256) if implied == Algorithm::RS256 => Some(implied),
        Some(KeyAlgorithm::ES256) if implied == Algorithm::ES256 => Some(implied),
        Some(KeyAlgorithm::EdDSA) if implied == Algorithm::EdDSA => Some(implied),
        Some(_) => None,
    }
}

fn scopes(claims: &Map<String, Value>) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for claim in ["scope", "scp"] {
        match claims.get(claim) {
            Some(Value::String(s)) => scopes.extend(s.split_whitespace().map(str::to_owned)),
            Some(Value::Array(items)) => {
                scopes.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            _ => {}
        }
    }
    scopes
}

/// Why a token was refused, in words that name no part of it.
fn rejection(err: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match err.kind() {
        K::ExpiredSignature => "expired".to_owned(),
        K::ImmatureSignature => "not valid yet (nbf)".to_owned(),
        K::InvalidIssuer => "wrong issuer".to_owned(),
        K::InvalidAudience => "wrong audience".to_owned(),
        K::InvalidSignature => "bad signature".to_owned(),
        K::MissingRequiredClaim(claim) => format!("claim {claim:?} is missing"),
        K::InvalidAlgorithm => "algorithm does not match the key".to_owned(),
        _ => "malformed".to_owned(),
    }
}

//! Who is calling. `AUTH_MODE` picks how a caller proves it: `none` (nobody is asked: the
//! development default, warned about at start), `api_key` (keys listed in `AUTH_API_KEYS_FILE`),
//! `jwt` (tokens signed by an identity provider whose keys are at `AUTH_JWT_JWKS_URL`) or both,
//! `api_key,jwt`. With a mode on, every route but the operational ones (`/health`, `/ready`,
//! `/metrics`, `/openapi.json`) needs a credential: missing or not verified, it is
//! `401 unauthenticated` with `WWW-Authenticate: Bearer`. The verified [`Principal`] is the
//! caller's user: a body naming another `user_id` is `403 forbidden` without scope `act_as`, an
//! `agent` override without scope `route_override`; tasks are visible to their owner only.

mod config;
mod jwt;
mod keys;

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use intentmesh_core::ErrorCode;
use tokio_util::sync::CancellationToken;

pub use config::{AuthConfig, JwksSource, JwtConfig};
pub use keys::{ApiKeys, KeysError, NewKey, new_key};

use crate::{AppState, error::ApiError};

/// May name any `user_id` (a trusted backend acting for its users), and see their tasks.
pub const ACT_AS: &str = "act_as";
/// May name the agent (`"agent"` in the body), skipping classification.
pub const ROUTE_OVERRIDE: &str = "route_override";

/// A verified caller: its id (the user it acts as) and its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    id: Arc<str>,
    scopes: Arc<[Box<str>]>,
}

impl Principal {
    pub fn new(
        id: impl Into<Arc<str>>,
        scopes: impl IntoIterator<Item = impl Into<Box<str>>>,
    ) -> Self {
        Self {
            id: id.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| &**s == scope)
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(|s| &**s)
    }
}

/// The longest principal accepted (a key file's, or a token's claim): the longest `user_id`.
pub(crate) const MAX_PRINCIPAL_CHARS: usize = 128;

/// A principal as a user id: 1 to 128 visible characters (no spaces, no control characters).
pub(crate) fn valid_principal(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= MAX_PRINCIPAL_CHARS
        && id.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

/// Checks credentials with whatever `AUTH_MODE` turned on.
#[derive(Debug)]
pub struct Authenticator {
    keys: Option<Arc<keys::ApiKeys>>,
    jwt: Option<jwt::JwtVerifier>,
}

/// Why a credential was refused. The message never holds the credential.
#[derive(Debug)]
pub(crate) enum Refusal {
    Missing,
    Invalid(String),
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Missing => ApiError::new(
                ErrorCode::Unauthenticated,
                "credentials are required: Authorization: Bearer <API key or token>, or X-API-Key",
            ),
            Refusal::Invalid(why) => {
                ApiError::new(ErrorCode::Unauthenticated, why).with("reason", "invalid_token")
            }
        }
    }
}

impl Authenticator {
    /// Takes the keys read with the configuration and prepares the JWKS cache; `None` when
    /// `AUTH_MODE=none`.
    pub fn new(config: &AuthConfig) -> Option<Self> {
        config.is_on().then(|| Self {
            keys: config.api_keys.clone(),
            jwt: config.jwt.clone().map(jwt::JwtVerifier::new),
        })
    }

    /// Re-reads the key file when it changes, until `shutdown`, and fetches the identity
    /// provider's keys once now (rather than at the first token).
    pub fn watch(&self, shutdown: CancellationToken) {
        if let Some(keys) = &self.keys {
            tokio::spawn(Arc::clone(keys).watch(shutdown));
        }
        if let Some(jwt) = &self.jwt {
            jwt.refresh_in_background();
        }
    }

    /// The caller the request's credential proves, or why not.
    pub(crate) async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Refusal> {
        let api_key = headers.get("x-api-key");
        let bearer = headers.get(header::AUTHORIZATION);
        let credential = match (api_key, bearer) {
            (None, None) => return Err(Refusal::Missing),
            (Some(_), Some(_)) => {
                return Err(Refusal::Invalid(
                    "send one credential: Authorization or X-API-Key, not both".to_owned(),
                ));
            }
            (Some(key), None) => Credential::ApiKey(text(key)?),
            (None, Some(value)) => {
                let value = text(value)?;
                let token = value
                    .split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, token)| token.trim())
                    .filter(|token| !token.is_empty())
                    .ok_or_else(|| {
                        Refusal::Invalid("Authorization must be `Bearer <credential>`".to_owned())
                    })?;
                if self.jwt.is_some() && token.bytes().filter(|b| *b == b'.').count() == 2 {
                    Credential::Jwt(token)
                } else {
                    Credential::ApiKey(token)
                }
            }
        };
        match credential {
            Credential::ApiKey(key) => match &self.keys {
                Some(keys) => keys
                    .verify(key)
                    .ok_or_else(|| Refusal::Invalid("the API key is not valid".to_owned())),
                None => Err(Refusal::Invalid(
                    "API keys are not accepted here (AUTH_MODE)".to_owned(),
                )),
            },
            Credential::Jwt(token) => match &self.jwt {
                Some(jwt) => jwt
                    .verify(token)
                    .await
                    .map_err(|err| Refusal::Invalid(format!("the token is not valid: {err}"))),
                None => Err(Refusal::Invalid("tokens are not accepted here".to_owned())),
            },
        }
    }
}

enum Credential<'a> {
    ApiKey(&'a str),
    Jwt(&'a str),
}

fn text(value: &axum::http::HeaderValue) -> Result<&str, Refusal> {
    value
        .to_str()
        .map_err(|_| Refusal::Invalid("the credential is not visible ASCII".to_owned()))
}

/// Puts the verified [`Principal`] on the request, or answers `401` (with auth off: nothing).
pub(crate) async fn middleware(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(auth) = &state.auth else {
        return next.run(request).await;
    };
    if crate::is_operational(request.uri().path()) {
        return next.run(request).await;
    }
    match auth.authenticate(request.headers()).await {
        Ok(principal) => {
            intentmesh_core::telemetry::record_principal(principal.id());
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        // Counted in `agent_requests{status="401"}`.
        Err(refusal) => ApiError::from(refusal).into_response(),
    }
}

/// The verified caller of this request; `None` when `AUTH_MODE=none`.
#[derive(Debug, Clone)]
pub struct Caller(pub Option<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<Principal>().cloned()))
    }
}

impl Caller {
    /// Whether the caller may act as `user_id` (name it in a body): itself, or anyone with
    /// `act_as`. Without authentication, the body's word is all there is.
    pub(crate) fn may_act_as(&self, user_id: &str) -> bool {
        self.0
            .as_ref()
            .is_none_or(|p| p.id() == user_id || p.has(ACT_AS))
    }

    /// Checks what a `POST /process` or `POST /route` body claims: its `user_id` is the
    /// caller's (or `act_as`), and an `agent` override needs `route_override`.
    pub(crate) fn check_body(&self, user_id: &str, agent: Option<&str>) -> Result<(), ApiError> {
        let Some(principal) = &self.0 else {
            return Ok(());
        };
        if !self.may_act_as(user_id) {
            return Err(forbidden(
                "user_id names another user; acting for others needs scope act_as",
                ACT_AS,
            )
            .with("field", "user_id"));
        }
        if agent.is_some() && !principal.has(ROUTE_OVERRIDE) {
            return Err(forbidden(
                "naming the agent needs scope route_override",
                ROUTE_OVERRIDE,
            )
            .with("field", "agent"));
        }
        Ok(())
    }
}

fn forbidden(message: &str, scope: &str) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, message).with("scope", scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_are_visible_text_of_bounded_length() {
        assert!(valid_principal("alice"));
        assert!(valid_principal("svc:billing@example.com"));
        assert!(!valid_principal(""));
        assert!(!valid_principal("a b"));
        assert!(!valid_principal("a\u{7}"));
        assert!(!valid_principal(&"a".repeat(129)));
    }

    #[test]
    fn a_caller_acts_as_itself_unless_it_may_act_as_anyone() {
        let alice = Caller(Some(Principal::new("alice", ["search"])));
        assert!(alice.check_body("alice", None).is_ok());
        let err = alice.check_body("bob", None).unwrap_err();
        assert_eq!(err.0.code, ErrorCode::Forbidden);
        assert_eq!(err.0.details["scope"], ACT_AS);
        let err = alice.check_body("alice", Some("payment")).unwrap_err();
        assert_eq!(err.0.details["scope"], ROUTE_OVERRIDE);

        let backend = Caller(Some(Principal::new("backend", [ACT_AS, ROUTE_OVERRIDE])));
        assert!(backend.check_body("bob", Some("payment")).is_ok());
        // Nobody is checked without authentication.
        assert!(Caller(None).check_body("anyone", Some("payment")).is_ok());
    }

    async fn authenticate(
        auth: &Authenticator,
        headers: &[(&str, &str)],
    ) -> Result<Principal, Refusal> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        auth.authenticate(&map).await
    }

    #[tokio::test]
    async fn keys_are_taken_from_either_header_and_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let new = new_key("alice", &["act_as".to_owned()]).unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, format!("# test keys\n{}\n", new.line)).unwrap();
        let auth = Authenticator::new(&AuthConfig {
            api_keys: Some(Arc::new(ApiKeys::load(&path).unwrap())),
            jwt: None,
        })
        .unwrap();
        let bearer = format!("Bearer {}", new.key);
        let ok = authenticate(&auth, &[("authorization", &bearer)])
            .await
            .unwrap();
        assert_eq!(ok.id(), "alice");
        assert!(ok.has(ACT_AS));
        let lower = format!("bearer {}", new.key);
        assert!(
            authenticate(&auth, &[("authorization", &lower)])
                .await
                .is_ok()
        );
        assert!(
            authenticate(&auth, &[("x-api-key", &new.key)])
                .await
                .is_ok()
        );
        assert!(matches!(
            authenticate(&auth, &[]).await,
            Err(Refusal::Missing)
        ));
        for bad in [
            vec![("x-api-key", "imk_wrong")],
            vec![("authorization", "Basic YWxpY2U6eA==")],
            vec![("authorization", "Bearer ")],
            vec![
                ("authorization", bearer.as_str()),
                ("x-api-key", new.key.as_str()),
            ],
            // A token-shaped credential when only keys are on is just a wrong key.
            vec![("authorization", "Bearer a.b.c")],
        ] {
            assert!(
                matches!(authenticate(&auth, &bad).await, Err(Refusal::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}

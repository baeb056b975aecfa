//! The request id: the caller's `X-Request-Id` when it is sane, else a new one. A middleware puts
//! it on every request (for handlers), on its span (every log line), in a task-local while the
//! request is handled (error bodies made anywhere), and on its answer (`X-Request-Id`).

use std::{convert::Infallible, fmt, sync::Arc};

use axum::{
    extract::{FromRequestParts, Request},
    http::{HeaderMap, HeaderValue, request::Parts},
    middleware::Next,
    response::Response,
};

tokio::task_local! {
    /// The request being answered, for error bodies made anywhere while it is handled.
    static CURRENT: RequestId;
}

/// The request id: the caller's `X-Request-Id` when it is sane, else a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    fn from_headers(headers: &HeaderMap) -> Self {
        let given = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= 128
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
            });
        Self(match given {
            Some(id) => Arc::from(id),
            None => Arc::from(format!("req-{}", uuid::Uuid::now_v7().simple())),
        })
    }

    /// The id of the request being handled (outside one: none).
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Gives every request its id: on the request (for handlers), on its span (every log line),
/// while it is handled (error bodies), and as `X-Request-Id` on its answer.
pub(crate) async fn middleware(mut request: Request, next: Next) -> Response {
    let id = RequestId::from_headers(request.headers());
    intentmesh_core::telemetry::record_request_id(id.as_str());
    request.extensions_mut().insert(id.clone());
    let mut response = CURRENT.scope(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        // Set by the middleware; a router without it (a test) still gets an id.
        Ok(parts
            .extensions
            .get::<Self>()
            .cloned()
            .unwrap_or_else(|| Self::from_headers(&parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_when_sane() {
        let mut h = HeaderMap::new();
        assert!(RequestId::from_headers(&h).as_str().starts_with("req-"));
        h.insert("x-request-id", "abc-123".parse().unwrap());
        assert_eq!(RequestId::from_headers(&h).as_str(), "abc-123");
        h.insert("x-request-id", "a b".parse().unwrap());
        assert!(RequestId::from_headers(&h).as_str().starts_with("req-"));
    }
}

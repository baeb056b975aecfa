//! [`ApiError`]: every failure the gateway answers with, as the JSON error envelope
//! `{"status":"error","error":{"code","message","details"},"request_id"}` with the code's HTTP
//! status (and `Retry-After` when the caller should come back). Turning one into a response has
//! no side effect: the error rides in the response's extensions, and the logging middleware
//! writes its one line.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use intentmesh_core::{
    AgentError, ErrorCode,
    client::CallError,
    errors::grpc::{RETRY_AFTER_SECS, retry_after_secs},
    resilience::BreakerError,
};

use crate::{
    api::{ErrorBody, ErrorEnvelope},
    request_id::RequestId,
};

/// An error on its way to the client.
#[derive(Debug, Clone)]
pub struct ApiError(pub AgentError);

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(AgentError::new(code, message))
    }

    #[must_use]
    pub fn with(self, key: &str, value: impl std::fmt::Display) -> Self {
        Self(self.0.with(key, value))
    }

    pub fn status(&self) -> StatusCode {
        self.0.code.http_status()
    }

    /// The body of the answer.
    pub(crate) fn body(&self) -> ErrorBody {
        error_body(&self.0)
    }
}

/// An error as the JSON shows it: its details, and when to retry among them.
pub(crate) fn error_body(err: &AgentError) -> ErrorBody {
    let mut details = err.details.clone();
    if let Some(after) = err.retry_after {
        details.insert(
            RETRY_AFTER_SECS.to_owned(),
            retry_after_secs(after).to_string(),
        );
    }
    ErrorBody {
        code: err.code.wire_name(),
        message: err.message.clone(),
        details,
    }
}

impl From<AgentError> for ApiError {
    fn from(error: AgentError) -> Self {
        Self(error)
    }
}

impl From<CallError> for ApiError {
    /// A call to the root: its own answers pass through; a transport failure or a foreign
    /// server's status means the root is unavailable; its breaker's refusal says when to retry.
    fn from(err: CallError) -> Self {
        match err {
            BreakerError::Open { retry_after, .. } => Self(
                AgentError::new(
                    ErrorCode::CircuitOpen,
                    "the root agent is failing; requests are paused for now",
                )
                .with("agent", "root")
                .retry_after(retry_after),
            ),
            BreakerError::Inner(status) => {
                let error = AgentError::from(&status);
                if error.code == ErrorCode::Unavailable && !error.relayed {
                    Self(
                        AgentError::unavailable("the root agent is unavailable")
                            .with("agent", "root")
                            .caused_by(status),
                    )
                } else {
                    Self(error)
                }
            }
        }
    }
}

/// Marks a response as an error for the logging middleware.
#[derive(Debug, Clone)]
pub(crate) struct ErrorLogged(pub(crate) AgentError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorEnvelope {
            status: "error",
            error: self.body(),
            request_id: RequestId::current().map(|id| id.to_string()),
        };
        let mut response = (status, Json(body)).into_response();
        if matches!(
            self.0.code,
            ErrorCode::Unavailable
                | ErrorCode::Overloaded
                | ErrorCode::CircuitOpen
                | ErrorCode::RateLimited
        ) {
            // An open circuit says when it will try again; otherwise a second is a fair guess.
            let after = self.0.retry_after.map_or(1, retry_after_secs);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(after));
        }
        if self.0.code == ErrorCode::Unauthenticated {
            // RFC 6750: a refused credential says so; a missing one only names the scheme.
            let challenge = if self.0.details.contains_key("reason") {
                r#"Bearer realm="intentmesh", error="invalid_token""#
            } else {
                r#"Bearer realm="intentmesh""#
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response.extensions_mut().insert(ErrorLogged(self.0));
        response
    }
}

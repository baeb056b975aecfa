//! `ApiError`: every failure the gateway answers with, as the JSON error envelope
//! `{"status":"error","error":{"code","message","details"},"request_id"}`.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use intentmesh_core::{AgentError, ErrorCode, ErrorCodeExt};
use serde_json::{Map, Value, json};

/// An error on its way to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub error: AgentError,
    pub request_id: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: AgentError::new(code, message),
            request_id: None,
        }
    }

    #[must_use]
    pub fn with(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.error = self.error.with(key, value);
        self
    }

    #[must_use]
    pub fn request_id(mut self, id: &str) -> Self {
        self.request_id = Some(id.to_owned());
        self
    }

    pub fn status(&self) -> StatusCode {
        self.error.code.http_status()
    }
}

impl From<AgentError> for ApiError {
    fn from(error: AgentError) -> Self {
        Self {
            error,
            request_id: None,
        }
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let mut error = AgentError::from(&status);
        if error.code == ErrorCode::Unavailable && !AgentError::is_ours(&status) {
            error = AgentError::unavailable("the root agent is unavailable").with("agent", "root");
        }
        Self {
            error,
            request_id: None,
        }
    }
}

/// Marks a response as an error for the logging middleware (the conversion itself logs nothing).
#[derive(Debug, Clone)]
pub(crate) struct ErrorLogged(pub(crate) AgentError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let details: Map<String, Value> = self
            .error
            .details
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let body = json!({
            "status": "error",
            "error": {
                "code": self.error.code.wire_name(),
                "message": self.error.message,
                "details": details,
            },
            "request_id": self.request_id,
        });
        let mut response = (status, Json(body)).into_response();
        if matches!(
            self.error.code,
            ErrorCode::Unavailable | ErrorCode::Overloaded | ErrorCode::CircuitOpen
        ) {
            // An open circuit says when it will try again; otherwise a second is a fair guess.
            let after = self
                .error
                .details
                .get("retry_after_secs")
                .and_then(|v| HeaderValue::from_str(v).ok())
                .unwrap_or(HeaderValue::from_static("1"));
            response.headers_mut().insert(header::RETRY_AFTER, after);
        }
        response.extensions_mut().insert(ErrorLogged(self.error));
        response
    }
}

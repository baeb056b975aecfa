//! The one error vocabulary of IntentMesh: a stable [`ErrorCode`] with its HTTP status and gRPC
//! code, and [`AgentError`], the error every agent answers with and the gateway renders.
//!
//! Below the edges, each crate has its own `thiserror` enums that keep their cause as a
//! `#[source]`; where one becomes an answer it turns into an [`AgentError`] that still carries the
//! cause (for the one log line the edge writes) but shows the caller only the code, a message
//! written for the caller, and details.

mod code;
pub mod grpc;

use std::{collections::BTreeMap, fmt, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};

pub use code::ErrorCode;

/// The cause of an error, kept for logs; never shown to a caller.
pub type Source = Arc<dyn std::error::Error + Send + Sync>;

/// An error with a stable code, a message for the caller and machine-readable details.
#[derive(Clone, Serialize, Deserialize)]
#[serde(into = "Stored", from = "Stored")]
pub struct AgentError {
    pub code: ErrorCode,
    /// Written for the caller: it must not leak internals (the cause goes in `source`).
    pub message: String,
    /// Machine-readable details (`field`, `max`, `agent`, ...).
    pub details: BTreeMap<String, String>,
    /// When the caller may try again (an open circuit says when it will close): `Retry-After`.
    pub retry_after: Option<Duration>,
    /// Made by another IntentMesh service and passed on: that service logged it already.
    pub relayed: bool,
    source: Option<Source>,
}

impl AgentError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: BTreeMap::new(),
            retry_after: None,
            relayed: false,
            source: None,
        }
    }

    /// Adds one detail (`field`, `max`, `allowed`, ...).
    #[must_use]
    pub fn with(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.details.insert(key.to_owned(), value.to_string());
        self
    }

    /// Says when the caller may try again.
    #[must_use]
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Keeps what went wrong underneath, for the log line at the edge.
    #[must_use]
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Unavailable: a dependency could not be reached.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// Overloaded: at capacity (load shed, a cap reached); the caller may retry after a second,
    /// long enough for a queue to drain a little and short enough not to leave the server idle.
    pub fn overloaded(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Overloaded, message).retry_after(Duration::from_secs(1))
    }

    /// Internal: something on our side failed; the message must not leak internals.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The error and its causes, `: `-separated, for one log line.
    pub fn chain(&self) -> Chain<'_> {
        Chain(self)
    }

    /// Writes the one log line an error gets, where it becomes an answer: failures on our side at
    /// WARN with their cause, a caller's mistakes (and errors another service already logged) at
    /// DEBUG.
    pub fn log_at_edge(&self, what: &str) {
        if self.relayed || self.code.is_client_error() {
            tracing::debug!(code = %self.code, error = %self.chain(), relayed = self.relayed, "{what} refused");
        } else {
            tracing::warn!(code = %self.code, error = %self.chain(), "{what} failed");
        }
    }
}

impl PartialEq for AgentError {
    /// Two errors are the same answer; their causes are not compared.
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
            && self.message == other.message
            && self.details == other.details
            && self.retry_after == other.retry_after
    }
}

impl fmt::Debug for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentError")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("details", &self.details)
            .field("retry_after", &self.retry_after)
            .field("relayed", &self.relayed)
            .field("source", &self.source.as_ref().map(ToString::to_string))
            .finish()
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AgentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// An error followed by its causes: `unavailable: the ledger is down: pool timed out`.
#[derive(Debug)]
pub struct Chain<'a>(&'a (dyn std::error::Error + Send + Sync + 'static));

impl<'a> Chain<'a> {
    pub fn of(error: &'a (dyn std::error::Error + Send + Sync + 'static)) -> Self {
        Self(error)
    }
}

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = std::error::Error::source(self.0);
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

/// How an error is kept (a failed task's record): the answer, without its cause. A code this
/// version does not know (written by a newer one) reads as `internal`.
#[derive(Serialize, Deserialize)]
struct Stored {
    code: String,
    message: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    details: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
}

impl From<AgentError> for Stored {
    fn from(err: AgentError) -> Self {
        Self {
            code: err.code.wire_name().to_owned(),
            message: err.message,
            details: err.details,
            retry_after_ms: err
                .retry_after
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

impl From<Stored> for AgentError {
    fn from(stored: Stored) -> Self {
        Self {
            details: stored.details,
            retry_after: stored.retry_after_ms.map(Duration::from_millis),
            ..Self::new(
                ErrorCode::from_wire_name(&stored.code).unwrap_or(ErrorCode::Internal),
                stored.message,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("pool timed out")]
    struct Leaf;

    #[derive(Debug, thiserror::Error)]
    #[error("the ledger is down")]
    struct Middle(#[source] Leaf);

    #[test]
    fn the_chain_names_every_cause_and_the_answer_none() {
        let err =
            AgentError::unavailable("the payment ledger is unavailable").caused_by(Middle(Leaf));
        assert_eq!(
            err.chain().to_string(),
            "unavailable: the payment ledger is unavailable: the ledger is down: pool timed out"
        );
        assert_eq!(
            err.to_string(),
            "unavailable: the payment ledger is unavailable"
        );
    }

    #[test]
    fn stored_errors_keep_the_answer() {
        let err = AgentError::new(ErrorCode::CircuitOpen, "paused")
            .with("agent", "payment")
            .retry_after(Duration::from_secs(30))
            .caused_by(Leaf);
        let json = serde_json::to_string(&err).unwrap();
        assert!(!json.contains("pool timed out"), "{json}");
        let back: AgentError = serde_json::from_str(&json).unwrap();
        assert_eq!(back, err);
        assert!(std::error::Error::source(&back).is_none());
        let newer: AgentError =
            serde_json::from_str(r#"{"code":"from_the_future","message":"m"}"#).unwrap();
        assert_eq!(newer.code, ErrorCode::Internal);
    }
}

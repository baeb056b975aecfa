//! The one error vocabulary of IntentMesh: a stable [`ErrorCode`] with its HTTP status and gRPC
//! code, and [`AgentError`], the error every agent returns and the gateway renders.

mod grpc;

use std::{collections::BTreeMap, fmt};

pub use intentmesh_proto::pb::ErrorCode;

/// How a stable error code maps onto HTTP and gRPC. Defined once, here.
pub trait ErrorCodeExt {
    fn http_status(self) -> http::StatusCode;
    fn grpc_code(self) -> tonic::Code;
}

impl ErrorCodeExt for ErrorCode {
    fn http_status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::InvalidJson
            | ErrorCode::MissingField
            | ErrorCode::EmptyField
            | ErrorCode::InvalidField
            | ErrorCode::MessageTooLong
            | ErrorCode::UnknownAgent
            | ErrorCode::UnknownSkill => S::BAD_REQUEST,
            ErrorCode::MissingAmount
            | ErrorCode::InvalidAmount
            | ErrorCode::AmountTooLarge
            | ErrorCode::MissingCurrency
            | ErrorCode::InvalidCurrency
            | ErrorCode::InvalidOrderId
            | ErrorCode::InvalidPriceRange => S::UNPROCESSABLE_ENTITY,
            ErrorCode::IdempotencyConflict
            | ErrorCode::OrderAlreadyPaid
            | ErrorCode::TaskNotCancelable => S::CONFLICT,
            ErrorCode::DeadLettered => S::INTERNAL_SERVER_ERROR,
            ErrorCode::NotFound => S::NOT_FOUND,
            ErrorCode::MethodNotAllowed => S::METHOD_NOT_ALLOWED,
            ErrorCode::PayloadTooLarge => S::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => S::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::ModeNotAvailable => S::NOT_IMPLEMENTED,
            ErrorCode::UpstreamError => S::BAD_GATEWAY,
            ErrorCode::Unavailable | ErrorCode::Overloaded | ErrorCode::CircuitOpen => {
                S::SERVICE_UNAVAILABLE
            }
            ErrorCode::DeadlineExceeded => S::GATEWAY_TIMEOUT,
            ErrorCode::Internal | ErrorCode::Unspecified => S::INTERNAL_SERVER_ERROR,
        }
    }

    fn grpc_code(self) -> tonic::Code {
        use tonic::Code as C;
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::InvalidJson
            | ErrorCode::MissingField
            | ErrorCode::EmptyField
            | ErrorCode::InvalidField
            | ErrorCode::MessageTooLong
            | ErrorCode::MissingAmount
            | ErrorCode::InvalidAmount
            | ErrorCode::AmountTooLarge
            | ErrorCode::MissingCurrency
            | ErrorCode::InvalidCurrency
            | ErrorCode::InvalidOrderId
            | ErrorCode::InvalidPriceRange
            | ErrorCode::UnsupportedMediaType => C::InvalidArgument,
            ErrorCode::UnknownAgent | ErrorCode::UnknownSkill | ErrorCode::NotFound => C::NotFound,
            ErrorCode::IdempotencyConflict | ErrorCode::OrderAlreadyPaid => C::AlreadyExists,
            ErrorCode::TaskNotCancelable => C::FailedPrecondition,
            ErrorCode::DeadLettered => C::Aborted,
            ErrorCode::PayloadTooLarge | ErrorCode::Overloaded => C::ResourceExhausted,
            ErrorCode::ModeNotAvailable | ErrorCode::MethodNotAllowed => C::Unimplemented,
            ErrorCode::Unavailable | ErrorCode::CircuitOpen => C::Unavailable,
            ErrorCode::DeadlineExceeded => C::DeadlineExceeded,
            ErrorCode::UpstreamError => C::Unknown,
            ErrorCode::Internal | ErrorCode::Unspecified => C::Internal,
        }
    }
}

/// An error with a stable code, a human message and machine-readable details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentError {
    pub code: ErrorCode,
    pub message: String,
    pub details: BTreeMap<String, String>,
}

impl AgentError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: BTreeMap::new(),
        }
    }

    /// Adds one detail (`field`, `max`, `allowed`, ...).
    #[must_use]
    pub fn with(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.details.insert(key.to_owned(), value.to_string());
        self
    }

    /// Unavailable: a dependency could not be reached.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// Internal: something on our side failed; the message must not leak internals.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.wire_name(), self.message)
    }
}

impl std::error::Error for AgentError {}

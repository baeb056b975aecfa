//! [`ErrorCode`]: the stable, machine-readable codes of IntentMesh, with the HTTP status and gRPC
//! code each maps to. The same list is the `ErrorCode` enum of `proto/intentmesh/v1/agent.proto`
//! (the proto crate tests that the two agree); on the wire a code travels by its snake-case name.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! codes {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// A stable error code. Its wire name (`invalid_amount`) is `error.code` in the gateway's
        /// JSON and the `reason` of the `google.rpc.ErrorInfo` in a gRPC status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant),*
        }

        impl ErrorCode {
            /// Every code, in the proto's order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The snake-case name used on the wire.
            pub const fn wire_name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name),*
                }
            }

            /// The code a wire name stands for.
            pub fn from_wire_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(ErrorCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    InvalidRequest => "invalid_request",
    MissingField => "missing_field",
    InvalidField => "invalid_field",
    MessageTooLong => "message_too_long",
    UnknownAgent => "unknown_agent",
    UnknownSkill => "unknown_skill",
    MissingAmount => "missing_amount",
    InvalidAmount => "invalid_amount",
    AmountTooLarge => "amount_too_large",
    MissingCurrency => "missing_currency",
    InvalidCurrency => "invalid_currency",
    InvalidOrderId => "invalid_order_id",
    IdempotencyConflict => "idempotency_conflict",
    OrderAlreadyPaid => "order_already_paid",
    InvalidPriceRange => "invalid_price_range",
    Unavailable => "unavailable",
    DeadlineExceeded => "deadline_exceeded",
    Overloaded => "overloaded",
    Internal => "internal",
    ModeNotAvailable => "mode_not_available",
    UpstreamError => "upstream_error",
    NotFound => "not_found",
    PayloadTooLarge => "payload_too_large",
    UnsupportedMediaType => "unsupported_media_type",
    InvalidJson => "invalid_json",
    EmptyField => "empty_field",
    MethodNotAllowed => "method_not_allowed",
    TaskNotCancelable => "task_not_cancelable",
    DeadLettered => "dead_lettered",
    CircuitOpen => "circuit_open",
    RequestTimeout => "request_timeout",
    Unauthenticated => "unauthenticated",
    Forbidden => "forbidden",
    RateLimited => "rate_limited",
    BudgetExceeded => "budget_exceeded",
}

impl ErrorCode {
    /// The HTTP status the gateway answers with.
    pub fn http_status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::InvalidRequest
            | Self::InvalidJson
            | Self::MissingField
            | Self::EmptyField
            | Self::InvalidField
            | Self::MessageTooLong
            | Self::UnknownAgent
            | Self::UnknownSkill => S::BAD_REQUEST,
            Self::MissingAmount
            | Self::InvalidAmount
            | Self::AmountTooLarge
            | Self::MissingCurrency
            | Self::InvalidCurrency
            | Self::InvalidOrderId
            | Self::InvalidPriceRange
            | Self::BudgetExceeded => S::UNPROCESSABLE_ENTITY,
            Self::RateLimited => S::TOO_MANY_REQUESTS,
            Self::IdempotencyConflict | Self::OrderAlreadyPaid | Self::TaskNotCancelable => {
                S::CONFLICT
            }
            Self::Unauthenticated => S::UNAUTHORIZED,
            Self::Forbidden => S::FORBIDDEN,
            Self::NotFound => S::NOT_FOUND,
            Self::MethodNotAllowed => S::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => S::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => S::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType => S::UNSUPPORTED_MEDIA_TYPE,
            Self::ModeNotAvailable => S::NOT_IMPLEMENTED,
            Self::UpstreamError => S::BAD_GATEWAY,
            Self::Unavailable | Self::Overloaded | Self::CircuitOpen => S::SERVICE_UNAVAILABLE,
            Self::DeadlineExceeded => S::GATEWAY_TIMEOUT,
            Self::DeadLettered | Self::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC code a status carrying this code has.
    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code as C;
        match self {
            Self::InvalidRequest
            | Self::InvalidJson
            | Self::MissingField
            | Self::EmptyField
            | Self::InvalidField
            | Self::MessageTooLong
            | Self::MissingAmount
            | Self::InvalidAmount
            | Self::AmountTooLarge
            | Self::MissingCurrency
            | Self::InvalidCurrency
            | Self::InvalidOrderId
            | Self::InvalidPriceRange
            | Self::UnsupportedMediaType => C::InvalidArgument,
            // The caller did not finish sending its request: its own doing, like a cancellation.
            Self::RequestTimeout => C::Cancelled,
            Self::UnknownAgent | Self::UnknownSkill | Self::NotFound => C::NotFound,
            Self::IdempotencyConflict | Self::OrderAlreadyPaid => C::AlreadyExists,
            Self::TaskNotCancelable | Self::BudgetExceeded => C::FailedPrecondition,
            // The caller's own quota: never counted against the callee by a breaker.
            Self::RateLimited => C::ResourceExhausted,
            Self::Unauthenticated => C::Unauthenticated,
            Self::Forbidden => C::PermissionDenied,
            Self::DeadLettered => C::Aborted,
            Self::PayloadTooLarge | Self::Overloaded => C::ResourceExhausted,
            Self::ModeNotAvailable | Self::MethodNotAllowed => C::Unimplemented,
            Self::Unavailable | Self::CircuitOpen => C::Unavailable,
            Self::DeadlineExceeded => C::DeadlineExceeded,
            Self::UpstreamError => C::Unknown,
            Self::Internal => C::Internal,
        }
    }

    /// Whether the caller's request was at fault (a 4xx), as opposed to a failure on our side.
    pub fn is_client_error(self) -> bool {
        self.http_status().is_client_error()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.wire_name())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::from_wire_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_are_unique() {
        let mut names = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_wire_name(code.wire_name()), Some(*code));
            assert!(names.insert(code.wire_name()), "{code:?} named twice");
        }
        assert_eq!(ErrorCode::InvalidAmount.wire_name(), "invalid_amount");
        assert_eq!(ErrorCode::from_wire_name("no_such_code"), None);
    }

    #[test]
    fn every_code_has_a_client_or_server_status() {
        for code in ErrorCode::ALL {
            let s = code.http_status().as_u16();
            assert!((400..600).contains(&s), "{code:?} → {s}");
        }
        assert!(ErrorCode::InvalidAmount.is_client_error());
        assert!(!ErrorCode::Unavailable.is_client_error());
    }
}

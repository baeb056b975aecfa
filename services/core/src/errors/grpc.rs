//! [`AgentError`] ⇄ [`tonic::Status`]: the stable code travels as a `google.rpc.ErrorInfo`
//! (`domain = "intentmesh"`, `reason` = the snake-case code, `metadata` = the details).

use std::collections::HashMap;

use intentmesh_proto::ERROR_DOMAIN;
use tonic_types::{ErrorDetails, StatusExt};

use super::{AgentError, ErrorCode, ErrorCodeExt};

impl From<AgentError> for tonic::Status {
    fn from(err: AgentError) -> Self {
        let metadata: HashMap<String, String> = err.details.into_iter().collect();
        tonic::Status::with_error_details(
            err.code.grpc_code(),
            err.message,
            ErrorDetails::with_error_info(err.code.wire_name(), ERROR_DOMAIN, metadata),
        )
    }
}

impl AgentError {
    /// Whether a status was made by an IntentMesh service (it carries our `ErrorInfo`), as opposed
    /// to a transport failure or a foreign server.
    pub fn is_ours(status: &tonic::Status) -> bool {
        status
            .get_error_details()
            .error_info()
            .is_some_and(|i| i.domain == ERROR_DOMAIN)
    }
}

impl From<&tonic::Status> for AgentError {
    /// Reads our `ErrorInfo` back; a status without one (from a proxy, a transport failure or a
    /// foreign server) is classified by its gRPC code.
    fn from(status: &tonic::Status) -> Self {
        let details = status.get_error_details();
        if let Some(info) = details.error_info().filter(|i| i.domain == ERROR_DOMAIN)
            && let Some(code) = ErrorCode::from_wire_name(&info.reason)
        {
            return Self {
                code,
                message: status.message().to_owned(),
                details: info.metadata.clone().into_iter().collect(),
            };
        }
        let code = match status.code() {
            tonic::Code::Unavailable => ErrorCode::Unavailable,
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => ErrorCode::DeadlineExceeded,
            tonic::Code::ResourceExhausted => ErrorCode::Overloaded,
            tonic::Code::Unimplemented => ErrorCode::ModeNotAvailable,
            tonic::Code::InvalidArgument => ErrorCode::InvalidRequest,
            tonic::Code::NotFound => ErrorCode::NotFound,
            _ => ErrorCode::UpstreamError,
        };
        let message = match code {
            ErrorCode::Unavailable => "a downstream service is unavailable".to_owned(),
            ErrorCode::DeadlineExceeded => "the request ran out of time downstream".to_owned(),
            ErrorCode::Overloaded => "a downstream service is overloaded".to_owned(),
            _ => status.message().to_owned(),
        };
        Self::new(code, message).with("grpc_code", format!("{:?}", status.code()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_details_survive_a_status_round_trip() {
        let err = AgentError::new(ErrorCode::AmountTooLarge, "too much").with("max", "1000000");
        let status = tonic::Status::from(err.clone());
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(AgentError::from(&status), err);
    }

    #[test]
    fn foreign_statuses_are_classified_by_grpc_code() {
        let err = AgentError::from(&tonic::Status::unavailable("connection refused"));
        assert_eq!(err.code, ErrorCode::Unavailable);
        let err = AgentError::from(&tonic::Status::internal("boom"));
        assert_eq!(err.code, ErrorCode::UpstreamError);
    }

    #[test]
    fn every_code_has_a_client_or_server_status() {
        for code in [
            ErrorCode::InvalidJson,
            ErrorCode::InvalidAmount,
            ErrorCode::OrderAlreadyPaid,
            ErrorCode::Unavailable,
        ] {
            let s = code.http_status().as_u16();
            assert!((400..600).contains(&s), "{code:?} → {s}");
        }
    }
}

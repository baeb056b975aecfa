//! [`AgentError`] ⇄ [`tonic::Status`], in one place: the stable code travels as a
//! `google.rpc.ErrorInfo` (`domain = "intentmesh"`, `reason` = the snake-case code, `metadata` =
//! the details, plus `retry_after_secs` when the caller is told when to try again).

use std::{collections::HashMap, time::Duration};

use tonic_types::{ErrorDetails, StatusExt};

use super::{AgentError, ErrorCode};

/// The domain of the `google.rpc.ErrorInfo` that carries an [`ErrorCode`].
pub const ERROR_DOMAIN: &str = "intentmesh";

/// The detail that carries [`AgentError::retry_after`] on the wire (and in the JSON envelope).
pub const RETRY_AFTER_SECS: &str = "retry_after_secs";

/// Whole seconds to wait, at least one.
pub fn retry_after_secs(after: Duration) -> u64 {
    after.as_secs().max(1)
}

impl From<AgentError> for tonic::Status {
    fn from(err: AgentError) -> Self {
        let mut metadata: HashMap<String, String> = err.details.into_iter().collect();
        if let Some(after) = err.retry_after {
            metadata.insert(
                RETRY_AFTER_SECS.to_owned(),
                retry_after_secs(after).to_string(),
            );
        }
        tonic::Status::with_error_details(
            err.code.grpc_code(),
            err.message,
            ErrorDetails::with_error_info(err.code.wire_name(), ERROR_DOMAIN, metadata),
        )
    }
}

/// A service's answer at its gRPC edge: an error is logged once, here, then becomes a status.
pub fn respond<T>(
    what: &str,
    result: Result<T, AgentError>,
) -> Result<tonic::Response<T>, tonic::Status> {
    match result {
        Ok(answer) => Ok(tonic::Response::new(answer)),
        Err(err) => {
            err.log_at_edge(what);
            Err(err.into())
        }
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
    /// Reads our `ErrorInfo` back (the error is then [`relayed`](AgentError::relayed)); a status
    /// without one (from a proxy, a transport failure or a foreign server) is classified by its
    /// gRPC code.
    fn from(status: &tonic::Status) -> Self {
        let details = status.get_error_details();
        if let Some(info) = details.error_info().filter(|i| i.domain == ERROR_DOMAIN)
            && let Some(code) = ErrorCode::from_wire_name(&info.reason)
        {
            let mut details: std::collections::BTreeMap<String, String> =
                info.metadata.clone().into_iter().collect();
            let retry_after = details
                .remove(RETRY_AFTER_SECS)
                .and_then(|s| s.parse().ok())
                .map(Duration::from_secs);
            return Self {
                details,
                retry_after,
                relayed: true,
                ..Self::new(code, status.message())
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
        Self::new(code, message)
            .with("grpc_code", format!("{:?}", status.code()))
            .caused_by(status.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_details_and_retry_after_survive_a_status_round_trip() {
        let err = AgentError::new(ErrorCode::AmountTooLarge, "too much").with("max", "1000000");
        let status = tonic::Status::from(err.clone());
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let back = AgentError::from(&status);
        assert_eq!(back, err);
        assert!(back.relayed);

        let open = AgentError::new(ErrorCode::CircuitOpen, "paused")
            .retry_after(Duration::from_millis(30_400));
        let back = AgentError::from(&tonic::Status::from(open));
        assert_eq!(back.retry_after, Some(Duration::from_secs(30)));
        assert!(back.details.is_empty());
    }

    #[test]
    fn foreign_statuses_are_classified_by_grpc_code() {
        let err = AgentError::from(&tonic::Status::unavailable("connection refused"));
        assert_eq!(err.code, ErrorCode::Unavailable);
        assert!(!err.relayed);
        assert!(err.chain().to_string().contains("connection refused"));
        let err = AgentError::from(&tonic::Status::internal("boom"));
        assert_eq!(err.code, ErrorCode::UpstreamError);
    }
}

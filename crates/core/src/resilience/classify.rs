//! What a call's result says about the callee's health, for its breaker. A breaker counts only
//! the callee's ill health: unreachable, a broken connection, its own timeouts, and `Internal`,
//! `Unknown` or `DataLoss` it produced (and, from an IntentMesh service, `internal` or
//! `unavailable`: its own dependency is down). It never counts load shedding
//! (`ResourceExhausted`, `overloaded`), a caller's mistake (`InvalidArgument` and the other
//! 4xx-like codes, including a message the callee could not decode), a cancellation, or the
//! caller's own deadline running out: under load those are the caller's to handle, and counting
//! them turned a busy mesh into an open circuit for everyone.

use crate::{AgentError, ErrorCode};

use super::Outcome;

/// Metadata this side puts on a status it made because the call's deadline passed before an
/// answer came (never sent anywhere: statuses are converted before they travel on).
const CALLER_DEADLINE: &str = "x-intentmesh-caller-deadline";

/// `status`, marked as the caller's deadline running out.
pub fn caller_deadline(mut status: tonic::Status) -> tonic::Status {
    status.metadata_mut().insert(
        CALLER_DEADLINE,
        tonic::metadata::MetadataValue::from_static("1"),
    );
    status
}

/// Whether this side ended the call because its deadline passed ([`caller_deadline`]).
pub fn is_caller_deadline(status: &tonic::Status) -> bool {
    status.metadata().contains_key(CALLER_DEADLINE)
}

/// What a gRPC call's result means for its target's breaker (see the module's description).
pub fn grpc_outcome<T>(result: &Result<T, tonic::Status>) -> Outcome {
    let status = match result {
        Ok(_) => return Outcome::Success,
        Err(status) => status,
    };
    if is_caller_deadline(status) {
        return Outcome::Ignored;
    }
    if AgentError::is_ours(status) {
        // An IntentMesh service answered on purpose: only its own failures count (a deadline it
        // reports is the budget it was given running out).
        return match AgentError::from(status).code {
            ErrorCode::Internal | ErrorCode::Unavailable => Outcome::Failure,
            _ => Outcome::Ignored,
        };
    }
    match status.code() {
        tonic::Code::Unavailable
        | tonic::Code::Internal
        | tonic::Code::Unknown
        | tonic::Code::DataLoss
        | tonic::Code::DeadlineExceeded => Outcome::Failure,
        _ => Outcome::Ignored,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn outcome(status: tonic::Status) -> Outcome {
        grpc_outcome::<()>(&Err(status))
    }

    fn ours(err: AgentError) -> tonic::Status {
        err.into()
    }

    #[test]
    fn answers_count_as_success() {
        assert_eq!(grpc_outcome::<u8>(&Ok(1)), Outcome::Success);
    }

    /// Unreachable, a reset connection, the callee's own timeouts and its own failures.
    #[test]
    fn the_callees_ill_health_counts() {
        for code in [
            tonic::Code::Unavailable, // unreachable, connection refused or reset
            tonic::Code::Internal,
            tonic::Code::Unknown,
            tonic::Code::DataLoss,
            tonic::Code::DeadlineExceeded, // a foreign callee's (or a proxy's) own timeout
        ] {
            assert_eq!(
                outcome(tonic::Status::new(code, "x")),
                Outcome::Failure,
                "{code:?}"
            );
        }
        assert_eq!(
            outcome(ours(AgentError::internal("ledger broke"))),
            Outcome::Failure
        );
        assert_eq!(
            outcome(ours(AgentError::unavailable("the ledger is down"))),
            Outcome::Failure
        );
    }

    /// Shedding load is the callee protecting itself, not failing.
    #[test]
    fn load_shedding_does_not_count() {
        assert_eq!(
            outcome(tonic::Status::resource_exhausted("too many streams")),
            Outcome::Ignored
        );
        let overloaded =
            AgentError::new(ErrorCode::Overloaded, "busy").retry_after(Duration::from_secs(1));
        assert_eq!(outcome(ours(overloaded)), Outcome::Ignored);
        assert_eq!(
            outcome(ours(AgentError::new(
                ErrorCode::CircuitOpen,
                "its downstream is paused"
            ))),
            Outcome::Ignored
        );
    }

    /// A caller's bad input, however the callee words it, including a message it cannot decode.
    #[test]
    fn a_callers_mistakes_do_not_count() {
        for code in [
            tonic::Code::InvalidArgument,
            tonic::Code::NotFound,
            tonic::Code::AlreadyExists,
            tonic::Code::FailedPrecondition,
            tonic::Code::OutOfRange,
            tonic::Code::Unimplemented,
            tonic::Code::PermissionDenied,
            tonic::Code::Unauthenticated,
        ] {
            assert_eq!(
                outcome(tonic::Status::new(code, "x")),
                Outcome::Ignored,
                "{code:?}"
            );
        }
        assert_eq!(
            outcome(ours(AgentError::new(ErrorCode::InvalidAmount, "no"))),
            Outcome::Ignored
        );
    }

    /// The caller gave up (cancelled), or its own deadline ran out.
    #[test]
    fn the_callers_cancellation_and_deadline_do_not_count() {
        assert_eq!(outcome(tonic::Status::cancelled("gone")), Outcome::Ignored);
        assert_eq!(
            outcome(caller_deadline(tonic::Status::deadline_exceeded("late"))),
            Outcome::Ignored
        );
        // A callee that reports the budget it was given ran out (payment's minimum budget).
        assert_eq!(
            outcome(ours(AgentError::new(
                ErrorCode::DeadlineExceeded,
                "too little time"
            ))),
            Outcome::Ignored
        );
    }

    #[test]
    fn the_mark_is_seen_only_where_it_was_put() {
        let status = tonic::Status::deadline_exceeded("late");
        assert!(!is_caller_deadline(&status));
        assert!(is_caller_deadline(&caller_deadline(status)));
    }
}

//! Resilience: a circuit breaker per downstream target. Retries and deadlines are layers of the
//! outbound stack (`crate::client`), which puts the breaker between them.

pub mod admission;
pub mod circuit_breaker;
pub mod classify;

pub use admission::{
    Admission, AdmissionConfig, AdmissionLayer, AdmissionPolicy, Admit, Overloaded, Ticket, Turn,
};
pub use circuit_breaker::{
    BreakerConfig, BreakerConfigs, BreakerError, BreakerState, CircuitBreaker, CircuitBreakerLayer,
    Classify, Outcome, Permit,
};
pub use classify::{caller_deadline, grpc_outcome, is_caller_deadline};

//! Resilience: a circuit breaker per downstream target. Retries and deadlines are layers of the
//! outbound stack (`crate::client`), which puts the breaker between them.

pub mod circuit_breaker;

pub use circuit_breaker::{
    BreakerConfig, BreakerConfigs, BreakerError, BreakerState, CircuitBreaker, CircuitBreakerLayer,
    Classify, Outcome, Permit, grpc_outcome,
};

//! Resilience: circuit breakers per downstream target (retries and deadlines live with the calls
//! that use them).

pub mod circuit_breaker;

pub use circuit_breaker::{
    BreakerConfig, BreakerConfigs, BreakerError, BreakerState, CircuitBreaker, CircuitBreakerLayer,
    Classify, Outcome, Permit, grpc_outcome,
};

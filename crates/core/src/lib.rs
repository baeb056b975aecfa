//! What every IntentMesh service shares: configuration, errors and their wire mappings, money and
//! the agent contract in Rust terms, serving (gRPC + HTTP on one port), outbound call stacks,
//! metrics, deadlines, telemetry, resilience and shutdown. See docs/ARCHITECTURE.md.

pub mod agent;
pub mod client;
pub mod config;
pub mod deadline;
pub mod errors;
pub mod metrics;
pub mod money;
pub mod propagation;
pub mod resilience;
pub mod serve;
pub mod shutdown;
pub mod telemetry;

pub use errors::{AgentError, ErrorCode};

/// The version every service reports in `/health` and `Describe`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Milliseconds since the Unix epoch: the one wall clock tasks, events and conversations use.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(feature = "test-util")]
pub mod test_util;

//! Shared building blocks of every IntentMesh service: configuration, errors and their wire
//! mappings, money, serving (gRPC + HTTP on one port), metrics, deadlines, telemetry, shutdown,
//! and asynchronous work (tasks, their ports and adapters).

pub mod adapters;
pub mod client;
pub mod config;
pub mod deadline;
pub mod errors;
pub mod metrics;
pub mod money;
pub mod ports;
pub mod propagation;
pub mod resilience;
pub mod serve;
pub mod shutdown;
pub mod tasks;
pub mod telemetry;

pub use errors::{AgentError, ErrorCodeExt};
pub use intentmesh_proto::pb::ErrorCode;

/// The version every service reports in `/health` and `Describe`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(feature = "test-util")]
pub mod test_util;

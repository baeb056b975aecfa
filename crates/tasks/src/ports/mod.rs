//! Ports: object-safe traits named for their role — the work queues ([`Broker`]), the task
//! records ([`TaskStore`]) and the lifecycle events ([`EventLog`]). Each has an in-memory adapter
//! (for `make run`) and a real one (RabbitMQ, Redis), and one contract suite in `tests/` run
//! against both.

mod broker;
mod event_log;
mod task_store;

use std::sync::Arc;

pub use broker::{Broker, BrokerError, DeadLetter, Delivery, DeliveryStream, QueueDepth, Settle};
pub use event_log::{EventLog, EventLogError, EventStream};
pub use task_store::{Created, StoreError, TaskStore};

use crate::settings::{RetryPolicy, WorkerConfig};

/// What an adapter failed on, kept as the error's source.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// The three ports asynchronous work needs, shared by every service of one process, with the
/// settings of the workers that drain them.
#[derive(Debug, Clone)]
pub struct TaskPorts {
    pub broker: Arc<dyn Broker>,
    pub store: Arc<dyn TaskStore>,
    pub events: Arc<dyn EventLog>,
    pub retry: RetryPolicy,
    pub worker: WorkerConfig,
    /// The service's Redis connections when the store is Redis, for its other Redis adapters (the
    /// root's conversations and classification cache): one pool per service.
    pub redis: Option<fred::prelude::Pool>,
}

impl TaskPorts {
    /// Whether the broker and the store answer, for a service's ready check.
    pub async fn ready(&self) -> Result<(), String> {
        if !self.broker.ready().await {
            Err("RabbitMQ is unreachable".to_owned())
        } else if !self.store.ready().await {
            Err("Redis is unreachable".to_owned())
        } else {
            Ok(())
        }
    }

    /// The ready check of a service that uses these ports.
    pub fn ready_check(&self) -> intentmesh_core::serve::ReadyCheck {
        let ports = self.clone();
        Arc::new(move || {
            let ports = ports.clone();
            Box::pin(async move { ports.ready().await })
        })
    }
}

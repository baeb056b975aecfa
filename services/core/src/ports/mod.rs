//! Ports: object-safe traits named for their role. Each has an in-memory adapter (for `make run`)
//! and a real one (RabbitMQ, Redis), and one contract suite in `core/tests/` run against both.

mod broker;
mod event_log;
mod routing;
mod task_store;

pub use broker::{Broker, BrokerError, DeadLetter, Delivery, DeliveryStream, QueueDepth, Settle};
pub use event_log::{EventLog, EventLogError, EventStream};
pub use routing::{Conversations, RouteCache, StateError};
pub use task_store::{Created, StoreError, TaskStore};

//! Asynchronous work: the task model, the ports it goes through (work queues, task records,
//! lifecycle events) and their adapters (RabbitMQ, Redis, memory), the worker that drains an
//! agent's queue, and the dispatch that queues work. See docs/ARCHITECTURE.md.
//!
//! A task moves `queued → working → success | failed`, or `queued → canceled`. Every change is an
//! atomic compare-and-set in the [`TaskStore`](ports::TaskStore), so a finished task never goes
//! back to `working`. The one way out of `failed` is an operator's replay of its dead letter
//! (`intentmesh dlq replay`), which reopens it as `queued`.
//!
//! Modules depend one way: `settings`, `model` ← `ports` ← (`worker`, `dispatch`, `follow`,
//! `adapters`) ← `config` (which picks the adapters).

pub mod adapters;
mod config;
mod dispatch;
mod follow;
mod metrics;
pub mod model;
pub mod ports;
mod settings;
mod worker;

#[cfg(feature = "test-util")]
pub mod test_util;

pub use config::{AsyncConfig, PortsError};
pub use dispatch::{Enqueued, enqueue};
pub use follow::wait_for_end;
pub use metrics::TaskMetrics;
pub use model::{
    EventKind, NewTask, TaskEvent, TaskId, TaskMessage, TaskRecord, TaskState, Transition,
    TransitionOutcome,
};
pub use ports::TaskPorts;
pub use settings::{RetryPolicy, WorkerConfig};
pub use worker::{TaskHandler, Worker, attach_worker};

//! Asynchronous work: the task model shared by every service, the retry policy, the worker loop
//! that drains an agent's queue, and the dispatch that queues work.
//!
//! A task moves `queued → working → success | failed`, or `queued → canceled`. Every change is an
//! atomic compare-and-set in the [`TaskStore`](crate::ports::TaskStore), so a finished task never
//! goes back to `working`. The one way out of `failed` is an operator's replay of its dead letter
//! (`intentmesh dlq replay`), which reopens it as `queued`.

mod config;
mod dispatch;
mod model;
mod retry;
mod serve;
mod worker;

pub use config::{AsyncConfig, PortsError, TaskPorts};
pub use dispatch::{Enqueued, enqueue};
pub use model::{
    EventKind, NewTask, TaskEvent, TaskId, TaskMessage, TaskRecord, TaskState, Transition,
    TransitionOutcome, now_millis,
};
pub use retry::RetryPolicy;
pub use serve::ready;
pub(crate) use serve::serve_with_worker;
pub use worker::{AgentHandler, TaskHandler, Worker, WorkerConfig};

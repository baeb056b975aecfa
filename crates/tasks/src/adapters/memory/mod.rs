//! In-memory adapters for one process (`make run`): the same semantics as the real ones — atomic
//! transitions, confirmed publishes, retries with backoff, a dead-letter queue, replayable events
//! — minus durability.

mod broker;
mod event_log;
mod task_store;

pub use broker::MemoryBroker;
pub use event_log::MemoryEventLog;
pub use task_store::MemoryTaskStore;

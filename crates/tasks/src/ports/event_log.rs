//! The append-only log of task lifecycle events (a RabbitMQ stream; memory when embedded).

use std::{fmt, pin::Pin};

use async_trait::async_trait;
use futures::Stream;

use super::Cause;
use crate::model::TaskEvent;

#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    #[error("the task event log is unavailable ({doing})")]
    Unavailable {
        doing: &'static str,
        #[source]
        source: Cause,
    },
}

impl EventLogError {
    pub fn unavailable(doing: &'static str, source: impl Into<Cause>) -> Self {
        Self::Unavailable {
            doing,
            source: source.into(),
        }
    }
}

/// A task's events: its history first, then live ones. It does not end by itself; readers stop
/// at a terminal event. The same event may come twice (see [`TaskEvent`]).
pub type EventStream = Pin<Box<dyn Stream<Item = Result<TaskEvent, EventLogError>> + Send>>;

#[async_trait]
pub trait EventLog: Send + Sync + fmt::Debug {
    /// Appends one event; returns once the log has it durably.
    async fn append(&self, event: &TaskEvent) -> Result<(), EventLogError>;

    /// Follows one task's events, starting with those at or after `since` (ms since the epoch).
    async fn subscribe(&self, task_id: &str, since: i64) -> Result<EventStream, EventLogError>;

    async fn ready(&self) -> bool;
}

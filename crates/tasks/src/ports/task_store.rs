//! Where task records and results live (Redis; memory when embedded).

use std::fmt;

use async_trait::async_trait;

use super::Cause;
use crate::model::{NewTask, TaskRecord, Transition, TransitionOutcome};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the task store is unavailable")]
    Unavailable(#[source] Cause),
    /// A stored task could not be read (`what` names the field).
    #[error("a stored task could not be read: {what}")]
    Corrupt {
        what: String,
        #[source]
        source: Option<Cause>,
    },
}

impl StoreError {
    pub fn corrupt(what: impl Into<String>) -> Self {
        Self::Corrupt {
            what: what.into(),
            source: None,
        }
    }
}

/// What [`TaskStore::create`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    New(TaskRecord),
    /// A task with the same dedupe key exists already: this one.
    Existing(TaskRecord),
}

#[async_trait]
pub trait TaskStore: Send + Sync + fmt::Debug {
    /// Stores a new `queued` task, unless its dedupe key names one already.
    async fn create(&self, task: NewTask) -> Result<Created, StoreError>;

    async fn get(&self, id: &str) -> Result<Option<TaskRecord>, StoreError>;

    /// Changes a task's state atomically, only from one of `transition.from`. Terminal states
    /// start the result's time to live.
    async fn transition(
        &self,
        id: &str,
        transition: Transition,
    ) -> Result<TransitionOutcome, StoreError>;

    /// Forgets a task that could not be queued (and its dedupe key).
    async fn remove(&self, id: &str) -> Result<(), StoreError>;

    async fn ready(&self) -> bool;
}

//! Waiting for a task to finish (`Prefer: wait=N`): follow its lifecycle events to the terminal
//! one, then read the result from the store — no polling.

use std::time::Duration;

use futures::StreamExt;
use intentmesh_core::errors::Chain;

use crate::{
    model::{TaskId, TaskRecord},
    ports::TaskPorts,
};

/// The task once it has finished, if it does within `wait`; `None` otherwise (and when the
/// store cannot say: the caller answers with the task to follow instead).
pub async fn wait_for_end(ports: &TaskPorts, id: &TaskId, wait: Duration) -> Option<TaskRecord> {
    let record = match ports.store.get(id.as_str()).await {
        Ok(Some(record)) => record,
        Ok(None) => return None,
        Err(err) => {
            tracing::debug!(task_id = %id, error = %Chain::of(&err), "cannot read a task to wait for");
            return None;
        }
    };
    if record.state.is_terminal() {
        return Some(record);
    }
    let ended = tokio::time::timeout(wait, async {
        // From the task's creation: an event appended before this subscription is in the history.
        let mut events = match ports.events.subscribe(id.as_str(), record.created_at).await {
            Ok(events) => events,
            Err(err) => {
                tracing::debug!(task_id = %id, error = %Chain::of(&err), "cannot follow a task's events");
                return false;
            }
        };
        while let Some(event) = events.next().await {
            match event {
                Ok(event) if event.kind.is_terminal() => return true,
                Ok(_) => {}
                Err(err) => {
                    tracing::debug!(task_id = %id, error = %Chain::of(&err), "lost a task's events");
                    return false;
                }
            }
        }
        false
    })
    .await;
    if !matches!(ended, Ok(true)) {
        return None;
    }
    match ports.store.get(id.as_str()).await {
        Ok(Some(record)) if record.state.is_terminal() => Some(record),
        _ => None,
    }
}

//! Waiting for a task to finish (`Prefer: wait=N`): follow its lifecycle events to the terminal
//! one, then read the result from the store. The store is also looked at every second (and
//! every 250 ms once the log has failed), so a terminal event the log lost, or a log that is
//! down, costs at most that much, never the whole wait.

use std::time::Duration;

use futures::{StreamExt, stream};
use intentmesh_core::errors::Chain;
use tokio::time::Instant;

use crate::{
    model::{TaskId, TaskRecord},
    ports::{EventStream, TaskPorts},
};

/// How often the store is read while the events answer.
const CHECK: Duration = Duration::from_secs(1);
/// How often once they do not.
const POLL: Duration = Duration::from_millis(250);

/// The task once it has finished, if it does within `wait`; `None` otherwise (and when the
/// store cannot say: the caller answers with the task to follow instead).
pub async fn wait_for_end(ports: &TaskPorts, id: &TaskId, wait: Duration) -> Option<TaskRecord> {
    tokio::time::timeout(wait, follow(ports, id))
        .await
        .ok()
        .flatten()
}

/// The task's terminal record, or `None` when it does not exist.
async fn finished(ports: &TaskPorts, id: &TaskId) -> Result<Option<TaskRecord>, ()> {
    match ports.store.get(id.as_str()).await {
        Ok(Some(record)) if record.state.is_terminal() => Ok(Some(record)),
        Ok(Some(_)) => Err(()),
        Ok(None) => Ok(None),
        Err(err) => {
            tracing::debug!(task_id = %id, error = %Chain::of(&err), "cannot read a task to wait for");
            Err(())
        }
    }
}

async fn follow(ports: &TaskPorts, id: &TaskId) -> Option<TaskRecord> {
    let mut every = CHECK;
    let mut events: EventStream = match ports.store.get(id.as_str()).await {
        Ok(Some(record)) if record.state.is_terminal() => return Some(record),
        Ok(None) => return None,
        // From the task's creation: an event appended before this subscription is in the
        // history.
        Ok(Some(record)) => match ports.events.subscribe(id.as_str(), record.created_at).await {
            Ok(events) => events,
            Err(err) => {
                tracing::debug!(task_id = %id, error = %Chain::of(&err), "cannot follow a task's events; polling");
                every = POLL;
                Box::pin(stream::pending())
            }
        },
        // The store may come back within the wait.
        Err(_) => {
            every = POLL;
            Box::pin(stream::pending())
        }
    };
    let mut next_check = Instant::now() + every;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) if event.kind.is_terminal() => {
                    if let Ok(record) = finished(ports, id).await {
                        return record;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    tracing::debug!(task_id = %id, error = %Chain::of(&err), "lost a task's events; polling");
                    events = Box::pin(stream::pending());
                    every = POLL;
                }
                None => {
                    events = Box::pin(stream::pending());
                    every = POLL;
                }
            },
            () = tokio::time::sleep_until(next_check) => {
                if let Ok(record) = finished(ports, id).await {
                    return record;
                }
                next_check = Instant::now() + every;
            }
        }
    }
}

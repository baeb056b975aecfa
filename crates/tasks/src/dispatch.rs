//! Queuing work: a task record, its `queued` event, then the message — and an answer only once
//! the broker has confirmed it.

use intentmesh_core::{AgentError, agent::AgentRequest};

use crate::{
    model::{NewTask, TaskEvent, TaskId, TaskMessage, TaskRecord},
    ports::{Created, TaskPorts},
};

/// A queued task, or the one an earlier request with the same idempotency key queued.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub task: TaskRecord,
    pub duplicate: bool,
}

/// Queues `request` for `agent`. With an idempotency key, a repeat of the same request (same
/// user and key) returns the first task instead of queuing another.
pub async fn enqueue(
    ports: &TaskPorts,
    agent: &str,
    request: AgentRequest,
) -> Result<Enqueued, AgentError> {
    let dedupe_key = request
        .idempotency_key
        .as_ref()
        .map(|key| format!("{}\u{1f}{key}", request.user_id));
    let new = NewTask {
        id: TaskId::generate(),
        agent: agent.to_owned(),
        skill: request.skill.clone().unwrap_or_default(),
        request_id: request.request_id.clone(),
        user_id: request.user_id.clone(),
        dedupe_key,
    };
    let task = match ports.store.create(new).await {
        Ok(Created::New(task)) => task,
        Ok(Created::Existing(task)) => {
            return Ok(Enqueued {
                task,
                duplicate: true,
            });
        }
        Err(err) => {
            return Err(AgentError::unavailable(
                "the task store is unavailable; nothing was queued",
            )
            .caused_by(err));
        }
    };
    // The `queued` event goes first, so a reader never sees `working` before it.
    if let Err(err) = ports.events.append(&TaskEvent::of(&task)).await {
        let err = intentmesh_core::errors::Chain::of(&err);
        tracing::warn!(task_id = %task.id, error = %err, "could not record the queued event");
    }
    let message = TaskMessage::new(task.id.clone(), agent, request);
    if let Err(err) = ports.broker.publish(&message).await {
        // Not confirmed: the task was never queued, so it must not exist either.
        if let Err(cleanup) = ports.store.remove(task.id.as_str()).await {
            let cleanup = intentmesh_core::errors::Chain::of(&cleanup);
            tracing::warn!(task_id = %task.id, error = %cleanup, "could not remove an unqueued task");
        }
        return Err(
            AgentError::unavailable("the task queue is unavailable; nothing was queued")
                .caused_by(err),
        );
    }
    Ok(Enqueued {
        task,
        duplicate: false,
    })
}

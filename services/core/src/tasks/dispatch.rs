//! Queuing work: a task record, its `queued` event, then the message — and an answer only once
//! the broker has confirmed it.

use intentmesh_proto::pb;

use super::{NewTask, TaskEvent, TaskId, TaskMessage, TaskPorts, TaskRecord};
use crate::{AgentError, ports::Created};

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
    request: pb::ProcessRequest,
) -> Result<Enqueued, AgentError> {
    let dedupe_key = (!request.idempotency_key.is_empty())
        .then(|| format!("{}\u{1f}{}", request.user_id, request.idempotency_key));
    let new = NewTask {
        id: TaskId::generate(),
        agent: agent.to_owned(),
        skill: request.skill.clone(),
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
            tracing::warn!(%err, "cannot create a task");
            return Err(AgentError::unavailable(
                "the task store is unavailable; nothing was queued",
            ));
        }
    };
    // The `queued` event goes first, so a reader never sees `working` before it.
    if let Err(err) = ports.events.append(&TaskEvent::of(&task)).await {
        tracing::warn!(task_id = %task.id, %err, "could not record the queued event");
    }
    let message = TaskMessage::new(pb::TaskEnvelope {
        task_id: task.id.to_string(),
        agent: agent.to_owned(),
        request: Some(request),
    });
    if let Err(err) = ports.broker.publish(&message).await {
        // Not confirmed: the task was never queued, so it must not exist either.
        if let Err(cleanup) = ports.store.remove(task.id.as_str()).await {
            tracing::warn!(task_id = %task.id, %cleanup, "could not remove an unqueued task");
        }
        tracing::warn!(task_id = %task.id, %err, "the broker did not take a task");
        return Err(AgentError::unavailable(
            "the task queue is unavailable; nothing was queued",
        ));
    }
    Ok(Enqueued {
        task,
        duplicate: false,
    })
}

//! The task API: `GET /tasks/{id}`, `GET /tasks/{id}/events` (Server-Sent Events until the task
//! finishes) and `POST /tasks/{id}/cancel`.

use std::{collections::HashSet, convert::Infallible, time::Duration};

use axum::{
    Json,
    extract::{Path, State},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::{Stream, StreamExt, stream};
use intentmesh_core::{AgentError, ErrorCode, agent::Reply, errors::Chain};
use intentmesh_tasks::{
    EventKind, TaskEvent, TaskId, TaskPorts, TaskRecord, TaskState, Transition, TransitionOutcome,
    ports::EventStream,
};

use crate::{
    AppState,
    api::{ErrorEnvelope, TaskView},
    auth::Caller,
    convert,
    error::ApiError,
};

/// A finished task's reply, or the error it ended with (canceled: `task_not_cancelable`), as the
/// same request would have been answered synchronously.
pub(crate) fn finished(task: &TaskRecord) -> Result<Option<&Reply>, ApiError> {
    match (task.state, &task.error) {
        (TaskState::Success, _) => Ok(task.result.as_ref()),
        (_, Some(err)) => {
            let mut err = err.clone();
            // The worker logged it when the task failed.
            err.relayed = true;
            Err(ApiError(err).with("task_id", &task.id))
        }
        _ => Err(
            ApiError::new(ErrorCode::TaskNotCancelable, "the task was canceled")
                .with("task_id", &task.id),
        ),
    }
}

fn ports(state: &AppState) -> Result<&TaskPorts, ApiError> {
    state.tasks.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::ModeNotAvailable,
            "asynchronous processing is off: the gateway has no RabbitMQ and Redis (RABBITMQ_URL, REDIS_URL)",
        )
    })
}

fn unknown(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "no such task (unknown, or its result expired)",
    )
    .with("task_id", id.chars().take(64).collect::<String>())
}

/// A task backend (store or event log) that failed: `503 unavailable` for the client, with the
/// cause kept for the one log line.
fn backend_down(what: &str, err: impl std::error::Error + Send + Sync + 'static) -> ApiError {
    ApiError(AgentError::unavailable(format!("the {what} is unavailable")).caused_by(err))
}

/// The task `id` when `caller` may see it: its owner, or a caller that may act as anyone.
/// Anyone else is told it does not exist, as for an unknown id.
async fn load(ports: &TaskPorts, caller: &Caller, id: &str) -> Result<TaskRecord, ApiError> {
    let Some(id) = TaskId::parse(id) else {
        return Err(unknown(id));
    };
    match ports.store.get(id.as_str()).await {
        Ok(Some(task)) if caller.may_act_as(&task.user_id) => Ok(task),
        Ok(Some(_)) => Err(unknown(id.as_str())),
        Ok(None) => Err(unknown(id.as_str())),
        Err(err) => Err(backend_down("task store", err)),
    }
}

/// A task: its state, and its result or error once it has finished.
#[utoipa::path(
    get,
    path = "/tasks/{id}",
    tag = "tasks",
    params(("id" = String, Path, description = "The task id (`task_` and 32 hex digits)")),
    responses(
        (status = 200, description = "The task", body = TaskView),
        (status = 401, description = "No valid credentials (with `AUTH_MODE` on)", body = ErrorEnvelope),
        (status = 429, description = "The caller's rate limit (`rate_limited`); see `Retry-After`", body = ErrorEnvelope),
        (status = 404, description = "Unknown, its result expired, or another user's", body = ErrorEnvelope),
        (status = 501, description = "Asynchronous processing is off", body = ErrorEnvelope),
        (status = 503, description = "The task store is unavailable, or the gateway is at capacity (`overloaded`)", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn get_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TaskView>, ApiError> {
    let ports = ports(&state)?;
    Ok(Json(convert::task_view(&load(ports, &caller, &id).await?)))
}

/// Cancels a task that has not started.
#[utoipa::path(
    post,
    path = "/tasks/{id}/cancel",
    tag = "tasks",
    params(("id" = String, Path, description = "The task id")),
    responses(
        (status = 200, description = "Canceled (also when it was already)", body = TaskView),
        (status = 401, description = "No valid credentials (with `AUTH_MODE` on)", body = ErrorEnvelope),
        (status = 429, description = "The caller's rate limit (`rate_limited`); see `Retry-After`", body = ErrorEnvelope),
        (status = 404, description = "Unknown, its result expired, or another user's", body = ErrorEnvelope),
        (status = 409, description = "It has started or finished", body = ErrorEnvelope),
        (status = 503, description = "The task store is unavailable, or the gateway is at capacity (`overloaded`)", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn cancel_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TaskView>, ApiError> {
    let ports = ports(&state)?;
    let task = load(ports, &caller, &id).await?;
    let outcome = ports
        .store
        .transition(
            task.id.as_str(),
            Transition::new(&[TaskState::Queued], TaskState::Canceled),
        )
        .await
        .map_err(|err| backend_down("task store", err))?;
    match outcome {
        TransitionOutcome::Applied(task) => {
            if let Err(err) = ports.events.append(&TaskEvent::of(&task)).await {
                tracing::warn!(task_id = %task.id, error = %Chain::of(&err), "could not record the canceled event");
            }
            Ok(Json(convert::task_view(&task)))
        }
        // Canceling twice is not an error.
        TransitionOutcome::Refused(task) if task.state == TaskState::Canceled => {
            Ok(Json(convert::task_view(&task)))
        }
        TransitionOutcome::Refused(task) => Err(ApiError::new(
            ErrorCode::TaskNotCancelable,
            if task.state.is_terminal() {
                format!(
                    "the task has already finished ({}); only queued tasks can be canceled",
                    task.state
                )
            } else {
                "the task has already started; only queued tasks can be canceled".to_owned()
            },
        )
        .with("task_id", &task.id)
        .with("state", task.state)),
        TransitionOutcome::Missing => Err(unknown(&id)),
    }
}

/// State of one SSE follower.
struct Follow {
    events: EventStream,
    ports: TaskPorts,
    id: String,
    seen: HashSet<(u64, EventKind)>,
    done: bool,
    /// This follower's place under `SSE_MAX_FOLLOWERS`, given back when the stream goes.
    _place: crate::followers::Place,
}

fn sse_event(event: &TaskEvent) -> Event {
    Event::default()
        .event(event.kind.as_str())
        .id(event.seq.to_string())
        .json_data(convert::event(event))
        .unwrap_or_else(|_| Event::default().event(event.kind.as_str()))
}

/// The task's events, each once, ending after the terminal one. The store is checked every
/// second, so a terminal state whose event the log lost still ends the stream, and so does the
/// record expiring. A client that leaves drops the stream, and with it the subscription.
fn follow(f: Follow) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(f, |mut f| async move {
        if f.done {
            return None;
        }
        loop {
            let next = tokio::select! {
                next = f.events.next() => next,
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    match f.ports.store.get(&f.id).await {
                        Ok(Some(task)) if task.state.is_terminal() => Some(Ok(TaskEvent::of(&task))),
                        // Expired: nothing more will happen to it.
                        Ok(None) => return None,
                        _ => continue,
                    }
                }
            };
            match next {
                Some(Ok(event)) => {
                    if !f.seen.insert((event.seq, event.kind)) {
                        continue;
                    }
                    f.done = event.kind.is_terminal();
                    return Some((Ok(sse_event(&event)), f));
                }
                Some(Err(err)) => {
                    // The log went away: the store still knows how the task ends.
                    tracing::warn!(task_id = %f.id, error = %Chain::of(&err), "task event log failed; following the store");
                    f.events = Box::pin(stream::pending());
                }
                None => f.events = Box::pin(stream::pending()),
            }
        }
    })
}

/// The task's lifecycle as Server-Sent Events (`event:` its kind, `data:` JSON), from its
/// history to the terminal event.
#[utoipa::path(
    get,
    path = "/tasks/{id}/events",
    tag = "tasks",
    params(("id" = String, Path, description = "The task id")),
    responses(
        (status = 200, description = "An event stream; each `data` is a task event", content_type = "text/event-stream", body = crate::api::TaskEventData),
        (status = 401, description = "No valid credentials (with `AUTH_MODE` on)", body = ErrorEnvelope),
        (status = 429, description = "The caller's rate limit (`rate_limited`); see `Retry-After`", body = ErrorEnvelope),
        (status = 404, description = "Unknown, its result expired, or another user's", body = ErrorEnvelope),
        (status = 503, description = "The task store or the event log is unavailable, or too many event streams are open (`overloaded`)", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn task_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ports = ports(&state)?.clone();
    let task = load(&ports, &caller, &id).await?;
    let place = state.followers.join(&task.user_id)?;
    let events = ports
        .events
        .subscribe(task.id.as_str(), task.created_at)
        .await
        .map_err(|err| backend_down("task event log", err))?;
    let events = follow(Follow {
        events,
        ports,
        id: task.id.to_string(),
        seen: HashSet::new(),
        done: false,
        _place: place,
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

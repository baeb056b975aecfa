//! The task API: `GET /tasks/{id}`, `GET /tasks/{id}/events` (Server-Sent Events until the task
//! finishes) and `POST /tasks/{id}/cancel`; and waiting for a queued task (`Prefer: wait=N`).

use std::{
    collections::HashSet,
    convert::Infallible,
    time::{Duration, UNIX_EPOCH},
};

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::{Stream, StreamExt, stream};
use intentmesh_core::{
    ErrorCode,
    ports::EventStream,
    tasks::{
        EventKind, TaskEvent, TaskId, TaskPorts, TaskRecord, TaskState, Transition,
        TransitionOutcome,
    },
};
use serde_json::{Value, json};

use crate::{AppState, body, convert, error::ApiError, handlers::answer};

fn time(ms: Option<i64>) -> Value {
    ms.and_then(|ms| u64::try_from(ms).ok())
        .map_or(Value::Null, |ms| {
            let at = UNIX_EPOCH + Duration::from_millis(ms);
            json!(humantime::format_rfc3339_millis(at).to_string())
        })
}

fn error_json(err: &intentmesh_core::AgentError) -> Value {
    json!({
        "code": err.code.wire_name(),
        "message": err.message,
        "details": err.details,
    })
}

/// A task as `GET /tasks/{id}` shows it.
pub(crate) fn task_json(task: &TaskRecord) -> Value {
    let data = match (&task.state, &task.result) {
        (TaskState::Success, Some(r)) => convert::result_data(r.result.as_ref()),
        _ => Value::Null,
    };
    json!({
        "status": task.state.as_str(),
        "task_id": task.id.as_str(),
        "agent": task.agent,
        "skill": task.skill,
        "request_id": task.request_id,
        "attempts": task.attempts,
        "created_at": time(Some(task.created_at)),
        "updated_at": time(Some(task.updated_at)),
        "started_at": time(task.started_at),
        "finished_at": time(task.finished_at),
        "data": data,
        "error": task.error.as_ref().map(error_json),
    })
}

/// A finished task answered the way the same request would have been answered synchronously.
pub(crate) fn finished_answer(task: &TaskRecord, request_id: &str) -> Result<Value, ApiError> {
    match (task.state, &task.error) {
        (TaskState::Success, _) => Ok(json!({
            "status": "success",
            "data": task.result.as_ref().map_or(Value::Null, |r| convert::result_data(r.result.as_ref())),
            "request_id": request_id,
            "agent": task.agent,
            "task_id": task.id.as_str(),
        })),
        (_, Some(err)) => Err(ApiError::from(err.clone()).with("task_id", &task.id)),
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

/// A task backend (store or event log) that failed: `503 unavailable` for the client; the cause,
/// which the answer does not carry, goes to the log.
fn backend_down(what: &str, err: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%err, "the {what} is unavailable");
    ApiError::from(intentmesh_core::AgentError::unavailable(format!(
        "the {what} is unavailable"
    )))
}

async fn load(ports: &TaskPorts, id: &str) -> Result<TaskRecord, ApiError> {
    let Some(id) = TaskId::parse(id) else {
        return Err(unknown(id));
    };
    match ports.store.get(id.as_str()).await {
        Ok(Some(task)) => Ok(task),
        Ok(None) => Err(unknown(id.as_str())),
        Err(err) => Err(backend_down("task store", err)),
    }
}

pub(crate) async fn get_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let request_id = body::request_id(&headers);
    let result = async {
        let ports = ports(&state)?;
        Ok(task_json(&load(ports, &id).await?))
    }
    .await;
    answer(result, &request_id)
}

pub(crate) async fn cancel_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let request_id = body::request_id(&headers);
    let result = async {
        let ports = ports(&state)?;
        let task = load(ports, &id).await?;
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
                    tracing::warn!(task_id = %task.id, %err, "could not record the canceled event");
                }
                Ok(task_json(&task))
            }
            // Canceling twice is not an error.
            TransitionOutcome::Refused(task) if task.state == TaskState::Canceled => {
                Ok(task_json(&task))
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
    .await;
    answer(result, &request_id)
}

/// State of one SSE follower.
struct Follow {
    events: EventStream,
    ports: TaskPorts,
    id: String,
    seen: HashSet<(u64, EventKind)>,
    done: bool,
}

fn sse_event(event: &TaskEvent) -> Event {
    Event::default()
        .event(event.kind.as_str())
        .id(event.seq.to_string())
        .json_data(event)
        .unwrap_or_else(|_| Event::default().event(event.kind.as_str()))
}

/// The task's events, each once, ending after the terminal one. The store is checked every
/// second, so a terminal state whose event the log lost still ends the stream.
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
                    tracing::warn!(task_id = %f.id, %err, "task event log failed; following the store");
                    f.events = Box::pin(stream::pending());
                }
                None => f.events = Box::pin(stream::pending()),
            }
        }
    })
}

pub(crate) async fn task_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let request_id = body::request_id(&headers);
    let result = async {
        let ports = ports(&state)?.clone();
        let task = load(&ports, &id).await?;
        let events = ports
            .events
            .subscribe(task.id.as_str(), task.created_at)
            .await
            .map_err(|err| backend_down("task event log", err))?;
        Ok(follow(Follow {
            events,
            ports,
            id: task.id.to_string(),
            seen: HashSet::new(),
            done: false,
        }))
    }
    .await;
    match result {
        Ok(events) => Sse::new(events)
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response(),
        Err(err) => answer(Err::<Value, _>(err), &request_id),
    }
}

/// Waits up to `wait` for a queued task to finish (polling the store, 20 ms growing to 250 ms).
pub(crate) async fn wait_for(ports: &TaskPorts, id: &str, wait: Duration) -> Option<TaskRecord> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(20);
    loop {
        if let Ok(Some(task)) = ports.store.get(id).await
            && task.state.is_terminal()
        {
            return Some(task);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return None;
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// The `202 Accepted` answer for a queued task.
pub(crate) fn accepted(task_id: &str, agent: &str, reason: &str, request_id: &str) -> Response {
    let mut response = (
        StatusCode::ACCEPTED,
        Json(json!({
            "status": "queued",
            "task_id": task_id,
            "request_id": request_id,
            "agent": agent,
            "reason": reason,
            "links": {
                "self": format!("/tasks/{task_id}"),
                "events": format!("/tasks/{task_id}/events"),
                "cancel": format!("/tasks/{task_id}/cancel"),
            },
        })),
    )
        .into_response();
    if let Ok(location) = axum::http::HeaderValue::from_str(&format!("/tasks/{task_id}")) {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, location);
    }
    response
}

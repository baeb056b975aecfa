//! The public HTTP API: `POST /process`, `POST /route`, `GET /health`, `GET /ready`,
//! `GET /metrics`, and JSON answers for unknown paths and methods.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use intentmesh_core::{
    ErrorCode, VERSION,
    agent::{AgentRequest, Mode, Reply},
    metrics,
    resilience::Turn,
};
use intentmesh_tasks::{TaskId, wait_for_end};
use tokio::time::Instant;

use crate::{
    AppState, SERVICE_NAME,
    api::{
        ErrorEnvelope, FinishedAnswer, Health, ProcessAnswer, ProcessOk, QueuedAnswer, Readiness,
        RouteAnswer, TaskLinks,
    },
    auth::Caller,
    convert,
    error::ApiError,
    extract::{IdempotencyKey, Prefer, ProcessBody},
    request_id::RequestId,
    tasks,
};

/// The request the root is asked, for `body` under `request_id`.
fn agent_request(
    body: ProcessBody,
    request_id: &RequestId,
    key: Option<String>,
    mode: Mode,
) -> AgentRequest {
    AgentRequest {
        request_id: request_id.to_string(),
        message: body.message,
        user_id: body.user_id,
        context: body.context,
        entities: None,
        skill: None,
        agent: body.agent,
        idempotency_key: key,
        mode,
        // Fresh for each HTTP request, whatever the client sent: a client's repeat is a new
        // attempt unless it sends an `Idempotency-Key` (or names an order).
        attempt_id: format!("{:032x}", rand::random::<u128>()),
    }
}

/// Runs a request: routed by the root agent and answered by the chosen worker, or queued as a
/// task.
#[utoipa::path(
    post,
    path = "/process",
    tag = "requests",
    request_body = crate::api::ProcessRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Repeats of a request with the same key (per user) act once"),
        ("Prefer" = Option<String>, Header, description = "`respond-async` (queue it), `wait=N` (wait up to N seconds for a queued task)"),
        ("X-Request-Id" = Option<String>, Header, description = "Carried on every hop and in the answer"),
    ),
    responses(
        (status = 200, description = "An answer (`success`), a question back (`needs_clarification`), or with `Prefer: wait` a queued task's result", body = ProcessOk),
        (status = 202, description = "Queued: follow the task", body = QueuedAnswer,
            headers(("Location" = String, description = "/tasks/{task_id}"))),
        (status = 400, description = "A malformed request", body = ErrorEnvelope),
        (status = 401, description = "No valid credentials (with `AUTH_MODE` on); see `WWW-Authenticate`", body = ErrorEnvelope),
        (status = 403, description = "`user_id` names another user (needs scope `act_as`), or `agent` is named (needs scope `route_override`)", body = ErrorEnvelope),
        (status = 409, description = "An idempotency key used for another payment, or an order already paid", body = ErrorEnvelope),
        (status = 413, description = "The body is too large", body = ErrorEnvelope),
        (status = 415, description = "The body is not JSON", body = ErrorEnvelope),
        (status = 422, description = "Entities that cannot be acted on (an amount, a currency), or a payment past the user's daily limit (`budget_exceeded`)", body = ErrorEnvelope),
        (status = 429, description = "The caller's rate limit (`rate_limited`); see `Retry-After`, `RateLimit` and `RateLimit-Policy`", body = ErrorEnvelope),
        (status = 502, description = "A downstream service answered something unusable", body = ErrorEnvelope),
        (status = 503, description = "A downstream service is unavailable or its circuit is open, or the mesh is at capacity (`overloaded`); see `Retry-After`", body = ErrorEnvelope),
        (status = 504, description = "The request ran out of time downstream", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn process(
    State(state): State<AppState>,
    request_id: RequestId,
    caller: Caller,
    prefer: Prefer,
    turn: Option<axum::Extension<Turn>>,
    key: Result<IdempotencyKey, ApiError>,
    body: ProcessBody,
) -> Result<Response, ApiError> {
    let IdempotencyKey(key) = key?;
    caller.check_body(&body.user_id, body.agent.as_deref())?;
    // `Prefer: respond-async` asks for async when the body leaves the mode open.
    let mode = if prefer.respond_async && body.mode == Mode::Auto {
        Mode::Async
    } else {
        body.mode
    };
    let request = agent_request(body, &request_id, key, mode);
    let user = request.user_id.clone();
    let deadline = Instant::now() + state.limits.request_timeout;
    let (response, route) = state.root.process(request, deadline).await?;
    if let Some(Reply::Queued(queued)) = &response.reply {
        // The work is queued: what is left is a wait, under the followers' cap, not admission.
        if let Some(axum::Extension(turn)) = turn {
            turn.release();
        }
        return Ok(queued_answer(
            &state,
            &request_id,
            prefer,
            &user,
            &queued.task_id,
            &response.agent,
            queued.reason.as_str(),
        )
        .await);
    }
    let clarification = matches!(response.reply, Some(Reply::Clarification(_)));
    Ok(Json(ProcessOk::Answer(ProcessAnswer {
        status: if clarification {
            "needs_clarification"
        } else {
            "success"
        },
        data: response.reply.map(convert::data),
        request_id: request_id.to_string(),
        agent: Some(response.agent).filter(|a| !clarification && !a.is_empty()),
        route: route.as_ref().map(convert::route_summary),
    }))
    .into_response())
}

/// A queued task: its result when the caller asked to wait (`Prefer: wait=N`) and it finished in
/// time, else `202 Accepted` with where to follow it. A wait takes a follower's place (per
/// process and per user); with none free, the preference is not honoured and the answer is the
/// `202`.
#[allow(clippy::too_many_arguments)]
async fn queued_answer(
    state: &AppState,
    request_id: &RequestId,
    prefer: Prefer,
    user: &str,
    task_id: &str,
    agent: &str,
    reason: &str,
) -> Response {
    if let (Some(wait), Some(ports), Some(id)) = (prefer.wait, &state.tasks, TaskId::parse(task_id))
        && let Ok(_place) = state.followers.join(user)
        && let Some(task) = wait_for_end(ports, &id, wait.min(state.limits.max_wait)).await
    {
        return match tasks::finished(&task) {
            Ok(reply) => Json(ProcessOk::Finished(FinishedAnswer {
                status: "success",
                data: reply.cloned().map(convert::data),
                request_id: request_id.to_string(),
                agent: task.agent.clone(),
                task_id: task.id.to_string(),
            }))
            .into_response(),
            Err(err) => err.into_response(),
        };
    }
    let location = format!("/tasks/{task_id}");
    let mut response = (
        StatusCode::ACCEPTED,
        Json(QueuedAnswer {
            status: "queued",
            task_id: task_id.to_owned(),
            request_id: request_id.to_string(),
            agent: agent.to_owned(),
            reason: reason.to_owned(),
            links: TaskLinks {
                this: location.clone(),
                events: format!("/tasks/{task_id}/events"),
                cancel: format!("/tasks/{task_id}/cancel"),
            },
        }),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if prefer.respond_async {
        response.headers_mut().insert(
            "preference-applied",
            HeaderValue::from_static("respond-async"),
        );
    }
    response
}

/// Routes a request without running it: the decision, its stage and the entities read.
#[utoipa::path(
    post,
    path = "/route",
    tag = "requests",
    request_body = crate::api::ProcessRequest,
    responses(
        (status = 200, description = "The routing decision", body = RouteAnswer),
        (status = 400, description = "A malformed request", body = ErrorEnvelope),
        (status = 401, description = "No valid credentials (with `AUTH_MODE` on); see `WWW-Authenticate`", body = ErrorEnvelope),
        (status = 403, description = "`user_id` names another user (needs scope `act_as`), or `agent` is named (needs scope `route_override`)", body = ErrorEnvelope),
        (status = 422, description = "Entities that cannot be read (a context field of the wrong type)", body = ErrorEnvelope),
        (status = 429, description = "The caller's rate limit (`rate_limited`); see `Retry-After`", body = ErrorEnvelope),
        (status = 503, description = "The root agent is unavailable or its circuit is open, or the gateway is at capacity (`overloaded`)", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn route(
    State(state): State<AppState>,
    request_id: RequestId,
    caller: Caller,
    body: ProcessBody,
) -> Result<Json<RouteAnswer>, ApiError> {
    caller.check_body(&body.user_id, body.agent.as_deref())?;
    let mode = body.mode;
    let request = agent_request(body, &request_id, None, mode);
    let deadline = Instant::now() + state.limits.request_timeout;
    let decision = state.root.route(request, deadline).await?;
    Ok(Json(convert::route_answer(decision, request_id.as_str())))
}

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "operations", security(()), responses((status = 200, description = "The gateway runs", body = Health)))]
pub(crate) async fn health() -> Json<Health> {
    Json(Health {
        status: "healthy",
        service: SERVICE_NAME,
        version: VERSION,
    })
}

fn not_ready(reason: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(Readiness {
            status: "not_ready",
            service: SERVICE_NAME,
            reason: Some(reason),
        }),
    )
        .into_response()
}

/// Ready when the root agent reports SERVING over the gRPC health protocol and, with
/// asynchronous work on, RabbitMQ and Redis answer.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Ready to take requests", body = Readiness),
        (status = 503, description = "Not ready: the reason says what is missing", body = Readiness),
    ),
)]
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    if let Some(tasks) = &state.tasks
        && let Err(reason) = tasks.ready().await
    {
        return not_ready(reason);
    }
    match state.root.serving().await {
        Ok(()) => Json(Readiness {
            status: "ready",
            service: SERVICE_NAME,
            reason: None,
        })
        .into_response(),
        Err(reason) => not_ready(reason),
    }
}

/// The gateway's Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()), responses((status = 200, description = "The metrics", content_type = "application/openmetrics-text", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.encode(),
    )
        .into_response()
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "no such endpoint; see POST /process, POST /route, GET /tasks/{id}, GET /health",
    )
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this endpoint",
    )
}

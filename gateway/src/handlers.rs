//! The public HTTP API: `POST /process`, `POST /route`, `GET /health`, `GET /ready`,
//! `GET /metrics`, and JSON answers for unknown paths and methods.

use std::time::Duration;

use axum::{
    Json,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use intentmesh_core::{
    ErrorCode, metrics,
    resilience::{CircuitBreaker, Outcome, grpc_outcome},
};
use intentmesh_proto::pb;
use serde_json::{Value, json};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use crate::{
    AppState,
    body::{self, Mode, ProcessBody},
    convert,
    error::ApiError,
    prefer::Prefer,
    tasks,
};

fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

pub(crate) fn answer(result: Result<Value, ApiError>, request_id: &str) -> Response {
    let response = match result {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(err) => err.request_id(request_id).into_response(),
    };
    with_request_id(response, request_id)
}

/// A call to the root through its breaker: refused at once while it is open; timeouts and
/// transport failures count as failures, the root's own answers (errors included) do not.
async fn guarded<T>(
    breaker: &CircuitBreaker,
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> Result<T, ApiError> {
    let permit = breaker.try_acquire().map_err(|retry_after| {
        ApiError::new(
            ErrorCode::CircuitOpen,
            "the root agent is failing; requests are paused for now",
        )
        .with("agent", "root")
        .with("retry_after_secs", retry_after.as_secs().max(1))
    })?;
    let result = call.await;
    // The root answering with an error of its own (a worker's open circuit, bad input) is the
    // root being up; only transport failures and foreign errors count against it.
    let outcome = match &result {
        Err(status) if intentmesh_core::AgentError::is_ours(status) => Outcome::Success,
        other => grpc_outcome(other),
    };
    breaker.record(permit, outcome);
    result.map_err(ApiError::from)
}

/// What `/process` produced: an answer now, or a queued task.
enum Processed {
    Answer(Value),
    Queued {
        task_id: String,
        agent: String,
        reason: String,
    },
}

fn grpc_request(
    body: ProcessBody,
    request_id: &str,
    key: Option<String>,
    mode: Mode,
    timeout: Duration,
) -> tonic::Request<pb::ProcessRequest> {
    let mut request = tonic::Request::new(pb::ProcessRequest {
        request_id: request_id.to_owned(),
        message: body.message,
        user_id: body.user_id,
        context: body.context,
        entities: None,
        skill: String::new(),
        agent: body.agent.unwrap_or_default(),
        idempotency_key: key.unwrap_or_default(),
        mode: match mode {
            Mode::Auto => pb::ExecutionMode::Unspecified,
            Mode::Sync => pb::ExecutionMode::Sync,
            Mode::Async => pb::ExecutionMode::Async,
        } as i32,
    });
    request.set_timeout(timeout);
    intentmesh_core::propagation::inject_grpc(&mut request);
    request
}

pub(crate) async fn process(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = body::request_id(&headers);
    intentmesh_core::telemetry::record_request_id(&request_id);
    let prefer = Prefer::from_headers(&headers);
    let result = async {
        let body = body::parse(&headers, raw, &state.limits)?;
        let key = body::idempotency_key(&headers)?;
        // `Prefer: respond-async` asks for async when the body leaves the mode open.
        let mode = if prefer.respond_async && body.mode == Mode::Auto {
            Mode::Async
        } else {
            body.mode
        };
        let request = grpc_request(body, &request_id, key, mode, state.limits.request_timeout);
        let response = guarded(&state.root_breaker, state.root.clone().process(request))
            .await?
            .into_inner();
        if let Some(pb::process_response::Result::Queued(queued)) = response.result {
            return Ok(Processed::Queued {
                task_id: queued.task_id,
                agent: response.agent,
                reason: queued.reason,
            });
        }
        let data = convert::result_data(response.result.as_ref());
        let clarification = matches!(
            response.result,
            Some(pb::process_response::Result::Clarification(_))
        );
        Ok(Processed::Answer(json!({
            "status": if clarification { "needs_clarification" } else { "success" },
            "data": data,
            "request_id": request_id,
            "agent": Some(&response.agent).filter(|a| !clarification && !a.is_empty()),
            "route": convert::route_summary(response.route.as_ref()),
        })))
    }
    .await;
    match result {
        Ok(Processed::Answer(body)) => answer(Ok(body), &request_id),
        Err(err) => answer(Err(err), &request_id),
        Ok(Processed::Queued {
            task_id,
            agent,
            reason,
        }) => {
            if let (Some(wait), Some(ports)) = (prefer.wait, &state.tasks) {
                let wait = wait.min(state.limits.max_wait);
                if let Some(task) = tasks::wait_for(ports, &task_id, wait).await {
                    return answer(tasks::finished_answer(&task, &request_id), &request_id);
                }
            }
            let mut response = tasks::accepted(&task_id, &agent, &reason, &request_id);
            if prefer.respond_async {
                response.headers_mut().insert(
                    "preference-applied",
                    HeaderValue::from_static("respond-async"),
                );
            }
            with_request_id(response, &request_id)
        }
    }
}

pub(crate) async fn route(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = body::request_id(&headers);
    let result = async {
        let body = body::parse(&headers, raw, &state.limits)?;
        let mode = body.mode;
        let request = grpc_request(body, &request_id, None, mode, state.limits.request_timeout);
        let decision = guarded(&state.root_breaker, state.router.clone().route(request))
            .await?
            .into_inner();
        Ok(convert::decision(&decision, &request_id))
    }
    .await;
    answer(result, &request_id)
}

pub(crate) async fn health() -> Json<Value> {
    Json(json!({"status": "healthy", "service": "gateway", "version": intentmesh_core::VERSION}))
}

/// Ready when the root agent reports SERVING over the gRPC health protocol and, with
/// asynchronous work on, RabbitMQ and Redis answer.
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    if let Err(reason) = intentmesh_core::tasks::ready(state.tasks.as_ref()).await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "service": "gateway", "reason": reason})),
        )
            .into_response();
    }
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    request.set_timeout(Duration::from_secs(1));
    let verdict =
        tokio::time::timeout(Duration::from_secs(1), state.health.clone().check(request)).await;
    match verdict {
        Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32 => (
            StatusCode::OK,
            Json(json!({"status": "ready", "service": "gateway"})),
        )
            .into_response(),
        other => {
            let reason = match other {
                Ok(Ok(_)) => "the root agent is not serving".to_owned(),
                Ok(Err(status)) => format!("the root agent is unreachable: {}", status.message()),
                Err(_) => "the root agent did not answer in time".to_owned(),
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not_ready", "service": "gateway", "reason": reason})),
            )
                .into_response()
        }
    }
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.encode(),
    )
        .into_response()
}

pub(crate) async fn not_found(headers: HeaderMap) -> Response {
    let request_id = body::request_id(&headers);
    let err = ApiError::new(
        ErrorCode::NotFound,
        "no such endpoint; see POST /process, POST /route, GET /tasks/{id}, GET /health",
    );
    answer(Err(err), &request_id)
}

pub(crate) async fn method_not_allowed(headers: HeaderMap) -> Response {
    let request_id = body::request_id(&headers);
    answer(
        Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            "method not allowed on this endpoint",
        )),
        &request_id,
    )
}

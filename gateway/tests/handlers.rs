//! The gateway's handlers without the mesh: requests go through `app()` with
//! `tower::ServiceExt::oneshot`, and the root agent is a fake gRPC server on a real port (127.0.0.1:0)
//! that answers as each test scripts it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use futures::StreamExt;
use http_body_util::BodyExt;
use intentmesh_core::{
    AgentError, ErrorCode,
    agent::{AgentRequest, AgentResponse, QueueReason, Queued, Reply, SearchResults},
    metrics::ServiceMetrics,
};
use intentmesh_gateway::{AppState, Config, app};
use intentmesh_proto::pb;
use intentmesh_tasks::{AsyncConfig, TaskHandler, TaskPorts, TaskState, Worker, enqueue};
use serde_json::{Value, json};
use tokio::{net::TcpListener, time::Instant};
use tokio_util::sync::CancellationToken;
use tonic::{Request as GrpcRequest, Response as GrpcResponse, Status};
use tower::ServiceExt;

/// What the fake root does with a message: its first word says.
#[derive(Clone)]
struct FakeRoot {
    tasks: Option<TaskPorts>,
}

fn search_reply() -> Reply {
    Reply::Search(SearchResults {
        products: Vec::new(),
        total: 0,
        page: 1,
        page_size: 10,
        query: "lamps".into(),
        category: None,
        min_price: None,
        max_price: None,
    })
}

fn decision() -> pb::RouteDecision {
    pb::RouteDecision {
        status: pb::RouteStatus::Routed as i32,
        agent: "search".into(),
        skill: "search".into(),
        confidence: 0.9,
        stage: pb::RouteStage::Rules as i32,
        entities: Some(pb::Entities {
            query: Some("lamps".into()),
            ..Default::default()
        }),
        default_mode: pb::ExecutionMode::Async as i32,
        ..Default::default()
    }
}

#[tonic::async_trait]
impl pb::agent_server::Agent for FakeRoot {
    async fn process(
        &self,
        request: GrpcRequest<pb::ProcessRequest>,
    ) -> Result<GrpcResponse<pb::ProcessResponse>, Status> {
        let request = AgentRequest::try_from(request.into_inner()).unwrap();
        let mut words = request.message.split_whitespace();
        let reply = match words.next().unwrap_or_default() {
            // `fail <code>`: the root answers with that error of ours.
            "fail" => {
                let code = ErrorCode::from_wire_name(words.next().unwrap()).unwrap();
                return Err(AgentError::new(code, "scripted").with("field", "x").into());
            }
            // A failure that is not ours: the root itself is broken.
            "broken" => return Err(Status::internal("boom")),
            "queue" => {
                let ports = self.tasks.as_ref().unwrap();
                let queued = enqueue(ports, "search", request.clone()).await.unwrap();
                Reply::Queued(Queued {
                    task_id: queued.task.id.to_string(),
                    reason: QueueReason::Requested,
                })
            }
            _ => search_reply(),
        };
        Ok(GrpcResponse::new(pb::ProcessResponse {
            route: Some(decision()),
            ..pb::ProcessResponse::from(AgentResponse {
                agent: "search".into(),
                skill: "search".into(),
                reply: Some(reply),
            })
        }))
    }

    async fn describe(
        &self,
        _request: GrpcRequest<pb::DescribeRequest>,
    ) -> Result<GrpcResponse<pb::AgentCard>, Status> {
        Ok(GrpcResponse::new(pb::AgentCard::default()))
    }
}

#[tonic::async_trait]
impl pb::router_server::Router for FakeRoot {
    async fn route(
        &self,
        _request: GrpcRequest<pb::ProcessRequest>,
    ) -> Result<GrpcResponse<pb::RouteDecision>, Status> {
        Ok(GrpcResponse::new(decision()))
    }
}

/// A worker that answers every search at once.
struct Searches;

#[async_trait]
impl TaskHandler for Searches {
    async fn handle(
        &self,
        _request: AgentRequest,
        _deadline: Instant,
    ) -> Result<Reply, AgentError> {
        Ok(search_reply())
    }
}

struct Harness {
    app: Router,
    tasks: TaskPorts,
    _stop: tokio_util::sync::DropGuard,
}

/// The fake root on a real port, and the gateway's app in front of it (breaker opening after
/// `failures` failures), with in-memory task ports a worker drains.
async fn harness(failures: &str) -> Harness {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let tasks = TaskPorts::memory(&AsyncConfig::embedded());
    let root = FakeRoot {
        tasks: Some(tasks.clone()),
    };
    let stop = CancellationToken::new();
    let server = tonic::transport::Server::builder()
        .add_service(pb::agent_server::AgentServer::new(root.clone()))
        .add_service(pb::router_server::RouterServer::new(root))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            stop.clone().cancelled_owned(),
        );
    tokio::spawn(server);
    tokio::spawn(Worker::new("search", tasks.clone(), Arc::new(Searches)).run(stop.clone()));
    let url = format!("http://{addr}");
    let env: HashMap<&str, &str> = HashMap::from([
        ("ROOT_AGENT_URL", url.as_str()),
        ("CIRCUIT_ROOT_FAILURE_THRESHOLD", failures),
        ("CIRCUIT_ROOT_TIMEOUT_SECS", "30"),
    ]);
    let config = Config::from_env(&env, "127.0.0.1:0".parse().unwrap()).unwrap();
    let state =
        AppState::new(&config, ServiceMetrics::new("gateway"), Some(tasks.clone())).unwrap();
    Harness {
        app: app(state),
        tasks,
        _stop: stop.drop_guard(),
    }
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

fn post(path: &str, body: &Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-request-id", "req-test-1")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn process(message: &str) -> Request<Body> {
    post("/process", &json!({"message": message, "user_id": "u"}))
}

#[tokio::test]
async fn an_answer_carries_its_data_route_and_request_id() {
    let h = harness("5").await;
    let (status, headers, body) = send(&h.app, process("find lamps")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["agent"], "search");
    assert_eq!(body["data"]["query"], "lamps");
    assert_eq!(body["route"]["stage"], "rules");
    assert_eq!(body["request_id"], "req-test-1");
    assert_eq!(headers["x-request-id"], "req-test-1");

    let (status, _, body) = send(
        &h.app,
        post("/route", &json!({"message": "lamps", "user_id": "u"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "routed");
    assert_eq!(body["mode"], "async");
    assert_eq!(body["entities"], json!({"query": "lamps"}));
    assert_eq!(body["request_id"], "req-test-1");
}

#[tokio::test]
async fn every_error_code_of_the_root_gets_its_status_and_envelope() {
    let h = harness("1000").await;
    for code in ErrorCode::ALL {
        let (status, headers, body) =
            send(&h.app, process(&format!("fail {}", code.wire_name()))).await;
        assert_eq!(status, code.http_status(), "{code:?}: {body}");
        assert_eq!(body["status"], "error");
        assert_eq!(body["error"]["code"], code.wire_name());
        assert_eq!(body["error"]["message"], "scripted");
        assert_eq!(body["error"]["details"]["field"], "x");
        assert_eq!(body["request_id"], "req-test-1");
        let retry = matches!(
            code,
            ErrorCode::Unavailable | ErrorCode::Overloaded | ErrorCode::CircuitOpen
        );
        assert_eq!(headers.contains_key(header::RETRY_AFTER), retry, "{code:?}");
    }
}

#[tokio::test]
async fn a_failing_root_opens_the_breaker_into_503_with_retry_after() {
    let h = harness("2").await;
    for _ in 0..2 {
        let (status, _, body) = send(&h.app, process("broken")).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(body["error"]["code"], "upstream_error");
    }
    let (status, headers, body) = send(&h.app, process("find lamps")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "circuit_open");
    assert_eq!(body["error"]["details"]["agent"], "root");
    let after: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&after), "{after}");
    assert_eq!(
        body["error"]["details"]["retry_after_secs"],
        after.to_string()
    );

    // The root's own errors are the root being up: they never open it.
    let h = harness("2").await;
    for _ in 0..4 {
        let (status, _, _) = send(&h.app, process("fail invalid_amount")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, _, _) = send(&h.app, process("find lamps")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_unreachable_root_is_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let env: HashMap<&str, &str> = HashMap::from([("ROOT_AGENT_URL", url.as_str())]);
    let config = Config::from_env(&env, "127.0.0.1:0".parse().unwrap()).unwrap();
    let state = AppState::new(&config, ServiceMetrics::new("gateway"), None).unwrap();
    let (status, headers, body) = send(&app(state), process("find lamps")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(body["error"]["details"]["agent"], "root");
    assert_eq!(headers[header::RETRY_AFTER], "1");
}

#[tokio::test]
async fn bad_bodies_and_unknown_routes_get_the_envelope() {
    let h = harness("5").await;
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            Request::post("/process")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{"))
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            Request::post("/process")
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("{}"))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            post("/process", &json!({"user_id": "u"})),
            StatusCode::BAD_REQUEST,
            "missing_field",
        ),
        (
            post(
                "/process",
                &json!({"message": "x", "user_id": "u", "mode": "later"}),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            Request::post("/process")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(vec![b' '; 70 * 1024]))
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            Request::post("/process")
                .header(header::CONTENT_TYPE, "application/json")
                .header("idempotency-key", "k".repeat(300))
                .body(Body::from(r#"{"message":"x","user_id":"u"}"#))
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            Request::get("/nowhere").body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Request::get("/process").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Request::get("/tasks/not-a-task")
                .body(Body::empty())
                .unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (request, status, code) in cases {
        let path = request.uri().path().to_owned();
        let (got, headers, body) = send(&h.app, request).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
        let id = headers["x-request-id"].to_str().unwrap();
        assert_eq!(body["request_id"], id, "every answer names its request");
    }
}

#[tokio::test]
async fn prefer_wait_follows_the_task_to_its_result() {
    let h = harness("5").await;
    let mut request = process("queue lamps");
    request
        .headers_mut()
        .insert("prefer", "respond-async, wait=5".parse().unwrap());
    let (status, _, body) = send(&h.app, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["query"], "lamps");
    assert!(body["task_id"].as_str().unwrap().starts_with("task_"));

    // Without waiting: 202 and where to follow it.
    let (status, headers, body) = send(&h.app, process("queue lamps")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let task = body["task_id"].as_str().unwrap();
    assert_eq!(headers[header::LOCATION], format!("/tasks/{task}"));
    assert_eq!(body["links"]["events"], format!("/tasks/{task}/events"));
}

#[tokio::test]
async fn task_events_stream_until_the_end() {
    let h = harness("5").await;
    let (status, _, body) = send(&h.app, process("queue lamps")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let task = body["task_id"].as_str().unwrap().to_owned();
    let response = h
        .app
        .clone()
        .oneshot(
            Request::get(format!("/tasks/{task}/events"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body().into_data_stream();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, body.next()).await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(kinds, ["queued", "working", "success"], "{text}");
    assert!(text.contains(&format!("\"task_id\":\"{task}\"")), "{text}");

    let (status, _, view) = send(
        &h.app,
        Request::get(format!("/tasks/{task}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "success");
    assert_eq!(view["data"]["query"], "lamps");
    let record = h.tasks.store.get(&task).await.unwrap().unwrap();
    assert_eq!(record.state, TaskState::Success);
}

#[tokio::test]
async fn the_committed_openapi_description_is_the_generated_one() {
    let generated = intentmesh_gateway::openapi::json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is not what the gateway describes: run `make openapi`"
    );
    let h = harness("5").await;
    let (status, _, served) = send(
        &h.app,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served["openapi"], "3.1.0");
    assert!(served["paths"]["/process"]["post"].is_object());
    assert!(served["components"]["schemas"]["ErrorEnvelope"].is_object());
}

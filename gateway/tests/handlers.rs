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
            // The root sheds the request, as its admission control does past its limit.
            "shed" => {
                return Err(AgentError::new(ErrorCode::Overloaded, "busy")
                    .retry_after(Duration::from_secs(1))
                    .into());
            }
            // `slow <ms>`: answers after that long.
            "slow" => {
                let ms = words.next().unwrap().parse().unwrap();
                tokio::time::sleep(Duration::from_millis(ms)).await;
                search_reply()
            }
            // `park`: queued for an agent with no worker here, so it stays queued.
            "park" => {
                let ports = self.tasks.as_ref().unwrap();
                let queued = enqueue(ports, "payment", request.clone()).await.unwrap();
                Reply::Queued(Queued {
                    task_id: queued.task.id.to_string(),
                    reason: QueueReason::Requested,
                })
            }
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
    metrics: Arc<ServiceMetrics>,
    config: Config,
    _stop: tokio_util::sync::DropGuard,
}

/// The fake root on a real port, and the gateway's app in front of it (breaker opening after
/// `failures` failures), with in-memory task ports a worker drains.
async fn harness(failures: &str) -> Harness {
    harness_with(failures, &[]).await
}

/// As [`harness`], with more settings.
async fn harness_with(failures: &str, settings: &[(&'static str, &'static str)]) -> Harness {
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
    let mut env: HashMap<&str, &str> = HashMap::from([
        ("ROOT_AGENT_URL", url.as_str()),
        ("CIRCUIT_ROOT_FAILURE_THRESHOLD", failures),
        ("CIRCUIT_ROOT_TIMEOUT_SECS", "30"),
    ]);
    env.extend(settings.iter().copied());
    let config = Config::from_env(&env, "127.0.0.1:0".parse().unwrap()).unwrap();
    let metrics = ServiceMetrics::new("gateway");
    let state = AppState::new(&config, Arc::clone(&metrics), Some(tasks.clone())).unwrap();
    Harness {
        app: app(state),
        tasks,
        metrics,
        config,
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
            ErrorCode::Unavailable
                | ErrorCode::Overloaded
                | ErrorCode::CircuitOpen
                | ErrorCode::RateLimited
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

/// The harness's gateway served for real (`intentmesh_gateway::serve`) on 127.0.0.1:0, until the
/// guard goes.
async fn serve_on_a_socket(h: &Harness) -> (SocketAddr, tokio_util::sync::DropGuard) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(intentmesh_gateway::serve(
        h.config.clone(),
        Some(h.tasks.clone()),
        listener,
        stop.clone(),
    ));
    (addr, stop.drop_guard())
}

/// Everything the server sends on `stream` until it closes it; `what` fails the test when that
/// takes over 5 s.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, what: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
        .await
        .expect(what)
        .unwrap();
    answer
}

/// Admission lets one request run at a time, and the next wait 200 ms for its turn.
const ONE_AT_A_TIME: &[(&str, &str)] = &[
    ("ADMISSION_INITIAL_LIMIT", "1"),
    ("ADMISSION_MIN_LIMIT", "1"),
    ("ADMISSION_MAX_LIMIT", "1"),
    ("ADMISSION_MAX_WAIT_MS", "200"),
];

fn breaker_state(metrics: &ServiceMetrics) -> String {
    metrics
        .encode()
        .lines()
        .find(|l| l.starts_with("circuit_breaker_state{"))
        .unwrap_or("circuit_breaker_state (never set)")
        .to_owned()
}

fn assert_overloaded(status: StatusCode, headers: &axum::http::HeaderMap, body: &Value) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    assert_eq!(headers[header::RETRY_AFTER], "1");
}

/// The root shedding load is the root at capacity, not failing: `503 overloaded` with
/// `Retry-After`, as often as it happens, and the breaker stays closed for everyone else.
#[tokio::test]
async fn a_root_shedding_load_is_503_overloaded_and_never_opens_the_breaker() {
    let h = harness("2").await;
    for _ in 0..10 {
        let (status, headers, body) = send(&h.app, process("shed")).await;
        assert_overloaded(status, &headers, &body);
    }
    let (status, _, body) = send(&h.app, process("find lamps")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let breaker = breaker_state(&h.metrics);
    assert!(breaker.ends_with(" 0"), "{breaker}");
}

/// Past the admission limit a request waits its turn for at most ADMISSION_MAX_WAIT_MS, then is
/// `503 overloaded`; health and metrics are never held up; the turn comes back when the work ends.
#[tokio::test]
async fn past_the_admission_limit_a_request_waits_then_is_503_overloaded() {
    let h = harness_with("5", ONE_AT_A_TIME).await;
    let slow = tokio::spawn({
        let app = h.app.clone();
        async move { send(&app, process("slow 1500")).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let (status, headers, body) = send(&h.app, process("find lamps")).await;
    assert_overloaded(status, &headers, &body);
    assert_eq!(body["error"]["details"]["reason"], "wait_expired");
    assert!(started.elapsed() >= Duration::from_millis(200));
    let health = Request::get("/health").body(Body::empty()).unwrap();
    assert_eq!(send(&h.app, health).await.0, StatusCode::OK);

    // A request that may wait longer than the slow one takes gets its turn.
    let (status, _, body) = slow.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = send(&h.app, process("find lamps")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let metrics = h.metrics.encode();
    assert!(
        metrics.contains(r#"admission_refused_total{agent="gateway",reason="wait_expired"} 1"#),
        "{metrics}"
    );
    let breaker = breaker_state(&h.metrics);
    assert!(breaker.ends_with(" 0"), "{breaker}");
}

/// A task's event streams are capped per owner: past SSE_MAX_FOLLOWERS_PER_USER, 503
/// `overloaded`; a stream closed by its client gives its place back.
#[tokio::test]
async fn task_event_streams_are_capped_per_user() {
    let h = harness_with("5", &[("SSE_MAX_FOLLOWERS_PER_USER", "1")]).await;
    // No payment worker here: the task stays queued, and its followers stay.
    let request = AgentRequest {
        user_id: "u".into(),
        ..AgentRequest::default()
    };
    let task = enqueue(&h.tasks, "payment", request).await.unwrap().task.id;
    let events = || {
        Request::get(format!("/tasks/{task}/events"))
            .body(Body::empty())
            .unwrap()
    };
    let first = h.app.clone().oneshot(events()).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let (status, headers, body) = send(&h.app, events()).await;
    assert_overloaded(status, &headers, &body);
    drop(first);
    let again = h.app.clone().oneshot(events()).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

/// Over a real socket: past MAX_CONNECTIONS a new connection is told `503 overloaded` and
/// closed; a client that does not finish its headers within HEADER_READ_TIMEOUT_SECS is
/// disconnected, and its slot serves the next one.
#[tokio::test]
async fn connections_past_the_limit_are_refused_and_slow_headers_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let h = harness_with(
        "5",
        &[
            ("MAX_CONNECTIONS", "2"),
            ("HEADER_READ_TIMEOUT_SECS", "0.5"),
        ],
    )
    .await;
    let (addr, _stop) = serve_on_a_socket(&h).await;

    // Two slow clients: a partial request line each.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /hea").await.unwrap();
        slow.push(c);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    let answer = read_until_closed(&mut third, "the refusal comes at once").await;
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("\"overloaded\""), "{answer}");

    // The slow ones are cut off by the header timeout...
    for mut c in slow {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest))
            .await
            .expect("a slow client is disconnected");
        assert!(read.is_ok() || rest.is_empty());
    }
    // ...and their slots serve the next clients.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        let _ = c.read_to_string(&mut answer).await;
        if answer.starts_with("HTTP/1.1 200 ") {
            break;
        }
        assert!(Instant::now() < deadline, "no slot came back: {answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Over a real socket: a client that sends its headers but not the whole body within
/// BODY_READ_TIMEOUT_SECS is answered `408 request_timeout`, and the gateway goes on serving.
#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_a_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let h = harness_with("5", &[("BODY_READ_TIMEOUT_SECS", "0.3")]).await;
    let (addr, _stop) = serve_on_a_socket(&h).await;
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(
        b"POST /process HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"message\": \"pay",
    )
    .await
    .unwrap();
    let mut answer = vec![0_u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut answer))
        .await
        .expect("answered once the body is late")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");

    let mut next = tokio::net::TcpStream::connect(addr).await.unwrap();
    next.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut next, "the next client is served").await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
}

/// A `Prefer: wait` request holds its admission turn only while its work is being queued: the
/// wait that follows is a follower's, so a request behind it is served, not refused.
#[tokio::test]
async fn a_prefer_wait_gives_its_admission_turn_back_before_it_waits() {
    let h = harness_with("5", ONE_AT_A_TIME).await;
    let waiting = tokio::spawn({
        let app = h.app.clone();
        async move {
            let mut request = process("park lamps");
            request
                .headers_mut()
                .insert("prefer", "respond-async, wait=2".parse().unwrap());
            let started = Instant::now();
            let (status, _, body) = send(&app, request).await;
            (status, body, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _, body) = send(&h.app, process("find lamps")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, waited) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(waited >= Duration::from_secs(2), "it waited: {waited:?}");
}

/// An HTTP/2 client that stops talking is disconnected after IDLE_TIMEOUT_SECS: the gateway
/// sends no pings of its own that would keep an idle connection alive.
#[tokio::test]
async fn an_idle_http2_connection_is_closed() {
    // Pings every 0.2 s would keep it open, were the gateway to send them.
    let h = harness_with(
        "5",
        &[
            ("IDLE_TIMEOUT_SECS", "0.5"),
            ("HTTP2_KEEPALIVE_SECS", "0.2"),
        ],
    )
    .await;
    let (addr, _stop) = serve_on_a_socket(&h).await;

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let connection = tokio::spawn(connection);
    let request = Request::get("/health")
        .header(header::HOST, "gateway")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    // Silent from here on: the gateway closes the connection.
    let ended = tokio::time::timeout(Duration::from_secs(5), connection).await;
    assert!(ended.is_ok(), "the idle HTTP/2 connection is still open");
}

//! [`FakeOpenAi`]: an OpenAI-compatible server on `127.0.0.1:0` for tests (feature `fake`).
//!
//! It speaks `POST /v1/chat/completions` and `GET /v1/models`, records every request (path,
//! `Authorization` header, JSON body) and answers as its [`Behaviour`] says; the behaviour can be
//! changed while it runs. Structured answers honour the request: JSON `content` for a
//! `response_format`, a `route` tool call for a forced tool choice.

mod keywords;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header::AUTHORIZATION},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::RawEntities;

/// How the fake answers chat completions.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answers with the script, in the structured form the request asked for.
    Answer(Script),
    /// Like servers without `response_format`: 400 to any request carrying one; forced tool calls
    /// (and plain requests) are answered with the script.
    RefuseResponseFormat(Script),
    /// 200 with this text as the content (and as the arguments of a forced tool call).
    Content(String),
    /// 200 with prose that is not JSON.
    Garbage,
    /// Waits, then behaves as the inner behaviour.
    Delay(Duration, Box<Behaviour>),
    /// One behaviour for requests carrying a `response_format`, another for the rest (tool calls).
    ByShape {
        response_format: Box<Behaviour>,
        tools: Box<Behaviour>,
    },
    /// This status with an OpenAI-style error body (e.g. 401, 429, 500).
    Status(u16),
}

impl Behaviour {
    /// Always answers `intent` (may be "none" or an id that is not on offer) with `confidence`.
    pub fn answer(intent: impl Into<String>, confidence: f64) -> Self {
        Self::Answer(Script::Fixed(ScriptedAnswer::new(intent, confidence)))
    }

    /// A plausible model: a keyword rule over the user's message (see [`Script::Keywords`]).
    pub fn keywords() -> Self {
        Self::Answer(Script::Keywords)
    }

    pub fn delay(delay: Duration, then: Behaviour) -> Self {
        Self::Delay(delay, Box::new(then))
    }

    pub fn by_shape(response_format: Behaviour, tools: Behaviour) -> Self {
        Self::ByShape {
            response_format: Box::new(response_format),
            tools: Box::new(tools),
        }
    }
}

/// What a structured answer says.
#[derive(Debug, Clone)]
pub enum Script {
    /// `pay`/`send`/`transfer` → the first offered intent containing "pay"; `find`/`search`/
    /// `show`/`buy`/`looking for` → the first containing "search"; otherwise "none". Entities
    /// are picked out of the words (amounts, currencies, `#order` ids, price bounds, the query).
    Keywords,
    Fixed(ScriptedAnswer),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedAnswer {
    pub intent: String,
    pub confidence: f64,
    pub entities: RawEntities,
}

impl ScriptedAnswer {
    pub fn new(intent: impl Into<String>, confidence: f64) -> Self {
        Self {
            intent: intent.into(),
            confidence,
            entities: RawEntities::default(),
        }
    }

    pub fn with_entities(mut self, entities: RawEntities) -> Self {
        self.entities = entities;
        self
    }

    fn to_json(&self) -> Value {
        let entities: serde_json::Map<String, Value> = self
            .entities
            .iter()
            .map(|(key, value)| (key.to_owned(), value.map_or(Value::Null, Value::from)))
            .collect();
        json!({"intent": self.intent, "confidence": self.confidence, "entities": entities})
    }
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path only, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// The JSON body (`Value::Null` when empty, a string when not JSON).
    pub body: Value,
}

impl RecordedRequest {
    pub fn is_chat_completion(&self) -> bool {
        self.method == "POST" && self.path == "/v1/chat/completions"
    }

    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }

    pub fn max_tokens(&self) -> Option<u64> {
        self.body.get("max_tokens").and_then(Value::as_u64)
    }

    pub fn has_response_format(&self) -> bool {
        self.body.get("response_format").is_some()
    }

    /// Tools with a forced `tool_choice`.
    pub fn has_forced_tool(&self) -> bool {
        self.body.get("tools").is_some()
            && self.body.get("tool_choice").is_some_and(Value::is_object)
    }

    /// Content of the message with this role (the first one).
    pub fn message(&self, role: &str) -> Option<&str> {
        self.body
            .get("messages")?
            .as_array()?
            .iter()
            .find(|m| m.get("role").and_then(Value::as_str) == Some(role))?
            .get("content")?
            .as_str()
    }
}

#[derive(Debug)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// Locks are held for a copy or a push, never across an `.await`; a panicking test thread must not
/// make the fake unusable for the others, hence the poison pass-through.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The server; stops when dropped.
#[derive(Debug)]
pub struct FakeOpenAi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeOpenAi {
    /// Binds `127.0.0.1:0` and serves on the current Tokio runtime.
    pub async fn start(behaviour: Behaviour) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(behaviour),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/models", get(models))
            .fallback(not_found)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "fake OpenAI server stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:<port>/v1`, what `OPENAI_BASE_URL` would be.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The chat-completion requests so far, oldest first.
    pub fn chat_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_chat_completion)
            .collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// Applies to requests arriving from now on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.shared.behaviour) = behaviour;
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn record(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Value {
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
    };
    lock(&shared.requests).push(RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        authorization: headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: json.clone(),
    });
    json
}

async fn models(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Json<Value> {
    record(&shared, &method, &uri, &headers, &Bytes::new());
    Json(
        json!({"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "intentmesh"}]}),
    )
}

async fn not_found(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&shared, &method, &uri, &headers, &body);
    error(404, &format!("no route for {method} {}", uri.path()))
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = record(&shared, &method, &uri, &headers, &body);
    let wants_schema = request.get("response_format").is_some();
    let mut behaviour = lock(&shared.behaviour).clone();
    let behaviour = loop {
        behaviour = match behaviour {
            Behaviour::Delay(delay, then) => {
                tokio::time::sleep(delay).await;
                *then
            }
            Behaviour::ByShape {
                response_format,
                tools,
            } => *(if wants_schema { response_format } else { tools }),
            other => break other,
        };
    };
    match behaviour {
        Behaviour::Answer(script) => completion(&request, &answer_text(&script, &request)),
        Behaviour::RefuseResponseFormat(_) if wants_schema => error(
            400,
            "response_format is not supported by this server (fake)",
        ),
        Behaviour::RefuseResponseFormat(script) => {
            completion(&request, &answer_text(&script, &request))
        }
        Behaviour::Content(text) => completion(&request, &text),
        Behaviour::Garbage => completion(
            &request,
            "Sure! It looks like the user wants to pay someone.",
        ),
        Behaviour::Status(status) => error(status, &format!("fake error {status}")),
        Behaviour::Delay(..) | Behaviour::ByShape { .. } => {
            error(500, "unreachable: unwrapped above")
        }
    }
}

fn answer_text(script: &Script, request: &Value) -> String {
    let answer = match script {
        Script::Fixed(answer) => answer.clone(),
        Script::Keywords => keywords::answer(request),
    };
    answer.to_json().to_string()
}

/// A chat completion carrying `text`: as a `route` tool call when the request forced one, else as
/// the content.
fn completion(request: &Value, text: &str) -> Response {
    let forced_tool = request
        .pointer("/tool_choice/function/name")
        .and_then(Value::as_str);
    let (message, finish_reason) = match forced_tool {
        Some(name) => (
            json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_fake_0", "type": "function",
                "function": {"name": name, "arguments": text},
            }]}),
            "tool_calls",
        ),
        None => (json!({"role": "assistant", "content": text}), "stop"),
    };
    let prompt_tokens = request
        .get("messages")
        .map_or(0, |m| m.to_string().len() / 4);
    let completion_tokens = text.len() / 4;
    Json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": request.get("model").cloned().unwrap_or(Value::Null),
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }))
    .into_response()
}

fn error(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let kind = match status.as_u16() {
        401 => "invalid_api_key",
        429 => "rate_limit_exceeded",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    };
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    (status, Json(body)).into_response()
}

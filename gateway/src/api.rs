//! The public JSON API, in one place: every body the gateway takes or answers, as types. The
//! OpenAPI description (`GET /openapi.json`, `docs/openapi.json`) is generated from them.
//!
//! Amounts are JSON numbers (`100.0`); the ledger keeps them exact.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The body of `POST /process` and `POST /route`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"message": "I want to pay $100 for order #12345", "user_id": "user-123", "context": {"order_id": "12345", "currency": "USD"}}))]
pub struct ProcessRequest {
    /// What the user wants, in their words (at most `MAX_MESSAGE_CHARS` characters).
    pub message: String,
    /// Who asks (at most 128 characters).
    pub user_id: String,
    /// Facts the caller already knows; they win over what is read from the message. Known keys:
    /// `amount`, `currency`, `order_id`, `query`, `category`, `price_range` (`{min, max}`),
    /// `min_price`, `max_price`, `page`, `page_size`, `session_id` (a conversation). At most 8
    /// levels deep, 64 keys and 16 KiB as JSON (`MAX_CONTEXT_DEPTH`, `MAX_CONTEXT_KEYS`,
    /// `MAX_CONTEXT_BYTES`); past that, `400 invalid_field`.
    #[schema(value_type = Option<Object>)]
    pub context: Option<Map<String, Value>>,
    /// Skip classification: the agent to run.
    pub agent: Option<String>,
    /// How to run: as the skill prefers (`auto`), now (`sync`) or as a task (`async`).
    pub mode: Option<Mode>,
}

/// How the caller wants the work run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Auto,
    Sync,
    Async,
}

/// `200` from `POST /process`: an answer, or — after `Prefer: wait=N` — a queued task's result.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ProcessOk {
    Answer(ProcessAnswer),
    Finished(FinishedAnswer),
}

/// An answer now, or a question back.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProcessAnswer {
    /// `success`, or `needs_clarification` (then `data` holds the question and candidates).
    pub status: &'static str,
    pub data: Option<Data>,
    pub request_id: String,
    /// The agent that answered (absent for a question back).
    pub agent: Option<String>,
    /// How the request was routed.
    pub route: Option<RouteSummary>,
}

/// What an agent answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Data {
    Payment(PaymentData),
    Search(SearchData),
    Clarification(ClarificationData),
    Queued(QueuedData),
    /// An agent without a typed result here: its fields as they are.
    #[schema(value_type = Object)]
    Other(Map<String, Value>),
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentData {
    pub transaction_id: String,
    #[schema(example = 100.0)]
    pub amount: f64,
    /// ISO 4217.
    pub currency: Option<String>,
    /// `completed` or `declined`.
    pub status: &'static str,
    pub order_id: Option<String>,
    pub user_id: String,
    /// RFC 3339.
    pub created_at: String,
    /// This answer repeats an earlier charge; nothing was charged now.
    pub replayed: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchData {
    pub products: Vec<ProductData>,
    /// Matches across all pages.
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
    pub query: String,
    pub category: Option<String>,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductData {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: f64,
    pub currency: Option<String>,
    /// 0–5, one decimal.
    pub rating: f64,
    /// Relevance, four decimals (0 without a query).
    pub score: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClarificationData {
    pub question: String,
    pub candidates: Vec<CandidateData>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CandidateData {
    pub agent: String,
    pub skill: String,
    pub confidence: f64,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueuedData {
    pub task_id: String,
    pub reason: String,
}

/// How a `/process` request was routed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RouteSummary {
    /// The stage that decided: `explicit`, `rules`, `context`, `embeddings`, `llm` or `none`.
    pub stage: &'static str,
    /// The classification cache answered.
    pub cached: bool,
    pub confidence: f64,
    pub skill: String,
}

/// `202` from `POST /process`: the work was queued; follow the task.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueuedAnswer {
    /// Always `queued`.
    pub status: &'static str,
    pub task_id: String,
    pub request_id: String,
    pub agent: String,
    /// `requested`, `default` (the skill runs asynchronously) or `circuit_open`.
    pub reason: String,
    pub links: TaskLinks,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskLinks {
    #[serde(rename = "self")]
    pub this: String,
    pub events: String,
    pub cancel: String,
}

/// `200` from `POST /process` after `Prefer: wait=N` when the task finished in time.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FinishedAnswer {
    /// Always `success`.
    pub status: &'static str,
    pub data: Option<Data>,
    pub request_id: String,
    pub agent: String,
    pub task_id: String,
}

/// `200` from `POST /route`: the routing decision, without running it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RouteAnswer {
    /// `routed` or `needs_clarification`.
    pub status: &'static str,
    pub agent: Option<String>,
    pub skill: Option<String>,
    pub confidence: f64,
    pub stage: &'static str,
    pub cached: bool,
    /// Stages that were asked and could not answer (`llm`).
    pub degraded: Vec<String>,
    pub entities: EntitiesData,
    pub candidates: Vec<CandidateData>,
    /// How the skill runs by default (routed only): `sync` or `async`.
    pub mode: Option<&'static str>,
    pub request_id: String,
}

/// What the request is about: the keys found, only.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct EntitiesData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// ISO 4217.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Without a leading `#`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Lower-case product words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price: Option<f64>,
}

/// A task, as `GET /tasks/{id}` and `POST /tasks/{id}/cancel` show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskView {
    /// `queued`, `working`, `success`, `failed` or `canceled`.
    pub status: &'static str,
    pub task_id: String,
    pub agent: String,
    pub skill: String,
    pub request_id: String,
    pub attempts: u32,
    /// RFC 3339, milliseconds.
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The result (`success` only).
    pub data: Option<Data>,
    pub error: Option<ErrorBody>,
}

/// Every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"status": "error", "error": {"code": "invalid_amount", "message": "the amount must be greater than zero, got 0", "details": {"field": "amount"}}, "request_id": "req-0190a0a0a0a0a0a0a0a0a0a0a0a0a0a0"}))]
pub struct ErrorEnvelope {
    /// Always `error`.
    pub status: &'static str,
    pub error: ErrorBody,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code (`invalid_amount`, `circuit_open`, ...).
    pub code: &'static str,
    pub message: String,
    /// Machine-readable details (`field`, `max`, `retry_after_secs`, ...), as strings.
    pub details: BTreeMap<String, String>,
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// Always `healthy`.
    pub status: &'static str,
    pub service: &'static str,
    pub version: &'static str,
}

/// `GET /ready`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    pub service: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One event of `GET /tasks/{id}/events` (the SSE `data`; the SSE `event` is its `kind`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskEventData {
    pub task_id: String,
    /// Bumped by every change of the task; `(seq, kind)` names an event.
    pub seq: u64,
    /// `queued`, `working`, `retrying`, `success`, `failed` or `canceled`.
    pub kind: &'static str,
    pub agent: String,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub attempt: u32,
    /// The error code, for `retrying` and `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the next attempt starts (`retrying`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
}

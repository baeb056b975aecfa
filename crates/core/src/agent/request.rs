//! What an agent is asked: the request, the entities read from it, and how it should run.

use serde::{Deserialize, Serialize};

use crate::money::Money;

/// The caller's free-form `context` object (empty when none was sent).
pub type Context = serde_json::Map<String, serde_json::Value>;

/// How the caller wants the work run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// As the skill prefers (its [`ExecutionMode`]).
    #[default]
    Auto,
    Sync,
    Async,
}

/// How a skill runs when the caller does not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionMode {
    #[default]
    Sync,
    Async,
}

impl ExecutionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Async => "async",
        }
    }
}

/// What a request is about, as the parsers, the caller's `context` (which always wins) or an LLM
/// read it. Every field is optional: each skill takes the ones it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Entities {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// A currency given on its own (`context.currency`), ISO 4217, upper case.
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
    pub min_price: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price: Option<Money>,
    /// 1-based.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
}

/// One request to an agent: the root's input, and what the root hands a worker (with the
/// entities and skill it chose), over gRPC or through a queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentRequest {
    /// Carried unchanged on every hop: the correlation id (the client's `X-Request-Id` when
    /// sane), never an idempotency key.
    pub request_id: String,
    pub message: String,
    pub user_id: String,
    pub context: Context,
    /// What the router read; `None` when no router did (a caller talking to a worker directly).
    pub entities: Option<Entities>,
    /// The skill chosen (`None`: the agent's default).
    pub skill: Option<String>,
    /// The agent the caller named, skipping classification (root only).
    pub agent: Option<String>,
    /// The caller's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    pub mode: Mode,
    /// Minted by the gateway for each HTTP request (128 random bits): with the user, the
    /// payment's last-resort idempotency key. Empty from callers inside the mesh.
    pub attempt_id: String,
}

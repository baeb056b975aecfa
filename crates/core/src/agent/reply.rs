//! What an agent answers: a result of its domain (a payment, a page of products), a question
//! back, or the task that will do the work.

use serde::{Deserialize, Serialize};

use crate::money::Money;

/// An agent's answer and who gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentResponse {
    /// The agent and skill that produced the result.
    pub agent: String,
    pub skill: String,
    /// `None` only from an agent that answered nothing at all.
    pub reply: Option<Reply>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    Payment(PaymentReceipt),
    Search(SearchResults),
    Clarification(Clarification),
    /// The work was queued: follow the task for its result.
    Queued(Queued),
    /// An agent whose domain has no type of its own here.
    Generic {
        fields: serde_json::Map<String, serde_json::Value>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Completed,
    Declined,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Declined => "declined",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentReceipt {
    pub transaction_id: String,
    pub amount: Money,
    pub status: PaymentStatus,
    pub order_id: Option<String>,
    pub user_id: String,
    /// The key the ledger recorded the payment under.
    pub idempotency_key: String,
    /// RFC 3339.
    pub created_at: String,
    /// This answer repeats an earlier charge instead of making a new one.
    pub replayed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: Money,
    pub rating: f32,
    /// Relevance (higher is better); 0 when no query was given.
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    pub products: Vec<Product>,
    /// Matches across all pages.
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
    pub query: String,
    pub category: Option<String>,
    pub min_price: Option<Money>,
    pub max_price: Option<Money>,
}

/// One intent the router considered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub agent: String,
    pub skill: String,
    pub confidence: f64,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clarification {
    pub question: String,
    pub candidates: Vec<Candidate>,
}

/// Why work was queued rather than answered at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum QueueReason {
    /// The caller asked (`"mode": "async"`, `Prefer: respond-async`).
    Requested,
    /// The skill runs asynchronously by default.
    Default,
    /// The worker's circuit is open and the work may wait.
    CircuitOpen,
    /// A reason this version does not know (from a newer root), passed on as it is.
    Other(String),
}

impl QueueReason {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Requested => "requested",
            Self::Default => "default",
            Self::CircuitOpen => "circuit_open",
            Self::Other(reason) => reason,
        }
    }
}

impl From<String> for QueueReason {
    fn from(raw: String) -> Self {
        match raw.as_str() {
            "requested" => Self::Requested,
            "default" => Self::Default,
            "circuit_open" => Self::CircuitOpen,
            _ => Self::Other(raw),
        }
    }
}

impl From<QueueReason> for String {
    fn from(reason: QueueReason) -> Self {
        reason.as_str().to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub task_id: String,
    pub reason: QueueReason,
}

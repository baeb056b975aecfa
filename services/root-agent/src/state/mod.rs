//! What the root agent keeps between requests to route well: the conversations it is part of
//! (bounded, per session) and the classifications it has already paid for (the embedding and
//! LLM stages). Both are only hints: losing them costs speed or stickiness, never a request.
//!
//! Two ports, each with a memory adapter (moka) and a Redis one (on the service's one pool), and
//! one contract suite (`tests/contract_routing_state.rs`) run against both.

mod memory;
mod redis;

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use intentmesh_core::agent::Entities;
use serde::{Deserialize, Serialize};

pub use memory::{MemoryConversations, MemoryRouteCache};
pub use redis::{RedisConversations, RedisRouteCache};

/// What an adapter failed on, kept as the error's source.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("routing state is unavailable")]
    Unavailable(#[source] Cause),
    #[error("stored routing state could not be read")]
    Corrupt(#[source] Cause),
}

/// One routed turn of a conversation, as the root keeps it (JSON in Redis).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationTurn {
    pub agent: String,
    pub skill: String,
    /// The message, cut to its first 500 characters.
    pub message: String,
    pub entities: Entities,
    pub at_unix_ms: u64,
}

/// The turns of conversations, newest first, each session bounded in length and forgotten after
/// a time of silence (both set on the adapter).
#[async_trait]
pub trait Conversations: Send + Sync + fmt::Debug {
    /// At most `limit` turns of `session`, newest first; empty for an unknown or expired one.
    async fn recent(
        &self,
        session: &str,
        limit: usize,
    ) -> Result<Vec<ConversationTurn>, StateError>;

    /// Appends a turn, drops the oldest beyond the bound and restarts the session's time to live.
    async fn record(&self, session: &str, turn: ConversationTurn) -> Result<(), StateError>;
}

/// Classifications by key, each kept for the adapter's time to live.
#[async_trait]
pub trait RouteCache: Send + Sync + fmt::Debug {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StateError>;

    async fn put(&self, key: &str, value: Bytes) -> Result<(), StateError>;
}

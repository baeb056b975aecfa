//! What the root agent keeps between requests to route well: the conversations it is part of
//! (bounded, per session) and the classifications it has already paid for (the embedding and
//! LLM stages). Both are only hints: losing them costs speed or stickiness, never a request.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use intentmesh_proto::pb;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("routing state is unavailable: {0}")]
    Unavailable(String),
    #[error("stored routing state could not be read: {0}")]
    Corrupt(String),
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
    ) -> Result<Vec<pb::ConversationTurn>, StateError>;

    /// Appends a turn, drops the oldest beyond the bound and restarts the session's time to live.
    async fn record(&self, session: &str, turn: pb::ConversationTurn) -> Result<(), StateError>;
}

/// Classifications by key, each kept for the adapter's time to live.
#[async_trait]
pub trait RouteCache: Send + Sync + fmt::Debug {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StateError>;

    async fn put(&self, key: &str, value: Bytes) -> Result<(), StateError>;
}

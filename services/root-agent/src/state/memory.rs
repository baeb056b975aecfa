//! Conversations and the classification cache in memory (bounded by moka: least recently used
//! sessions and entries go first, each one expires on its own).

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use moka::{ops::compute::Op, sync::Cache};

use super::{ConversationTurn, Conversations, RouteCache, StateError};

/// Conversations of one process.
#[derive(Debug, Clone)]
pub struct MemoryConversations {
    sessions: Cache<String, Arc<Vec<ConversationTurn>>>,
    max_turns: usize,
}

impl MemoryConversations {
    /// Keeps `max_turns` per session, `max_sessions` sessions, each for `ttl` after its last turn.
    pub fn new(max_turns: usize, max_sessions: u64, ttl: Duration) -> Self {
        Self {
            sessions: Cache::builder()
                .max_capacity(max_sessions)
                .time_to_live(ttl)
                .build(),
            max_turns: max_turns.max(1),
        }
    }
}

#[async_trait]
impl Conversations for MemoryConversations {
    async fn recent(
        &self,
        session: &str,
        limit: usize,
    ) -> Result<Vec<ConversationTurn>, StateError> {
        Ok(self
            .sessions
            .get(session)
            .map(|turns| turns.iter().take(limit).cloned().collect())
            .unwrap_or_default())
    }

    async fn record(&self, session: &str, turn: ConversationTurn) -> Result<(), StateError> {
        let max = self.max_turns;
        // Atomic per session; putting the entry again restarts its time to live.
        self.sessions
            .entry(session.to_owned())
            .and_compute_with(|existing| {
                let mut turns = Vec::with_capacity(max);
                turns.push(turn);
                if let Some(existing) = existing {
                    turns.extend(existing.value().iter().take(max - 1).cloned());
                }
                Op::Put(Arc::new(turns))
            });
        Ok(())
    }
}

/// A classification cache of one process.
#[derive(Debug, Clone)]
pub struct MemoryRouteCache {
    entries: Cache<String, Bytes>,
}

impl MemoryRouteCache {
    pub fn new(max_entries: u64, ttl: Duration) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
        }
    }
}

#[async_trait]
impl RouteCache for MemoryRouteCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StateError> {
        Ok(self.entries.get(key))
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<(), StateError> {
        self.entries.insert(key.to_owned(), value);
        Ok(())
    }
}

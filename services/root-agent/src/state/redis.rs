//! Conversations and the classification cache in Redis: a capped list per session
//! (`<prefix>:conversation:<session>`, newest first, JSON turns) and a string per classification
//! (`<prefix>:route:<key>`), each with its time to live. Both use the service's one pool.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use fred::prelude::{Expiration, KeysInterface, ListInterface, LuaInterface, Pool};

use super::{ConversationTurn, Conversations, RouteCache, StateError};

fn unavailable(err: fred::error::Error) -> StateError {
    StateError::Unavailable(Box::new(err))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// Push, trim and expire as one step on the server.
const RECORD: &str = r"
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Conversations in Redis.
#[derive(Debug, Clone)]
pub struct RedisConversations {
    pool: Pool,
    prefix: String,
    max_turns: usize,
    ttl: Duration,
}

impl RedisConversations {
    /// Keeps `max_turns` per session, each session for `ttl` after its last turn, on `pool`
    /// under `<prefix>:conversation:`.
    pub fn new(pool: Pool, prefix: &str, max_turns: usize, ttl: Duration) -> Self {
        Self {
            pool,
            prefix: prefix.to_owned(),
            max_turns: max_turns.max(1),
            ttl,
        }
    }

    fn key(&self, session: &str) -> String {
        format!("{}:conversation:{session}", self.prefix)
    }
}

#[async_trait]
impl Conversations for RedisConversations {
    async fn recent(
        &self,
        session: &str,
        limit: usize,
    ) -> Result<Vec<ConversationTurn>, StateError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let stop = i64::try_from(limit.min(self.max_turns)).unwrap_or(i64::MAX) - 1;
        let raw: Vec<Bytes> = self
            .pool
            .lrange(self.key(session), 0, stop)
            .await
            .map_err(unavailable)?;
        // A turn that cannot be read (written by an earlier version) is skipped, not the session.
        Ok(raw
            .iter()
            .filter_map(|b| match serde_json::from_slice(b) {
                Ok(turn) => Some(turn),
                Err(err) => {
                    tracing::debug!(%err, "skipping an unreadable conversation turn");
                    None
                }
            })
            .collect())
    }

    async fn record(&self, session: &str, turn: ConversationTurn) -> Result<(), StateError> {
        let turn = serde_json::to_vec(&turn).map_err(|e| StateError::Corrupt(Box::new(e)))?;
        let _: i64 = self
            .pool
            .eval(
                RECORD,
                vec![self.key(session)],
                vec![
                    Bytes::from(turn),
                    Bytes::from(self.max_turns.to_string()),
                    Bytes::from(millis(self.ttl).to_string()),
                ],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// The classification cache in Redis.
#[derive(Debug, Clone)]
pub struct RedisRouteCache {
    pool: Pool,
    prefix: String,
    ttl: Duration,
}

impl RedisRouteCache {
    /// Entries on `pool` under `<prefix>:route:`, each kept for `ttl`.
    pub fn new(pool: Pool, prefix: &str, ttl: Duration) -> Self {
        Self {
            pool,
            prefix: prefix.to_owned(),
            ttl,
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}:route:{key}", self.prefix)
    }
}

#[async_trait]
impl RouteCache for RedisRouteCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StateError> {
        self.pool.get(self.key(key)).await.map_err(unavailable)
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<(), StateError> {
        let _: () = self
            .pool
            .set(
                self.key(key),
                value,
                Some(Expiration::PX(millis(self.ttl))),
                None,
                false,
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

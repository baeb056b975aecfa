//! One contract for every adapter of the root's routing state — `Conversations` and
//! `RouteCache` — in memory and in Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use intentmesh_core::{
    agent::Entities,
    money::{Decimal, Money},
};
use intentmesh_root_agent::state::{
    ConversationTurn, Conversations, MemoryConversations, MemoryRouteCache, RedisConversations,
    RedisRouteCache, RouteCache,
};
use intentmesh_tasks::{adapters::redis as redis_adapter, test_util};

const MAX_TURNS: usize = 3;

fn turn(n: u64) -> ConversationTurn {
    ConversationTurn {
        agent: "payment".into(),
        skill: "pay".into(),
        message: format!("pay ${n} for order {n}"),
        entities: Entities {
            order_id: Some(n.to_string()),
            amount: Some(Money::new(Decimal::new(1999, 2), Some("USD".into())).unwrap()),
            ..Default::default()
        },
        at_unix_ms: n,
    }
}

/// A pool on the test Redis, and a key prefix of this test's own.
async fn redis_pool() -> (fred::prelude::Pool, String) {
    let config = test_util::real_async_config("routing", Default::default())
        .redis
        .expect("a redis config");
    let pool = redis_adapter::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("Redis is required for this test ({}): {e}", config.url));
    (pool, config.key_prefix)
}

mod cases {
    use super::*;

    pub(super) async fn newest_first_and_bounded(store: Arc<dyn Conversations>) {
        assert!(store.recent("s-1", 10).await.unwrap().is_empty());
        for n in 1..=5 {
            store.record("s-1", turn(n)).await.unwrap();
        }
        let recent = store.recent("s-1", 10).await.unwrap();
        assert_eq!(
            recent.iter().map(|t| t.at_unix_ms).collect::<Vec<_>>(),
            vec![5, 4, 3],
            "newest first, at most {MAX_TURNS}"
        );
        assert_eq!(recent[0], turn(5), "a turn reads back whole");
        let last = store.recent("s-1", 1).await.unwrap();
        assert_eq!(last, vec![turn(5)]);
        assert!(store.recent("s-1", 0).await.unwrap().is_empty());
    }

    pub(super) async fn sessions_are_separate(store: Arc<dyn Conversations>) {
        store.record("alice/s", turn(1)).await.unwrap();
        store.record("bob/s", turn(2)).await.unwrap();
        assert_eq!(store.recent("alice/s", 5).await.unwrap(), vec![turn(1)]);
        assert_eq!(store.recent("bob/s", 5).await.unwrap(), vec![turn(2)]);
    }

    pub(super) async fn concurrent_turns_are_all_kept(store: Arc<dyn Conversations>) {
        let writes = (1..=MAX_TURNS as u64).map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.record("busy", turn(n)).await.unwrap() })
        });
        for w in writes {
            w.await.unwrap();
        }
        let mut seen: Vec<u64> = store
            .recent("busy", 10)
            .await
            .unwrap()
            .iter()
            .map(|t| t.at_unix_ms)
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 2, 3], "no turn lost to a race");
    }

    /// `ttl` is the adapter's: 300 ms.
    pub(super) async fn silent_sessions_expire(store: Arc<dyn Conversations>) {
        store.record("quiet", turn(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        store.record("quiet", turn(2)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            store.recent("quiet", 5).await.unwrap().len(),
            2,
            "a new turn restarts the time to live"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(store.recent("quiet", 5).await.unwrap().is_empty());
    }

    pub(super) async fn cache_round_trip(cache: Arc<dyn RouteCache>) {
        assert_eq!(cache.get("k1").await.unwrap(), None);
        cache.put("k1", Bytes::from_static(b"one")).await.unwrap();
        cache.put("k2", Bytes::from_static(b"two")).await.unwrap();
        assert_eq!(cache.get("k1").await.unwrap().unwrap(), "one");
        cache.put("k1", Bytes::from_static(b"uno")).await.unwrap();
        assert_eq!(cache.get("k1").await.unwrap().unwrap(), "uno");
        assert_eq!(cache.get("k2").await.unwrap().unwrap(), "two");
    }

    /// `ttl` is the adapter's: 300 ms.
    pub(super) async fn cache_entries_expire(cache: Arc<dyn RouteCache>) {
        cache.put("short", Bytes::from_static(b"x")).await.unwrap();
        assert!(cache.get("short").await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(cache.get("short").await.unwrap(), None);
    }
}

const TTL: Duration = Duration::from_millis(300);

async fn memory_conversations() -> Arc<dyn Conversations> {
    Arc::new(MemoryConversations::new(MAX_TURNS, 1000, TTL))
}

async fn redis_conversations() -> Arc<dyn Conversations> {
    let (pool, prefix) = redis_pool().await;
    Arc::new(RedisConversations::new(pool, &prefix, MAX_TURNS, TTL))
}

async fn memory_cache() -> Arc<dyn RouteCache> {
    Arc::new(MemoryRouteCache::new(1000, TTL))
}

async fn redis_cache() -> Arc<dyn RouteCache> {
    let (pool, prefix) = redis_pool().await;
    Arc::new(RedisRouteCache::new(pool, &prefix, TTL))
}

macro_rules! routing_state_contract {
    ($adapter:ident, $conversations:expr, $cache:expr) => {
        mod $adapter {
            use super::*;
            #[tokio::test]
            async fn newest_first_and_bounded() {
                cases::newest_first_and_bounded($conversations().await).await
            }
            #[tokio::test]
            async fn sessions_are_separate() {
                cases::sessions_are_separate($conversations().await).await
            }
            #[tokio::test]
            async fn concurrent_turns_are_all_kept() {
                cases::concurrent_turns_are_all_kept($conversations().await).await
            }
            #[tokio::test]
            async fn silent_sessions_expire() {
                cases::silent_sessions_expire($conversations().await).await
            }
            #[tokio::test]
            async fn cache_round_trip() {
                cases::cache_round_trip($cache().await).await
            }
            #[tokio::test]
            async fn cache_entries_expire() {
                cases::cache_entries_expire($cache().await).await
            }
        }
    };
}

routing_state_contract!(memory, memory_conversations, memory_cache);
routing_state_contract!(redis, redis_conversations, redis_cache);

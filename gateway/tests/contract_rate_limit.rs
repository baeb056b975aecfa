//! One contract suite for the `RateLimiter` port, run against every adapter: memory, and the
//! running Redis. A missing Redis fails these tests; nothing is skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::{sync::Arc, time::Duration};

use intentmesh_gateway::rate_limit::{MemoryRateLimiter, Rate, RateLimiter, RedisRateLimiter};

mod support {
    use super::*;

    pub(super) async fn memory(rate: Rate) -> Arc<dyn RateLimiter> {
        Arc::new(MemoryRateLimiter::new(rate, 1_000))
    }

    pub(super) async fn redis(rate: Rate) -> Arc<dyn RateLimiter> {
        let config = intentmesh_tasks::adapters::redis::RedisConfig {
            url: intentmesh_core::test_util::redis_url(),
            pool_size: 2,
            key_prefix: intentmesh_core::test_util::unique_name("imtest-rate"),
            ca_pem: None,
        };
        let pool = intentmesh_tasks::adapters::redis::connect(&config)
            .await
            .expect("Redis is running (REDIS_URL or 127.0.0.1:6379)");
        Arc::new(RedisRateLimiter::new(pool, &config.key_prefix, rate))
    }
}

mod cases {
    use super::*;

    pub(super) const RATE: Rate = Rate {
        per_second: 20.0,
        burst: 3,
    };

    pub(super) async fn a_burst_is_allowed_then_refused_with_when_to_retry(
        l: Arc<dyn RateLimiter>,
    ) {
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let d = l.acquire("alice").await.unwrap();
            assert!(d.allowed, "{d:?}");
            remaining.push(d.remaining);
        }
        assert_eq!(remaining, [2, 1, 0]);
        let refused = l.acquire("alice").await.unwrap();
        assert!(!refused.allowed);
        assert!(
            refused.retry_after > Duration::ZERO
                && refused.retry_after <= Duration::from_millis(50),
            "{refused:?}"
        );
        assert!(refused.reset <= Duration::from_millis(150), "{refused:?}");
        tokio::time::sleep(refused.retry_after + Duration::from_millis(5)).await;
        assert!(
            l.acquire("alice").await.unwrap().allowed,
            "allowed again once the rate allows"
        );
    }

    pub(super) async fn callers_are_limited_apart(l: Arc<dyn RateLimiter>) {
        for _ in 0..3 {
            assert!(l.acquire("bob").await.unwrap().allowed);
        }
        assert!(!l.acquire("bob").await.unwrap().allowed);
        let carol = l.acquire("carol").await.unwrap();
        assert!(carol.allowed);
        assert_eq!(carol.remaining, 2, "carol's bucket is her own");
    }

    pub(super) async fn concurrent_requests_never_exceed_the_burst(l: Arc<dyn RateLimiter>) {
        // One a minute after a burst of three: 40 at once get exactly three through.
        let slow = l.rate();
        assert_eq!(slow, RATE);
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let l = Arc::clone(&l);
                tokio::spawn(async move { l.acquire("dave").await.unwrap().allowed })
            })
            .collect();
        let mut allowed = 0;
        for t in tasks {
            allowed += usize::from(t.await.unwrap());
        }
        // At 20/s, the 40 may span one more interval on a slow machine: at most one more.
        assert!((3..=4).contains(&allowed), "{allowed} allowed");
    }
}

macro_rules! rate_limit_contract {
    ($adapter:ident, $make:path) => {
        mod $adapter {
            use super::*;

            #[tokio::test]
            async fn a_burst_is_allowed_then_refused_with_when_to_retry() {
                cases::a_burst_is_allowed_then_refused_with_when_to_retry($make(cases::RATE).await)
                    .await
            }

            #[tokio::test]
            async fn callers_are_limited_apart() {
                cases::callers_are_limited_apart($make(cases::RATE).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_requests_never_exceed_the_burst() {
                cases::concurrent_requests_never_exceed_the_burst($make(cases::RATE).await).await
            }
        }
    };
}

rate_limit_contract!(memory, support::memory);
rate_limit_contract!(redis, support::redis);

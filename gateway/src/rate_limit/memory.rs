//! Arrival times in this process's memory, for a gateway without Redis: at most `max_keys`
//! callers are remembered (the least recently seen go first: LRU eviction), each for as long as its bucket
//! takes to fill again; a forgotten caller starts with a full bucket, as it would have anyway.

use std::time::{Duration, Instant};

use moka::{ops::compute::Op, sync::Cache};

use super::{Decision, Rate, RateLimitError, RateLimiter, gcra};

#[derive(Debug)]
pub struct MemoryRateLimiter {
    rate: Rate,
    /// Arrival times in µs since `epoch`.
    tats: Cache<String, i64>,
    epoch: Instant,
}

impl MemoryRateLimiter {
    pub fn new(rate: Rate, max_keys: u64) -> Self {
        let idle = Duration::from_micros(u64::try_from(rate.tolerance_us()).unwrap_or(u64::MAX))
            + Duration::from_secs(1);
        Self {
            rate,
            tats: Cache::builder()
                .max_capacity(max_keys)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_idle(idle)
                .build(),
            epoch: Instant::now(),
        }
    }
}

#[async_trait::async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn acquire(&self, key: &str) -> Result<Decision, RateLimitError> {
        let now = i64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(i64::MAX);
        let mut decided = None;
        // One caller's check and update are one step: concurrent requests of a caller queue.
        self.tats.entry_by_ref(key).and_compute_with(|entry| {
            let (decision, next) = gcra(entry.map(|e| e.into_value()), now, self.rate);
            decided = Some(decision);
            match next {
                Some(tat) => Op::Put(tat),
                None => Op::Nop,
            }
        });
        decided.ok_or_else(|| RateLimitError("the limiter computed nothing".into()))
    }

    fn rate(&self) -> Rate {
        self.rate
    }
}

//! Arrival times in Redis, shared by every gateway replica: one key per caller
//! (`<REDIS_KEY_PREFIX>:ratelimit:<caller>`), read and written by one script that takes the time
//! from Redis's own clock (replicas' clocks may differ) and expires the key when the caller's
//! bucket is full again.

use fred::prelude::{LuaInterface, Pool};

use super::{Decision, Rate, RateLimitError, RateLimiter, decide};

/// KEYS[1] the caller; ARGV interval and tolerance (µs). Answers how far ahead of Redis's now
/// the caller's arrival time was (0: a full bucket), and stores the next one when
/// `super::decide` allows the request (the same rule, in the same integer arithmetic).
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local ahead = tat + interval - now
if ahead <= tolerance then
  redis.call('SET', KEYS[1], string.format('%d', tat + interval), 'PX', math.ceil(ahead / 1000) + 1)
end
return tat - now
";

#[derive(Debug)]
pub struct RedisRateLimiter {
    pool: Pool,
    prefix: String,
    rate: Rate,
}

impl RedisRateLimiter {
    pub fn new(pool: Pool, prefix: &str, rate: Rate) -> Self {
        Self {
            pool,
            prefix: format!("{prefix}:ratelimit:"),
            rate,
        }
    }
}

#[async_trait::async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(&self, key: &str) -> Result<Decision, RateLimitError> {
        let tat_ahead: i64 = self
            .pool
            .eval(
                ACQUIRE,
                vec![format!("{}{key}", self.prefix)],
                vec![self.rate.interval_us(), self.rate.tolerance_us()],
            )
            .await
            .map_err(|e| RateLimitError(Box::new(e)))?;
        Ok(decide(tat_ahead, self.rate))
    }

    fn rate(&self) -> Rate {
        self.rate
    }
}

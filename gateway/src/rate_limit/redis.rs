//! Arrival times in Redis, shared by every gateway replica: one key per caller
//! (`<REDIS_KEY_PREFIX>:ratelimit:<caller>`), read and written by one script that takes the time
//! from Redis's own clock (replicas' clocks may differ) and expires the key when the caller's
//! bucket is full again.

use fred::prelude::{LuaInterface, Pool, Value};

use super::{Decision, Rate, RateLimitError, RateLimiter};

/// KEYS[1] the caller; ARGV interval and tolerance (µs). Answers {allowed, ahead_us, tat_us_ahead}
/// with the same arithmetic as `super::gcra`.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local ahead = tat + interval - now
if ahead > tolerance then
  return {0, ahead, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', tat + interval), 'PX', math.ceil(ahead / 1000) + 1)
return {1, ahead, 0}
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

fn micros(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_i64)
}

#[async_trait::async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(&self, key: &str) -> Result<Decision, RateLimitError> {
        let (interval, tolerance) = (self.rate.interval_us(), self.rate.tolerance_us());
        let reply: Value = self
            .pool
            .eval(
                ACQUIRE,
                vec![format!("{}{key}", self.prefix)],
                vec![interval, tolerance],
            )
            .await
            .map_err(|e| RateLimitError(Box::new(e)))?;
        let values = reply.into_array();
        let (Some(allowed), Some(ahead), Some(tat_ahead)) = (
            micros(values.first()),
            micros(values.get(1)),
            micros(values.get(2)),
        ) else {
            return Err(RateLimitError(
                "the script's answer is not three numbers".into(),
            ));
        };
        let duration =
            |us: i64| std::time::Duration::from_micros(u64::try_from(us.max(0)).unwrap_or(0));
        Ok(if allowed == 1 {
            Decision {
                allowed: true,
                remaining: u32::try_from((tolerance - ahead) / interval).unwrap_or(0),
                reset: duration(ahead),
                retry_after: std::time::Duration::ZERO,
            }
        } else {
            Decision {
                allowed: false,
                remaining: 0,
                reset: duration(tat_ahead),
                retry_after: duration(ahead - tolerance),
            }
        })
    }

    fn rate(&self) -> Rate {
        self.rate
    }
}

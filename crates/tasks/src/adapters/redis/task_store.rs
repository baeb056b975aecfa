//! Task records in Redis: one hash per task, created and changed by Lua scripts so every
//! transition is one atomic compare-and-set on the server.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use fred::prelude::{
    ClientLike, Error as RedisError, HashesInterface, KeysInterface, LuaInterface, Pool, Value,
};
use intentmesh_core::{AgentError, agent::Reply};

use crate::{
    model::{NewTask, TaskId, TaskRecord, TaskState, Transition, TransitionOutcome, now_millis},
    ports::{Created, StoreError, TaskStore},
};

const CREATE: &str = r"
if ARGV[1] == '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then
    local record = redis.call('HGETALL', ARGV[3] .. existing)
    if #record > 0 then return {1, record} end
  end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[1] == '1' then
  redis.call('SET', KEYS[2], redis.call('HGET', KEYS[1], 'id'), 'PX', ARGV[2])
end
return {0}
";

const TRANSITION: &str = r"
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {0} end
if not string.find(ARGV[1], ',' .. state .. ',', 1, true) then
  return {1, redis.call('HGETALL', KEYS[1])}
end
local to, now = ARGV[2], ARGV[3]
redis.call('HSET', KEYS[1], 'state', to, 'updated_at', now)
redis.call('HINCRBY', KEYS[1], 'version', 1)
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'attempts', ARGV[5]) end
if to == 'working' and redis.call('HEXISTS', KEYS[1], 'started_at') == 0 then
  redis.call('HSET', KEYS[1], 'started_at', now)
end
if to == 'success' or to == 'failed' or to == 'canceled' then
  redis.call('HSET', KEYS[1], 'finished_at', now)
else
  redis.call('HDEL', KEYS[1], 'finished_at')
end
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'result', ARGV[7]) end
if ARGV[8] == '1' then
  redis.call('HSET', KEYS[1], 'error', ARGV[9])
elseif ARGV[8] == 'c' then
  redis.call('HDEL', KEYS[1], 'error')
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {2, redis.call('HGETALL', KEYS[1])}
";

/// Task records in Redis.
#[derive(Debug, Clone)]
pub struct RedisTaskStore {
    pool: Pool,
    prefix: String,
    record_ttl: Duration,
    result_ttl: Duration,
}

fn unavailable(err: RedisError) -> StoreError {
    StoreError::Unavailable(Box::new(err))
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

/// A result or an error as stored: JSON of the domain type.
fn encode<T: serde::Serialize>(value: &T, what: &str) -> Result<Bytes, StoreError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| StoreError::Corrupt {
            what: what.to_owned(),
            source: Some(Box::new(e)),
        })
}

fn decode<T: serde::de::DeserializeOwned>(raw: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt {
        what: what.to_owned(),
        source: Some(Box::new(e)),
    })
}

impl RedisTaskStore {
    /// Task records on `pool` (connected by [`super::connect`]) under `<prefix>:task:`. Later
    /// connection loss is retried in the background and shows in [`ready`](TaskStore::ready).
    pub fn new(pool: Pool, prefix: &str, record_ttl: Duration, result_ttl: Duration) -> Self {
        Self {
            pool,
            prefix: prefix.to_owned(),
            record_ttl,
            result_ttl,
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{}:task:{id}", self.prefix)
    }

    fn dedupe_key(&self, key: &str) -> String {
        format!("{}:task-key:{key}", self.prefix)
    }
}

fn fields(record: &TaskRecord) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(20);
    let mut put = |k: &str, v: String| {
        out.push(Value::from(k));
        out.push(Value::from(v));
    };
    put("id", record.id.to_string());
    put("agent", record.agent.clone());
    put("skill", record.skill.clone());
    put("request_id", record.request_id.clone());
    put("user_id", record.user_id.clone());
    put("state", record.state.as_str().to_owned());
    put("version", record.version.to_string());
    put("attempts", record.attempts.to_string());
    put("created_at", record.created_at.to_string());
    put("updated_at", record.updated_at.to_string());
    out
}

fn text(map: &HashMap<String, Bytes>, key: &str) -> Result<String, StoreError> {
    let raw = map
        .get(key)
        .ok_or_else(|| StoreError::corrupt(format!("field {key} is missing")))?;
    String::from_utf8(raw.to_vec())
        .map_err(|_| StoreError::corrupt(format!("field {key} is not UTF-8")))
}

fn number<T: std::str::FromStr>(map: &HashMap<String, Bytes>, key: &str) -> Result<T, StoreError> {
    text(map, key)?
        .parse()
        .map_err(|_| StoreError::corrupt(format!("field {key} is not a number")))
}

fn optional_number(map: &HashMap<String, Bytes>, key: &str) -> Result<Option<i64>, StoreError> {
    map.contains_key(key).then(|| number(map, key)).transpose()
}

fn record_from(map: &HashMap<String, Bytes>) -> Result<TaskRecord, StoreError> {
    let id = text(map, "id")?;
    let state = text(map, "state")?;
    // A result this version cannot read (a protobuf one, from before results were JSON) leaves
    // the record readable, without its result, rather than the task unreadable until it expires.
    let result = map
        .get("result")
        .and_then(|b| match decode::<Reply>(b, "result") {
            Ok(result) => Some(result),
            Err(err) => {
                let err = intentmesh_core::errors::Chain::of(&err);
                tracing::warn!(error = %err, "a task's stored result cannot be read");
                None
            }
        });
    let error = map
        .get("error")
        .map(|b| decode::<AgentError>(b, "error"))
        .transpose()?;
    Ok(TaskRecord {
        id: TaskId::parse(&id).ok_or_else(|| StoreError::corrupt(format!("task id {id:?}")))?,
        agent: text(map, "agent")?,
        skill: text(map, "skill")?,
        request_id: text(map, "request_id")?,
        user_id: text(map, "user_id")?,
        state: TaskState::parse(&state)
            .ok_or_else(|| StoreError::corrupt(format!("state {state:?}")))?,
        version: number(map, "version")?,
        attempts: number(map, "attempts")?,
        created_at: number(map, "created_at")?,
        updated_at: number(map, "updated_at")?,
        started_at: optional_number(map, "started_at")?,
        finished_at: optional_number(map, "finished_at")?,
        result,
        error,
    })
}

/// A script's answer: `{status}` or `{status, {field, value, ...}}`.
fn script_reply(reply: Value) -> Result<(i64, Option<TaskRecord>), StoreError> {
    let mut items = reply.into_array().into_iter();
    let status = items
        .next()
        .and_then(|v| v.as_i64())
        .ok_or_else(|| StoreError::corrupt("the script's answer (no status)"))?;
    let record = match items.next() {
        None => None,
        Some(flat) => {
            let mut map = HashMap::new();
            let mut flat = flat.into_array().into_iter();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                let key = k
                    .into_bytes()
                    .and_then(|b| String::from_utf8(b.to_vec()).ok())
                    .unwrap_or_default();
                map.insert(key, v.into_bytes().unwrap_or_default());
            }
            Some(record_from(&map)?)
        }
    };
    Ok((status, record))
}

#[async_trait]
impl TaskStore for RedisTaskStore {
    async fn create(&self, task: NewTask) -> Result<Created, StoreError> {
        let dedupe = task.dedupe_key.as_deref().map(|k| self.dedupe_key(k));
        let record = task.into_record(now_millis());
        let key = self.key(record.id.as_str());
        let mut args: Vec<Value> = vec![
            Value::from(if dedupe.is_some() { "1" } else { "0" }),
            Value::from(ms(self.record_ttl)),
            Value::from(format!("{}:task:", self.prefix)),
        ];
        args.extend(fields(&record));
        let keys = vec![key.clone(), dedupe.unwrap_or_else(|| key.clone())];
        let reply: Value = self
            .pool
            .eval(CREATE, keys, args)
            .await
            .map_err(unavailable)?;
        match script_reply(reply)? {
            (1, Some(existing)) => Ok(Created::Existing(existing)),
            _ => Ok(Created::New(record)),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let map: HashMap<String, Bytes> = self
            .pool
            .next()
            .hgetall(self.key(id))
            .await
            .map_err(unavailable)?;
        if map.is_empty() {
            return Ok(None);
        }
        record_from(&map).map(Some)
    }

    async fn transition(
        &self,
        id: &str,
        transition: Transition,
    ) -> Result<TransitionOutcome, StoreError> {
        let from: String = transition
            .from
            .iter()
            .fold(",".to_owned(), |acc, s| format!("{acc}{},", s.as_str()));
        let ttl = if transition.to.is_terminal() {
            self.result_ttl
        } else {
            self.record_ttl
        };
        let error_flag = match (&transition.error, transition.to) {
            (Some(_), _) => "1",
            (None, TaskState::Queued) => "c",
            (None, _) => "0",
        };
        let args: Vec<Value> = vec![
            Value::from(from),
            Value::from(transition.to.as_str()),
            Value::from(now_millis().to_string()),
            Value::from(ms(ttl)),
            Value::from(
                transition
                    .attempts
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
            ),
            Value::from(if transition.result.is_some() {
                "1"
            } else {
                "0"
            }),
            Value::Bytes(
                transition
                    .result
                    .as_ref()
                    .map(|r| encode(r, "result"))
                    .transpose()?
                    .unwrap_or_default(),
            ),
            Value::from(error_flag),
            Value::Bytes(
                transition
                    .error
                    .as_ref()
                    .map(|e| encode(e, "error"))
                    .transpose()?
                    .unwrap_or_default(),
            ),
        ];
        let reply: Value = self
            .pool
            .eval(TRANSITION, vec![self.key(id)], args)
            .await
            .map_err(unavailable)?;
        match script_reply(reply)? {
            (2, Some(record)) => Ok(TransitionOutcome::Applied(record)),
            (1, Some(record)) => Ok(TransitionOutcome::Refused(record)),
            _ => Ok(TransitionOutcome::Missing),
        }
    }

    async fn remove(&self, id: &str) -> Result<(), StoreError> {
        // The dedupe key (if any) expires with the record's TTL; a later create with the same key
        // finds no record behind it and creates a new task.
        let _: i64 = self.pool.del(self.key(id)).await.map_err(unavailable)?;
        Ok(())
    }

    async fn ready(&self) -> bool {
        tokio::time::timeout(Duration::from_secs(1), self.pool.ping::<String>(None))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

use std::{collections::HashMap, sync::Mutex, time::Duration};

use async_trait::async_trait;

use crate::{
    model::{NewTask, TaskRecord, Transition, TransitionOutcome, now_millis},
    ports::{Created, StoreError, TaskStore},
};

#[derive(Debug, Default)]
struct Inner {
    tasks: HashMap<String, (TaskRecord, i64)>,
    keys: HashMap<String, String>,
}

/// Task records in a map; expired records are dropped when next touched, or by `create`.
#[derive(Debug)]
pub struct MemoryTaskStore {
    inner: Mutex<Inner>,
    record_ttl: Duration,
    result_ttl: Duration,
}

impl MemoryTaskStore {
    pub fn new(record_ttl: Duration, result_ttl: Duration) -> Self {
        Self {
            inner: Mutex::default(),
            record_ttl,
            result_ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave a half-applied transition behind (each is
        // a single assignment), so a poisoned lock is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn ttl_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl TaskStore for MemoryTaskStore {
    async fn create(&self, task: NewTask) -> Result<Created, StoreError> {
        let now = now_millis();
        let mut inner = self.lock();
        inner.tasks.retain(|_, (_, expires)| *expires > now);
        if let Some(key) = &task.dedupe_key
            && let Some(id) = inner.keys.get(key)
            && let Some((existing, _)) = inner.tasks.get(id)
        {
            return Ok(Created::Existing(existing.clone()));
        }
        let key = task.dedupe_key.clone();
        let record = task.into_record(now);
        let id = record.id.to_string();
        if let Some(key) = key {
            inner.keys.insert(key, id.clone());
        }
        inner.tasks.insert(
            id,
            (record.clone(), now.saturating_add(ttl_ms(self.record_ttl))),
        );
        Ok(Created::New(record))
    }

    async fn get(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let now = now_millis();
        Ok(self
            .lock()
            .tasks
            .get(id)
            .filter(|(_, expires)| *expires > now)
            .map(|(r, _)| r.clone()))
    }

    async fn transition(
        &self,
        id: &str,
        transition: Transition,
    ) -> Result<TransitionOutcome, StoreError> {
        let now = now_millis();
        let mut inner = self.lock();
        let Some((record, expires)) = inner.tasks.get_mut(id).filter(|(_, e)| *e > now) else {
            return Ok(TransitionOutcome::Missing);
        };
        if !transition.apply(record, now) {
            return Ok(TransitionOutcome::Refused(record.clone()));
        }
        let ttl = if record.state.is_terminal() {
            self.result_ttl
        } else {
            self.record_ttl
        };
        *expires = now.saturating_add(ttl_ms(ttl));
        Ok(TransitionOutcome::Applied(record.clone()))
    }

    async fn remove(&self, id: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.tasks.remove(id);
        inner.keys.retain(|_, v| v != id);
        Ok(())
    }

    async fn ready(&self) -> bool {
        true
    }
}

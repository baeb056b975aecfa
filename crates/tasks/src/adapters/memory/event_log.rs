use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use futures::stream;
use tokio::sync::broadcast;

use crate::{
    model::TaskEvent,
    ports::{EventLog, EventLogError, EventStream},
};

#[derive(Debug, Default)]
struct History {
    by_task: HashMap<String, Vec<TaskEvent>>,
    /// Tasks in the order their first event came, to forget the oldest beyond the capacity.
    order: VecDeque<String>,
}

/// Events kept per task (the most recent `capacity` tasks) and broadcast to live subscribers.
#[derive(Debug, Clone)]
pub struct MemoryEventLog {
    history: Arc<Mutex<History>>,
    live: broadcast::Sender<TaskEvent>,
    capacity: usize,
}

impl MemoryEventLog {
    pub fn new(capacity: usize) -> Self {
        Self {
            history: Arc::default(),
            live: broadcast::channel(1024).0,
            capacity: capacity.max(1),
        }
    }

    fn history_of(&self, task_id: &str, since: i64) -> Vec<TaskEvent> {
        let history = self
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        history
            .by_task
            .get(task_id)
            .map(|events| events.iter().filter(|e| e.at >= since).cloned().collect())
            .unwrap_or_default()
    }
}

struct Follow {
    log: MemoryEventLog,
    task_id: String,
    since: i64,
    backlog: VecDeque<TaskEvent>,
    live: broadcast::Receiver<TaskEvent>,
}

#[async_trait]
impl EventLog for MemoryEventLog {
    async fn append(&self, event: &TaskEvent) -> Result<(), EventLogError> {
        {
            let mut history = self
                .history
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !history.by_task.contains_key(&event.task_id) {
                history.order.push_back(event.task_id.clone());
                while history.order.len() > self.capacity {
                    if let Some(old) = history.order.pop_front() {
                        history.by_task.remove(&old);
                    }
                }
            }
            history
                .by_task
                .entry(event.task_id.clone())
                .or_default()
                .push(event.clone());
        }
        // No live subscriber is not an error: the history has the event.
        let _ = self.live.send(event.clone());
        Ok(())
    }

    async fn subscribe(&self, task_id: &str, since: i64) -> Result<EventStream, EventLogError> {
        // Subscribe before reading the history, so nothing falls between the two.
        let live = self.live.subscribe();
        let follow = Follow {
            log: self.clone(),
            task_id: task_id.to_owned(),
            since,
            backlog: self.history_of(task_id, since).into(),
            live,
        };
        Ok(Box::pin(stream::unfold(follow, |mut f| async move {
            loop {
                if let Some(event) = f.backlog.pop_front() {
                    return Some((Ok(event), f));
                }
                match f.live.recv().await {
                    Ok(event) if event.task_id == f.task_id => return Some((Ok(event), f)),
                    Ok(_) => {}
                    // Fell behind: read the history again; readers drop the repeats.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        f.backlog = f.log.history_of(&f.task_id, f.since).into();
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })))
    }

    async fn ready(&self) -> bool {
        true
    }
}

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use async_trait::async_trait;
use futures::stream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::{
    model::{TaskMessage, now_millis},
    ports::{Broker, BrokerError, DeadLetter, Delivery, DeliveryStream, QueueDepth, Settle},
};

#[derive(Debug)]
struct Queued {
    message: TaskMessage,
    /// Earlier deliveries that were not settled.
    deliveries: u32,
}

#[derive(Debug, Default)]
struct AgentQueue {
    ready: VecDeque<Queued>,
    dead: Vec<(TaskMessage, DeadLetter)>,
    notify: Arc<Notify>,
}

#[derive(Debug)]
struct Shared {
    queues: Mutex<HashMap<String, AgentQueue>>,
    delivery_limit: u32,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, AgentQueue>> {
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, agent: &str, queued: Queued, front: bool) {
        let mut queues = self.lock();
        let queue = queues.entry(agent.to_owned()).or_default();
        if front {
            queue.ready.push_front(queued);
        } else {
            queue.ready.push_back(queued);
        }
        queue.notify.notify_one();
    }

    fn dead_letter(&self, message: TaskMessage, reason: &str) {
        let letter = DeadLetter {
            task_id: message.task_id().to_owned(),
            agent: message.agent().to_owned(),
            reason: reason.to_owned(),
            attempts: message.attempt,
            history: message.history.clone(),
            at: now_millis(),
        };
        self.lock()
            .entry(letter.agent.clone())
            .or_default()
            .dead
            .push((message, letter));
    }
}

/// Work queues in one process: a `VecDeque` per agent, retries on timers, a dead-letter list and
/// a delivery limit like the quorum queue's `x-delivery-limit` (a message returned more often
/// than the limit is dead-lettered).
#[derive(Debug, Clone)]
pub struct MemoryBroker {
    shared: Arc<Shared>,
}

impl MemoryBroker {
    pub fn new(delivery_limit: u32) -> Self {
        Self {
            shared: Arc::new(Shared {
                queues: Mutex::default(),
                delivery_limit: delivery_limit.max(1),
            }),
        }
    }
}

#[derive(Debug)]
struct MemorySettle {
    shared: Arc<Shared>,
    agent: String,
    queued: Option<Queued>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for MemorySettle {
    fn drop(&mut self) {
        // Unsettled: back to the head of the queue, as RabbitMQ does when a consumer goes away,
        // or to the dead letters once the delivery limit is reached.
        if let Some(mut queued) = self.queued.take() {
            queued.deliveries += 1;
            if queued.deliveries > self.shared.delivery_limit {
                self.shared
                    .dead_letter(queued.message, "delivery limit reached");
            } else {
                self.shared.push(&self.agent, queued, true);
            }
        }
    }
}

#[async_trait]
impl Settle for MemorySettle {
    async fn ack(mut self: Box<Self>) -> Result<(), BrokerError> {
        self.queued = None;
        Ok(())
    }

    async fn retry(
        mut self: Box<Self>,
        message: TaskMessage,
        delay: Duration,
    ) -> Result<(), BrokerError> {
        self.queued = None;
        let shared = Arc::clone(&self.shared);
        let agent = self.agent.clone();
        // Not durable, like everything here: a retry waiting when the process stops is lost.
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            shared.push(
                &agent,
                Queued {
                    message,
                    deliveries: 0,
                },
                false,
            );
        });
        Ok(())
    }

    async fn dead_letter(
        mut self: Box<Self>,
        message: TaskMessage,
        reason: &str,
    ) -> Result<(), BrokerError> {
        self.queued = None;
        self.shared.dead_letter(message, reason);
        Ok(())
    }

    async fn requeue(self: Box<Self>) -> Result<(), BrokerError> {
        // Dropping does it.
        Ok(())
    }
}

struct Consumer {
    shared: Arc<Shared>,
    agent: String,
    notify: Arc<Notify>,
    permits: Arc<Semaphore>,
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn publish(&self, message: &TaskMessage) -> Result<(), BrokerError> {
        self.shared.push(
            message.agent(),
            Queued {
                message: message.clone(),
                deliveries: 0,
            },
            false,
        );
        Ok(())
    }

    async fn consume(&self, agent: &str, prefetch: u16) -> Result<DeliveryStream, BrokerError> {
        let notify = Arc::clone(
            &self
                .shared
                .lock()
                .entry(agent.to_owned())
                .or_default()
                .notify,
        );
        let consumer = Consumer {
            shared: Arc::clone(&self.shared),
            agent: agent.to_owned(),
            notify,
            permits: Arc::new(Semaphore::new(usize::from(prefetch.max(1)))),
        };
        Ok(Box::pin(stream::unfold(consumer, |c| async move {
            let permit = Arc::clone(&c.permits).acquire_owned().await.ok()?;
            let notify = Arc::clone(&c.notify);
            loop {
                let notified = notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let next = c
                    .shared
                    .lock()
                    .get_mut(&c.agent)
                    .and_then(|q| q.ready.pop_front());
                if let Some(queued) = next {
                    let delivery = Delivery {
                        message: queued.message.clone(),
                        redelivered: queued.deliveries > 0,
                        delivery_count: queued.deliveries,
                        settle: Box::new(MemorySettle {
                            shared: Arc::clone(&c.shared),
                            agent: c.agent.clone(),
                            queued: Some(queued),
                            _permit: permit,
                        }),
                    };
                    return Some((Ok(delivery), c));
                }
                notified.await;
            }
        })))
    }

    async fn dead_letters(&self, agent: &str) -> Result<Vec<DeadLetter>, BrokerError> {
        Ok(self
            .shared
            .lock()
            .get(agent)
            .map(|q| q.dead.iter().map(|(_, d)| d.clone()).collect())
            .unwrap_or_default())
    }

    async fn replay(
        &self,
        agent: &str,
        task_id: Option<&str>,
    ) -> Result<Vec<DeadLetter>, BrokerError> {
        let mut queues = self.shared.lock();
        let queue = queues.entry(agent.to_owned()).or_default();
        let (chosen, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut queue.dead)
            .into_iter()
            .partition(|(m, _)| task_id.is_none_or(|id| m.task_id() == id));
        queue.dead = kept;
        let mut moved = Vec::with_capacity(chosen.len());
        for (mut message, letter) in chosen {
            message.replayed = true;
            message.attempt = 0;
            queue.ready.push_back(Queued {
                message,
                deliveries: 0,
            });
            queue.notify.notify_one();
            moved.push(letter);
        }
        Ok(moved)
    }

    async fn depth(&self, agent: &str) -> Result<QueueDepth, BrokerError> {
        Ok(self
            .shared
            .lock()
            .get(agent)
            .map(|q| QueueDepth {
                ready: q.ready.len() as u64,
                dead_letters: q.dead.len() as u64,
            })
            .unwrap_or_default())
    }

    async fn ready(&self) -> bool {
        true
    }
}

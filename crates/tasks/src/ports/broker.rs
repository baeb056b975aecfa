//! The work queues: one per agent, with delayed retries and a dead-letter queue
//! (RabbitMQ quorum queues; memory when embedded).

use std::{fmt, pin::Pin, time::Duration};

use async_trait::async_trait;
use futures::Stream;

use super::Cause;
use crate::model::TaskMessage;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker could not be reached, or the connection failed while `doing` something.
    #[error("the broker is unavailable ({doing})")]
    Unavailable {
        doing: &'static str,
        #[source]
        source: Cause,
    },
    /// The broker refused a message it was asked to take (a negative publisher confirm).
    #[error("the broker refused the message for {queue}: {reason}")]
    Refused { queue: String, reason: String },
    /// A message on the queue could not be read.
    #[error("a message on the queue could not be read")]
    Malformed(#[source] Cause),
}

impl BrokerError {
    pub fn unavailable(doing: &'static str, source: impl Into<Cause>) -> Self {
        Self::Unavailable {
            doing,
            source: source.into(),
        }
    }
}

/// How a received message is settled. Exactly one method is called; dropping a delivery
/// unsettled hands the message back to the queue (as a crash would).
#[async_trait]
pub trait Settle: Send + fmt::Debug {
    /// Done: the message leaves the queue.
    async fn ack(self: Box<Self>) -> Result<(), BrokerError>;
    /// Try again after `delay`: `message` (with its attempt count and history) goes to a retry
    /// queue, then this delivery is acked.
    async fn retry(
        self: Box<Self>,
        message: TaskMessage,
        delay: Duration,
    ) -> Result<(), BrokerError>;
    /// Give up: `message` goes to the dead-letter queue with `reason`, then this delivery is acked.
    async fn dead_letter(
        self: Box<Self>,
        message: TaskMessage,
        reason: &str,
    ) -> Result<(), BrokerError>;
    /// Put the message back for another consumer (shutdown).
    async fn requeue(self: Box<Self>) -> Result<(), BrokerError>;
}

/// One received message.
#[derive(Debug)]
pub struct Delivery {
    pub message: TaskMessage,
    /// The broker delivered this message before (to a consumer that did not settle it).
    pub redelivered: bool,
    /// Earlier unsettled deliveries of this message, as the broker counts them.
    pub delivery_count: u32,
    pub settle: Box<dyn Settle>,
}

pub type DeliveryStream = Pin<Box<dyn Stream<Item = Result<Delivery, BrokerError>> + Send>>;

/// A message waiting in an agent's dead-letter queue.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub task_id: String,
    pub agent: String,
    pub reason: String,
    pub attempts: u32,
    pub history: Vec<String>,
    /// When it was dead-lettered (ms since the epoch).
    pub at: i64,
}

/// Messages waiting in an agent's queues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub ready: u64,
    pub dead_letters: u64,
}

#[async_trait]
pub trait Broker: Send + Sync + fmt::Debug {
    /// Puts a message on its agent's work queue; returns once the broker has confirmed it.
    async fn publish(&self, message: &TaskMessage) -> Result<(), BrokerError>;

    /// Receives an agent's messages, at most `prefetch` unsettled at a time. The stream survives
    /// connection loss (it reconnects); it ends only when dropped.
    async fn consume(&self, agent: &str, prefetch: u16) -> Result<DeliveryStream, BrokerError>;

    /// What waits in the agent's dead-letter queue, oldest first, leaving it there.
    async fn dead_letters(&self, agent: &str) -> Result<Vec<DeadLetter>, BrokerError>;

    /// Moves dead letters (all, or one task's) back to the work queue, marked as replayed;
    /// returns what was moved.
    async fn replay(
        &self,
        agent: &str,
        task_id: Option<&str>,
    ) -> Result<Vec<DeadLetter>, BrokerError>;

    async fn depth(&self, agent: &str) -> Result<QueueDepth, BrokerError>;

    async fn ready(&self) -> bool;
}

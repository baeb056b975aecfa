use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::{StreamExt, stream};
use lapin::{
    Acker, Channel,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicQosOptions,
        QueueDeclareOptions,
    },
    types::{FieldTable, ShortString},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    ChannelPool, codec,
    pool::{self, Use, failed},
};
use crate::{
    model::TaskMessage,
    ports::{Broker, BrokerError, DeadLetter, Delivery, DeliveryStream, QueueDepth, Settle},
};

/// Most dead letters one listing or replay reads.
const MAX_DEAD_LETTERS: usize = 10_000;

/// Work queues on RabbitMQ.
#[derive(Debug, Clone)]
pub struct AmqpBroker {
    pool: Arc<ChannelPool>,
}

impl AmqpBroker {
    pub(crate) fn new(pool: Arc<ChannelPool>) -> Self {
        Self { pool }
    }
}

/// A received message: acked, retried, dead-lettered or requeued on the channel it came from.
/// The channel handle keeps its connection open until the message is settled.
#[derive(Debug)]
struct AmqpSettle {
    acker: Acker,
    _channel: Channel,
    pool: Arc<ChannelPool>,
    agent: String,
    settled: bool,
}

impl Drop for AmqpSettle {
    fn drop(&mut self) {
        if !self.settled
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let acker = self.acker.clone();
            runtime.spawn(async move {
                // If the channel is gone the broker requeues the message by itself.
                let _ = acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await;
            });
        }
    }
}

impl AmqpSettle {
    async fn ack(&mut self) -> Result<(), BrokerError> {
        self.settled = true;
        self.acker
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .map_err(failed("acking a message"))
    }

    async fn nack(&mut self, requeue: bool) -> Result<(), BrokerError> {
        self.settled = true;
        self.acker
            .nack(BasicNackOptions {
                requeue,
                ..BasicNackOptions::default()
            })
            .await
            .map(|_| ())
            .map_err(failed("handing a message back"))
    }

    /// Publishes the message elsewhere, then acks this delivery; if the publish fails the
    /// delivery goes back to its queue instead.
    async fn forward(
        &mut self,
        queue: &str,
        message: &TaskMessage,
        reason: Option<&str>,
        expiration: Option<Duration>,
    ) -> Result<(), BrokerError> {
        let (payload, mut properties) = codec::encode(message, reason)?;
        if let Some(expiration) = expiration {
            properties =
                properties.with_expiration(ShortString::from(expiration.as_millis().to_string()));
        }
        if let Err(err) = self
            .pool
            .publish(Use::Agent(&self.agent), queue, &payload, properties)
            .await
        {
            let _ = self.nack(true).await;
            return Err(err);
        }
        self.ack().await
    }
}

#[async_trait]
impl Settle for AmqpSettle {
    async fn ack(mut self: Box<Self>) -> Result<(), BrokerError> {
        AmqpSettle::ack(&mut self).await
    }

    async fn retry(
        mut self: Box<Self>,
        message: TaskMessage,
        delay: Duration,
    ) -> Result<(), BrokerError> {
        // The retry queue whose TTL is the first at or above the (jittered) delay; the message's
        // own expiration shortens its wait to exactly that delay.
        let levels = self.pool.retry.levels();
        let level = levels
            .iter()
            .copied()
            .find(|l| *l >= delay)
            .or_else(|| levels.last().copied())
            .unwrap_or(delay);
        let queue = self.pool.names.retry(&self.agent, level);
        self.forward(&queue, &message, None, Some(delay.min(level)))
            .await
    }

    async fn dead_letter(
        mut self: Box<Self>,
        message: TaskMessage,
        reason: &str,
    ) -> Result<(), BrokerError> {
        let queue = self.pool.names.dlq(&self.agent);
        self.forward(&queue, &message, Some(reason), None).await
    }

    async fn requeue(mut self: Box<Self>) -> Result<(), BrokerError> {
        self.nack(true).await
    }
}

/// Opens a connection and a consumer on the agent's work queue.
async fn open_consumer(
    pool: &ChannelPool,
    agent: &str,
    prefetch: u16,
    attempt: u64,
) -> Result<(Channel, lapin::Consumer), BrokerError> {
    let name = format!("{}-consume-{agent}-{attempt}", pool.name());
    let connection = pool.connect(&name).await?;
    pool::within(pool.timeout, "starting a consumer", async {
        let channel = connection
            .create_channel()
            .await
            .map_err(failed("opening a channel"))?;
        // The channel keeps the connection open; the `Connection` handle itself may go.
        drop(connection);
        pool.declare(&channel, Use::Agent(agent))
            .await
            .map_err(failed("declaring queues"))?;
        channel
            .basic_qos(prefetch.max(1), BasicQosOptions::default())
            .await
            .map_err(failed("setting the prefetch"))?;
        let consumer = channel
            .basic_consume(
                pool.names.tasks(agent).into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(failed("starting a consumer"))?;
        Ok((channel, consumer))
    })
    .await
}

/// Feeds deliveries into `tx` until it closes or `stop` fires, reconnecting after any failure.
async fn consume_loop(
    pool: Arc<ChannelPool>,
    agent: String,
    prefetch: u16,
    tx: mpsc::Sender<Result<Delivery, BrokerError>>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    let mut attempt = 0u64;
    while !stop.is_cancelled() && !tx.is_closed() {
        attempt += 1;
        match open_consumer(&pool, &agent, prefetch, attempt).await {
            Ok((channel, mut consumer)) => {
                if attempt > 1 {
                    tracing::info!(%agent, "consuming again after reconnecting to RabbitMQ");
                }
                backoff = Duration::from_millis(100);
                let mut health = tokio::time::interval(Duration::from_secs(1));
                loop {
                    let next = tokio::select! {
                        () = stop.cancelled() => return,
                        next = consumer.next() => next,
                        // A connection lost without an error on the consumer stream would
                        // otherwise leave this loop waiting forever.
                        _ = health.tick() => {
                            if channel.status().connected() {
                                continue;
                            }
                            tracing::warn!(%agent, "the RabbitMQ channel closed; reconnecting");
                            break;
                        }
                    };
                    let delivery = match next {
                        Some(Ok(d)) => d,
                        Some(Err(err)) => {
                            tracing::warn!(%agent, %err, "lost the RabbitMQ consumer; reconnecting");
                            break;
                        }
                        None => {
                            tracing::warn!(%agent, "the RabbitMQ consumer was canceled; reconnecting");
                            break;
                        }
                    };
                    let message = match codec::decode(&delivery.data, &delivery.properties) {
                        Ok(m) => m,
                        Err(err) => {
                            // Unreadable: reject without requeue, so the broker dead-letters it.
                            let err = intentmesh_core::errors::Chain::of(&err);
                            tracing::error!(%agent, error = %err, "rejecting an unreadable task message to the dead-letter queue");
                            let _ = delivery.acker.nack(BasicNackOptions::default()).await;
                            continue;
                        }
                    };
                    let settle = AmqpSettle {
                        acker: delivery.acker.clone(),
                        _channel: channel.clone(),
                        pool: Arc::clone(&pool),
                        agent: agent.clone(),
                        settled: false,
                    };
                    let out = Delivery {
                        message,
                        redelivered: delivery.redelivered,
                        delivery_count: codec::delivery_count(&delivery.properties),
                        settle: Box::new(settle),
                    };
                    if tx.send(Ok(out)).await.is_err() {
                        return;
                    }
                }
            }
            Err(err) => {
                let err = intentmesh_core::errors::Chain::of(&err);
                tracing::warn!(%agent, error = %err, retry_in = ?backoff, "cannot consume from RabbitMQ");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Reads up to [`MAX_DEAD_LETTERS`] messages from a queue without consuming them for good:
/// `keep` decides per message whether to ack it (taken) or leave it (requeued at the end).
async fn sweep_dead_letters<F, Fut>(
    pool: &ChannelPool,
    agent: &str,
    mut take: F,
) -> Result<Vec<DeadLetter>, BrokerError>
where
    F: FnMut(DeadLetter, lapin::message::Delivery) -> Fut,
    // What to report, and whether the closure settled (acked) the delivery itself.
    Fut: std::future::Future<Output = Result<(Option<DeadLetter>, bool), BrokerError>>,
{
    let channel = pool.open_channel(Use::Agent(agent)).await?;
    let queue = pool.names.dlq(agent);
    let mut out = Vec::new();
    let mut seen = 0;
    // The last message looked at and left unsettled (settled ones are acked already).
    let mut last_kept = None;
    let mut kept = 0u32;
    while seen < MAX_DEAD_LETTERS {
        let Some(got) = channel
            .basic_get(queue.as_str().into(), BasicGetOptions::default())
            .await
            .map_err(failed("reading dead letters"))?
        else {
            break;
        };
        seen += 1;
        let delivery = got.delivery;
        let tag = delivery.delivery_tag;
        let letter = codec::dead_letter(&delivery.data, &delivery.properties, agent);
        let (report, settled) = take(letter, delivery).await?;
        out.extend(report);
        if !settled {
            last_kept = Some(tag);
            kept += 1;
        }
    }
    // Return what was looked at but not taken, and wait until the queue counts it again: the
    // return reaches a quorum queue asynchronously, and the next listing, replay or depth must
    // see it.
    if let Some(tag) = last_kept {
        channel
            .basic_nack(
                tag,
                BasicNackOptions {
                    multiple: true,
                    requeue: true,
                },
            )
            .await
            .map_err(failed("returning dead letters"))?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let ready = channel
                .queue_declare(queue.as_str().into(), passive, FieldTable::default())
                .await
                .map_err(failed("counting dead letters"))?
                .message_count();
            if ready >= kept || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let _ = channel.close(200, "done".into()).await;
    Ok(out)
}

#[async_trait]
impl Broker for AmqpBroker {
    async fn publish(&self, message: &TaskMessage) -> Result<(), BrokerError> {
        let (payload, properties) = codec::encode(message, None)?;
        let queue = self.pool.names.tasks(message.agent());
        self.pool
            .publish(Use::Agent(message.agent()), &queue, &payload, properties)
            .await
    }

    async fn consume(&self, agent: &str, prefetch: u16) -> Result<DeliveryStream, BrokerError> {
        // No fail-fast here: the ports connected at start-up, and a broker that has gone since is
        // the consume loop's to wait for (it reconnects with backoff), not a reason to stop.
        let (tx, rx) = mpsc::channel(usize::from(prefetch.max(1)));
        let stop = CancellationToken::new();
        tokio::spawn(consume_loop(
            Arc::clone(&self.pool),
            agent.to_owned(),
            prefetch,
            tx,
            stop.clone(),
        ));
        let guard = stop.drop_guard();
        Ok(Box::pin(stream::unfold(
            (rx, guard),
            |(mut rx, guard)| async move { rx.recv().await.map(|item| (item, (rx, guard))) },
        )))
    }

    async fn dead_letters(&self, agent: &str) -> Result<Vec<DeadLetter>, BrokerError> {
        sweep_dead_letters(&self.pool, agent, |letter, _delivery| async move {
            Ok((Some(letter), false))
        })
        .await
    }

    async fn replay(
        &self,
        agent: &str,
        task_id: Option<&str>,
    ) -> Result<Vec<DeadLetter>, BrokerError> {
        let pool = &self.pool;
        sweep_dead_letters(pool, agent, |letter, delivery| async move {
            if task_id.is_some_and(|id| id != letter.task_id) {
                return Ok((None, false));
            }
            let mut message = match codec::decode(&delivery.data, &delivery.properties) {
                Ok(m) => m,
                // An unreadable dead letter stays where it is, for a human to look at.
                Err(_) => return Ok((None, false)),
            };
            message.replayed = true;
            message.attempt = 0;
            let (payload, properties) = codec::encode(&message, None)?;
            pool.publish(
                Use::Agent(agent),
                &pool.names.tasks(agent),
                &payload,
                properties,
            )
            .await?;
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .map_err(failed("acking a replayed dead letter"))?;
            Ok((Some(letter), true))
        })
        .await
    }

    async fn depth(&self, agent: &str) -> Result<QueueDepth, BrokerError> {
        let channel = self.pool.open_channel(Use::Agent(agent)).await?;
        let (ready, dead) = super::topology::declare_agent(
            &channel,
            &self.pool.names,
            agent,
            &self.pool.retry,
            self.pool.delivery_limit,
        )
        .await
        .map_err(failed("counting messages"))?;
        let _ = channel.close(200, "done".into()).await;
        Ok(QueueDepth {
            ready: u64::from(ready),
            dead_letters: u64::from(dead),
        })
    }

    async fn ready(&self) -> bool {
        self.pool.ready().await
    }
}

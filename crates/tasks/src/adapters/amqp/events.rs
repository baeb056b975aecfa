use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, stream};
use lapin::{
    BasicProperties,
    options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions},
    types::{AMQPValue, FieldTable, LongString},
};

use super::{
    ChannelPool,
    codec::{header_text, headers},
    pool::Use,
};
use crate::{
    model::TaskEvent,
    ports::{Cause, EventLog, EventLogError, EventStream},
};

/// Task lifecycle events on the RabbitMQ stream `<prefix>.task-events`: appended with publisher
/// confirms, read from a timestamp offset (the task's creation), filtered by task id.
#[derive(Debug, Clone)]
pub struct AmqpEventLog {
    pool: Arc<ChannelPool>,
}

impl AmqpEventLog {
    pub(crate) fn new(pool: Arc<ChannelPool>) -> Self {
        Self { pool }
    }
}

/// `map_err(failed("appending"))`: the log failed while `doing` something.
fn failed<E: Into<Cause>>(doing: &'static str) -> impl FnOnce(E) -> EventLogError {
    move |e| EventLogError::unavailable(doing, e)
}

#[async_trait]
impl EventLog for AmqpEventLog {
    async fn append(&self, event: &TaskEvent) -> Result<(), EventLogError> {
        let body = serde_json::to_vec(event).map_err(failed("encoding an event"))?;
        let mut table = FieldTable::default();
        table.insert(
            headers::TASK.into(),
            AMQPValue::LongString(LongString::from(event.task_id.as_str())),
        );
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_headers(table);
        self.pool
            .publish(Use::Events, &self.pool.names.events(), &body, properties)
            .await
            .map_err(failed("appending an event"))
    }

    async fn subscribe(&self, task_id: &str, since: i64) -> Result<EventStream, EventLogError> {
        let channel = self
            .pool
            .open_channel(Use::Events)
            .await
            .map_err(failed("opening a channel"))?;
        // Stream consumers need a prefetch and manual acks (acks return credit).
        channel
            .basic_qos(200, BasicQosOptions::default())
            .await
            .map_err(failed("setting the prefetch"))?;
        let mut args = FieldTable::default();
        // Timestamp offsets have a resolution of seconds and start at a chunk boundary: start a
        // second early and filter.
        let from = u64::try_from(since / 1000 - 1).unwrap_or(0);
        args.insert("x-stream-offset".into(), AMQPValue::Timestamp(from));
        let consumer = channel
            .basic_consume(
                self.pool.names.events().into(),
                "".into(),
                BasicConsumeOptions::default(),
                args,
            )
            .await
            .map_err(failed("following the stream"))?;
        let wanted = task_id.to_owned();
        Ok(Box::pin(stream::unfold(
            (consumer, channel, wanted),
            move |(mut consumer, channel, wanted)| async move {
                loop {
                    let delivery = match consumer.next().await? {
                        Ok(d) => d,
                        Err(err) => {
                            let err = EventLogError::unavailable("following the stream", err);
                            return Some((Err(err), (consumer, channel, wanted)));
                        }
                    };
                    let _ = delivery.acker.ack(BasicAckOptions::default()).await;
                    if header_text(&delivery.properties, headers::TASK).as_deref()
                        != Some(wanted.as_str())
                    {
                        continue;
                    }
                    match serde_json::from_slice::<TaskEvent>(&delivery.data) {
                        Ok(event) if event.at >= since => {
                            return Some((Ok(event), (consumer, channel, wanted)));
                        }
                        Ok(_) => {}
                        Err(err) => {
                            tracing::warn!(%err, task_id = %wanted, "skipping an unreadable task event");
                        }
                    }
                }
            },
        )))
    }

    async fn ready(&self) -> bool {
        self.pool.ready().await
    }
}

//! Queue names and declarations. Declaring is idempotent: every new connection declares what it
//! is about to use, so a broker that lost its definitions gets them back.

use std::time::Duration;

use lapin::{
    Channel,
    options::QueueDeclareOptions,
    types::{AMQPValue, FieldTable, LongString},
};

use crate::settings::RetryPolicy;

/// The names of every queue, from one prefix.
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
}

impl Names {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// `<prefix>.<agent>.tasks`: the agent's work, a quorum queue.
    pub fn tasks(&self, agent: &str) -> String {
        format!("{}.{agent}.tasks", self.prefix)
    }

    /// `<prefix>.<agent>.retry.<ms>ms`: messages waiting `delay` before going back to work. Named
    /// by their delay, so a changed retry policy declares new queues instead of clashing with
    /// the old ones (which drain by themselves).
    pub fn retry(&self, agent: &str, delay: Duration) -> String {
        format!("{}.{agent}.retry.{}ms", self.prefix, delay.as_millis())
    }

    /// `<prefix>.<agent>.dlq`: messages that used up their attempts.
    pub fn dlq(&self, agent: &str) -> String {
        format!("{}.{agent}.dlq", self.prefix)
    }

    /// `<prefix>.task-events`: the lifecycle event stream.
    pub fn events(&self) -> String {
        format!("{}.task-events", self.prefix)
    }
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Declares an agent's work queue, its retry queues and its dead-letter queue. Returns the number
/// of messages ready on the work queue and on the dead-letter queue.
pub(crate) async fn declare_agent(
    channel: &Channel,
    names: &Names,
    agent: &str,
    retry: &RetryPolicy,
    delivery_limit: u32,
) -> Result<(u32, u32), lapin::Error> {
    let mut dlq_args = FieldTable::default();
    dlq_args.insert("x-queue-type".into(), text("quorum"));
    let dlq = channel
        .queue_declare(names.dlq(agent).into(), durable(), dlq_args)
        .await?;

    let mut task_args = FieldTable::default();
    task_args.insert("x-queue-type".into(), text("quorum"));
    // Debian's RabbitMQ 3.10 has no default limit: without one a poison message loops forever.
    task_args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(i64::from(delivery_limit)),
    );
    task_args.insert("x-dead-letter-exchange".into(), text(""));
    task_args.insert("x-dead-letter-routing-key".into(), text(&names.dlq(agent)));
    let tasks = channel
        .queue_declare(names.tasks(agent).into(), durable(), task_args)
        .await?;

    for delay in retry.levels() {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), text("quorum"));
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        );
        args.insert("x-dead-letter-exchange".into(), text(""));
        args.insert(
            "x-dead-letter-routing-key".into(),
            text(&names.tasks(agent)),
        );
        channel
            .queue_declare(names.retry(agent, delay).into(), durable(), args)
            .await?;
    }
    Ok((tasks.message_count(), dlq.message_count()))
}

/// Declares the lifecycle event stream (kept 7 days).
pub(crate) async fn declare_events(channel: &Channel, names: &Names) -> Result<(), lapin::Error> {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), text("stream"));
    args.insert("x-max-age".into(), text("7D"));
    channel
        .queue_declare(names.events().into(), durable(), args)
        .await?;
    Ok(())
}

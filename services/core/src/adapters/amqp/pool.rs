//! A fixed set of publishing connections (`RABBITMQ_CONNECTION_POOL_SIZE`), each with one
//! channel in confirm mode, reconnected on first use after a failure.

use std::{
    collections::HashSet,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties,
    options::{BasicPublishOptions, ConfirmSelectOptions},
    types::LongString,
};
use tokio::sync::Mutex;

use super::{
    AmqpConfig, Names,
    topology::{declare_agent, declare_events},
};
use crate::{ports::BrokerError, tasks::RetryPolicy};

/// What a channel is about to be used for, so its connection declares that topology first.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Use<'a> {
    Agent(&'a str),
    Events,
}

#[derive(Debug)]
struct Slot {
    connection: Connection,
    channel: Channel,
    declared: HashSet<String>,
}

#[derive(Debug)]
pub(crate) struct ChannelPool {
    url: String,
    name: String,
    pub(crate) names: Names,
    pub(crate) retry: RetryPolicy,
    pub(crate) delivery_limit: u32,
    pub(crate) timeout: Duration,
    slots: Vec<Mutex<Option<Slot>>>,
    next: AtomicUsize,
}

pub(crate) fn unavailable(err: impl std::fmt::Display) -> BrokerError {
    BrokerError::Unavailable(err.to_string())
}

/// Opens one connection, bounded by `timeout`.
pub(crate) async fn connect(
    url: &str,
    name: &str,
    timeout: Duration,
) -> Result<Connection, BrokerError> {
    let properties =
        ConnectionProperties::default().with_connection_name(LongString::from(name.to_owned()));
    tokio::time::timeout(timeout, Connection::connect(url, properties))
        .await
        .map_err(|_| unavailable(format!("no connection to RabbitMQ within {timeout:?}")))?
        .map_err(unavailable)
}

impl ChannelPool {
    pub(crate) fn new(config: &AmqpConfig, name: &str) -> Self {
        Self {
            url: config.url.clone(),
            name: name.to_owned(),
            names: Names::new(&config.prefix),
            retry: config.retry,
            delivery_limit: config.delivery_limit,
            timeout: config.timeout,
            slots: (0..config.pool_size.max(1))
                .map(|_| Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Declares what `purpose` needs on `channel`.
    pub(crate) async fn declare(
        &self,
        channel: &Channel,
        purpose: Use<'_>,
    ) -> Result<(), lapin::Error> {
        match purpose {
            Use::Agent(agent) => {
                declare_agent(
                    channel,
                    &self.names,
                    agent,
                    &self.retry,
                    self.delivery_limit,
                )
                .await?;
            }
            Use::Events => declare_events(channel, &self.names).await?,
        }
        Ok(())
    }

    /// A confirm-mode channel from the next slot, (re)connecting it if needed and declaring what
    /// `purpose` needs on that connection once.
    pub(crate) async fn channel(&self, purpose: Use<'_>) -> Result<(usize, Channel), BrokerError> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[index].lock().await;
        if slot
            .as_ref()
            .is_some_and(|s| !s.connection.status().connected() || !s.channel.status().connected())
        {
            *slot = None;
        }
        if slot.is_none() {
            let connection = connect(
                &self.url,
                &format!("{}-publish-{index}", self.name),
                self.timeout,
            )
            .await?;
            let channel = connection.create_channel().await.map_err(unavailable)?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(unavailable)?;
            *slot = Some(Slot {
                connection,
                channel,
                declared: HashSet::new(),
            });
        }
        let Some(s) = slot.as_mut() else {
            return Err(unavailable("no channel"));
        };
        let key = match purpose {
            Use::Agent(a) => a.to_owned(),
            Use::Events => String::new(),
        };
        if !s.declared.contains(&key) {
            if let Err(err) = self.declare(&s.channel, purpose).await {
                *slot = None;
                return Err(unavailable(err));
            }
            s.declared.insert(key);
        }
        Ok((index, s.channel.clone()))
    }

    /// A new channel (not in confirm mode) on a pooled connection, for getting and acking
    /// messages apart from the shared publishing channel.
    pub(crate) async fn open_channel(&self, purpose: Use<'_>) -> Result<Channel, BrokerError> {
        let (index, _) = self.channel(purpose).await?;
        let slot = self.slots[index].lock().await;
        match slot.as_ref() {
            Some(s) => s.connection.create_channel().await.map_err(unavailable),
            None => Err(unavailable("the connection closed")),
        }
    }

    /// Forgets a slot's connection after a failure on it.
    async fn invalidate(&self, index: usize) {
        let mut slot = self.slots[index].lock().await;
        if let Some(s) = slot.take() {
            // Best effort: the connection is usually dead already.
            let _ = s.connection.close(320, "reconnecting".into()).await;
        }
    }

    /// Publishes to the default exchange and waits for the broker's confirm. A connection error
    /// is retried once on a fresh connection (a repeat is harmless: consumers are idempotent).
    pub(crate) async fn publish(
        &self,
        purpose: Use<'_>,
        queue: &str,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<(), BrokerError> {
        let mut last = None;
        for _ in 0..2 {
            let (index, channel) = self.channel(purpose).await?;
            match self
                .publish_on(&channel, queue, payload, properties.clone())
                .await
            {
                Ok(()) => return Ok(()),
                Err(err @ BrokerError::Refused(_)) => return Err(err),
                Err(err) => {
                    self.invalidate(index).await;
                    last = Some(err);
                }
            }
        }
        Err(last.unwrap_or_else(|| unavailable("publish failed")))
    }

    async fn publish_on(
        &self,
        channel: &Channel,
        queue: &str,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<(), BrokerError> {
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                payload,
                properties,
            )
            .await
            .map_err(unavailable)?;
        let confirmation = tokio::time::timeout(self.timeout, confirm)
            .await
            .map_err(|_| unavailable(format!("no publisher confirm within {:?}", self.timeout)))?
            .map_err(unavailable)?;
        if confirmation.is_nack() {
            return Err(BrokerError::Refused(format!("{queue} refused the message")));
        }
        if let Some(returned) = confirmation.take_message() {
            return Err(BrokerError::Refused(format!(
                "{queue}: {}",
                returned.reply_text
            )));
        }
        Ok(())
    }

    /// Whether a connection to the broker exists or can be made now.
    pub(crate) async fn ready(&self) -> bool {
        for slot in &self.slots {
            if let Ok(slot) = slot.try_lock()
                && slot
                    .as_ref()
                    .is_some_and(|s| s.connection.status().connected())
            {
                return true;
            }
        }
        matches!(
            tokio::time::timeout(Duration::from_secs(1), self.channel(Use::Events)).await,
            Ok(Ok(_))
        )
    }
}

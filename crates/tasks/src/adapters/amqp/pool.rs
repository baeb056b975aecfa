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
    tcp::OwnedTLSConfig,
    types::LongString,
};
use tokio::sync::Mutex;

use super::{
    AmqpConfig, Names,
    topology::{declare_agent, declare_events},
};
use crate::{
    ports::{BrokerError, Cause},
    settings::RetryPolicy,
};

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
    ca_pem: Option<std::sync::Arc<str>>,
    name: String,
    pub(crate) names: Names,
    pub(crate) retry: RetryPolicy,
    pub(crate) delivery_limit: u32,
    pub(crate) timeout: Duration,
    slots: Vec<Mutex<Option<Slot>>>,
    next: AtomicUsize,
}

/// `map_err(failed("publishing"))`: the broker failed while `doing` something.
pub(crate) fn failed<E: Into<Cause>>(doing: &'static str) -> impl FnOnce(E) -> BrokerError {
    move |e| BrokerError::unavailable(doing, e)
}

/// Opens one connection, bounded by `timeout`; over TLS for `amqps://`, trusting the system's
/// roots and `ca_pem` (`TLS_CA_FILE`).
pub(crate) async fn connect(
    url: &str,
    ca_pem: Option<&str>,
    name: &str,
    timeout: Duration,
) -> Result<Connection, BrokerError> {
    let properties =
        ConnectionProperties::default().with_connection_name(LongString::from(name.to_owned()));
    let tls = OwnedTLSConfig {
        identity: None,
        cert_chain: ca_pem.map(str::to_owned),
    };
    let connecting = async {
        lapin::DefaultConnectionBuilder::new()?
            .with_uri_str(url.to_owned())
            .with_properties(properties)
            .with_tls_config(tls)
            .connect()
            .await
    };
    tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| {
            BrokerError::unavailable("connecting", format!("no connection within {timeout:?}"))
        })?
        .map_err(failed("connecting"))
}

/// `op` within `timeout`: a broker that stops answering mid-operation (a connection cut, a
/// half-open socket) must not hold a pool slot, or a consumer, for ever.
pub(crate) async fn within<T>(
    timeout: Duration,
    what: &'static str,
    op: impl std::future::Future<Output = Result<T, BrokerError>>,
) -> Result<T, BrokerError> {
    tokio::time::timeout(timeout, op)
        .await
        .map_err(|_| BrokerError::unavailable(what, format!("no answer within {timeout:?}")))?
}

impl ChannelPool {
    pub(crate) fn new(config: &AmqpConfig, name: &str) -> Self {
        Self {
            url: config.url.clone(),
            ca_pem: config.ca_pem.clone(),
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

    /// Opens a connection of this pool's broker (a consumer's own), named `name`.
    pub(crate) async fn connect(&self, name: &str) -> Result<Connection, BrokerError> {
        connect(&self.url, self.ca_pem.as_deref(), name, self.timeout).await
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
            let connection = self
                .connect(&format!("{}-publish-{index}", self.name))
                .await?;
            let channel = within(self.timeout, "opening a channel", async {
                let channel = connection
                    .create_channel()
                    .await
                    .map_err(failed("opening a channel"))?;
                channel
                    .confirm_select(ConfirmSelectOptions::default())
                    .await
                    .map_err(failed("turning on publisher confirms"))?;
                Ok(channel)
            })
            .await?;
            *slot = Some(Slot {
                connection,
                channel,
                declared: HashSet::new(),
            });
        }
        let Some(s) = slot.as_mut() else {
            return Err(BrokerError::unavailable("opening a channel", "no channel"));
        };
        let key = match purpose {
            Use::Agent(a) => a.to_owned(),
            Use::Events => String::new(),
        };
        if !s.declared.contains(&key) {
            let declared = within(self.timeout, "declaring queues", async {
                self.declare(&s.channel, purpose)
                    .await
                    .map_err(|err| BrokerError::unavailable("declaring queues", err))
            })
            .await;
            if let Err(err) = declared {
                *slot = None;
                return Err(err);
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
            Some(s) => {
                within(self.timeout, "opening a channel", async {
                    s.connection
                        .create_channel()
                        .await
                        .map_err(failed("opening a channel"))
                })
                .await
            }
            None => Err(BrokerError::unavailable(
                "opening a channel",
                "the connection closed",
            )),
        }
    }

    /// Forgets a slot's connection after a failure on it.
    async fn invalidate(&self, index: usize) {
        let mut slot = self.slots[index].lock().await;
        if let Some(s) = slot.take() {
            // Best effort: the connection is usually dead already.
            let _ =
                tokio::time::timeout(self.timeout, s.connection.close(320, "reconnecting".into()))
                    .await;
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
                Err(err @ BrokerError::Refused { .. }) => return Err(err),
                Err(err) => {
                    self.invalidate(index).await;
                    last = Some(err);
                }
            }
        }
        Err(last.unwrap_or_else(|| BrokerError::unavailable("publishing", "publish failed")))
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
            .map_err(failed("publishing"))?;
        let confirmation = tokio::time::timeout(self.timeout, confirm)
            .await
            .map_err(|_| {
                BrokerError::unavailable(
                    "waiting for a publisher confirm",
                    format!("no confirm within {:?}", self.timeout),
                )
            })?
            .map_err(failed("waiting for a publisher confirm"))?;
        if confirmation.is_nack() {
            return Err(BrokerError::Refused {
                queue: queue.to_owned(),
                reason: "negative confirm".to_owned(),
            });
        }
        if let Some(returned) = confirmation.take_message() {
            return Err(BrokerError::Refused {
                queue: queue.to_owned(),
                reason: returned.reply_text.to_string(),
            });
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

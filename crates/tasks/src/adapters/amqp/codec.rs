//! Task messages ⇄ AMQP: the body is JSON of the task and its request (see
//! [`TaskMessage::body`]); attempt count, history, replay mark and dead-letter reason travel in
//! headers.

use lapin::{
    BasicProperties,
    types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString},
};

use crate::{
    model::{TaskMessage, now_millis},
    ports::{BrokerError, DeadLetter},
};

pub(crate) const CONTENT_TYPE: &str = "application/json";
/// The body's schema: a change that old workers could not read gets a new version.
pub(crate) const MESSAGE_TYPE: &str = "intentmesh.task.v1";

/// Header names, in one place.
pub(crate) mod headers {
    pub(crate) const ATTEMPT: &str = "x-intentmesh-attempt";
    pub(crate) const HISTORY: &str = "x-intentmesh-history";
    pub(crate) const REPLAYED: &str = "x-intentmesh-replayed";
    pub(crate) const REASON: &str = "x-intentmesh-reason";
    pub(crate) const DEAD_LETTERED_AT: &str = "x-intentmesh-dead-lettered-at";
    pub(crate) const AGENT: &str = "x-intentmesh-agent";
    pub(crate) const TASK: &str = "x-intentmesh-task";
    /// W3C trace context of the span that queued the work.
    pub(crate) const TRACEPARENT: &str = "traceparent";
    /// Set by quorum queues on redelivery.
    pub(crate) const DELIVERY_COUNT: &str = "x-delivery-count";
    /// Set by the broker when it dead-letters a message itself (delivery limit, expiry).
    pub(crate) const FIRST_DEATH_REASON: &str = "x-first-death-reason";
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// Body and properties of a task message; `reason` marks a dead letter.
pub(crate) fn encode(
    message: &TaskMessage,
    reason: Option<&str>,
) -> Result<(Vec<u8>, BasicProperties), BrokerError> {
    let body = message
        .body()
        .map_err(|e| BrokerError::Malformed(Box::new(e)))?;
    let mut table = FieldTable::default();
    table.insert(
        headers::ATTEMPT.into(),
        AMQPValue::LongLongInt(i64::from(message.attempt)),
    );
    table.insert(
        headers::HISTORY.into(),
        AMQPValue::FieldArray(FieldArray::from(
            message.history.iter().map(|h| text(h)).collect::<Vec<_>>(),
        )),
    );
    table.insert(
        headers::REPLAYED.into(),
        AMQPValue::Boolean(message.replayed),
    );
    table.insert(headers::AGENT.into(), text(message.agent()));
    table.insert(headers::TASK.into(), text(message.task_id()));
    if let Some(trace) = &message.trace {
        table.insert(headers::TRACEPARENT.into(), text(trace));
    }
    if let Some(reason) = reason {
        table.insert(headers::REASON.into(), text(reason));
        table.insert(
            headers::DEAD_LETTERED_AT.into(),
            AMQPValue::LongLongInt(now_millis()),
        );
    }
    let properties = BasicProperties::default()
        .with_message_id(ShortString::from(message.task_id().to_owned()))
        .with_content_type(CONTENT_TYPE.into())
        .with_type(MESSAGE_TYPE.into())
        .with_delivery_mode(2)
        .with_timestamp(u64::try_from(now_millis() / 1000).unwrap_or_default())
        .with_headers(table);
    Ok((body, properties))
}

fn header<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(name))
}

pub(crate) fn header_text(properties: &BasicProperties, name: &str) -> Option<String> {
    match header(properties, name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn header_int(properties: &BasicProperties, name: &str) -> Option<i64> {
    match header(properties, name)? {
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        _ => None,
    }
}

/// Earlier deliveries of a message, as a quorum queue counts them.
pub(crate) fn delivery_count(properties: &BasicProperties) -> u32 {
    header_int(properties, headers::DELIVERY_COUNT)
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0)
}

/// The content type of task bodies before they were JSON.
const PROTOBUF: &str = "application/x-protobuf";

pub(crate) fn decode(
    data: &[u8],
    properties: &BasicProperties,
) -> Result<TaskMessage, BrokerError> {
    if properties
        .content_type()
        .as_ref()
        .is_some_and(|t| t.as_str() == PROTOBUF)
    {
        return Err(BrokerError::Malformed(
            "a protobuf task body, queued by a version before task bodies were JSON: let that version drain it, or queue the request again".into(),
        ));
    }
    let history = match header(properties, headers::HISTORY) {
        Some(AMQPValue::FieldArray(items)) => items
            .as_slice()
            .iter()
            .filter_map(|v| match v {
                AMQPValue::LongString(s) => {
                    Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    TaskMessage::from_body(
        data,
        header_int(properties, headers::ATTEMPT)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0),
        history,
        matches!(
            header(properties, headers::REPLAYED),
            Some(AMQPValue::Boolean(true))
        ),
        header_text(properties, headers::TRACEPARENT),
    )
    .map_err(|e| BrokerError::Malformed(Box::new(e)))
}

/// A dead letter as listed: our reason, or the broker's when it dead-lettered the message itself.
pub(crate) fn dead_letter(data: &[u8], properties: &BasicProperties, agent: &str) -> DeadLetter {
    let reason = header_text(properties, headers::REASON)
        .or_else(|| {
            header_text(properties, headers::FIRST_DEATH_REASON)
                .map(|r| format!("dead-lettered by the broker: {r}"))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    match decode(data, properties) {
        Ok(message) => DeadLetter {
            task_id: message.task_id().to_owned(),
            agent: agent.to_owned(),
            reason,
            attempts: message.attempt,
            history: message.history,
            at: header_int(properties, headers::DEAD_LETTERED_AT).unwrap_or(0),
        },
        Err(err) => DeadLetter {
            task_id: header_text(properties, headers::TASK).unwrap_or_default(),
            agent: agent.to_owned(),
            reason: format!("{reason} ({})", intentmesh_core::errors::Chain::of(&err)),
            attempts: 0,
            history: Vec::new(),
            at: header_int(properties, headers::DEAD_LETTERED_AT).unwrap_or(0),
        },
    }
}

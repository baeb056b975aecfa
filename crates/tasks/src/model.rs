//! Tasks, their states and lifecycle events, and the message that carries one unit of work:
//! plain data, no I/O.

use std::fmt;

use intentmesh_core::{
    AgentError, ErrorCode,
    agent::{AgentRequest, Reply},
};
use serde::{Deserialize, Serialize};

pub use intentmesh_core::now_millis;

/// A task id: `task_` and 128 random bits in lower-case hex, and nothing else: no time, no
/// counter, nothing to guess a neighbour's id from (its owner is checked too: the gateway answers
/// anyone else `404`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaskId(String);

impl TryFrom<String> for TaskId {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).ok_or_else(|| {
            format!(
                "not a task id: {:?}",
                raw.chars().take(64).collect::<String>()
            )
        })
    }
}

impl From<TaskId> for String {
    fn from(id: TaskId) -> Self {
        id.0
    }
}

impl TaskId {
    pub fn generate() -> Self {
        // `thread_rng` is a CSPRNG (ChaCha12) seeded from the operating system.
        Self(format!("task_{:032x}", rand::random::<u128>()))
    }

    /// Accepts only the shape [`TaskId::generate`] produces, so a caller's id never reaches a
    /// store key or a queue header unchecked.
    pub fn parse(raw: &str) -> Option<Self> {
        let hex = raw.strip_prefix("task_")?;
        (hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Queued,
    Working,
    Success,
    Failed,
    Canceled,
}

impl TaskState {
    pub const ALL: [TaskState; 5] = [
        Self::Queued,
        Self::Working,
        Self::Success,
        Self::Failed,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Working => "working",
            Self::Success => "success",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::Failed | Self::Canceled)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a task store keeps about one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    pub id: TaskId,
    pub agent: String,
    pub skill: String,
    pub request_id: String,
    pub user_id: String,
    pub state: TaskState,
    /// Bumped by every transition; lifecycle events carry it as their sequence number.
    pub version: u64,
    /// Handler attempts started so far.
    pub attempts: u32,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// What the agent answered, once it has.
    pub result: Option<Reply>,
    pub error: Option<AgentError>,
}

/// A task about to be created, in state `queued`.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub id: TaskId,
    pub agent: String,
    pub skill: String,
    pub request_id: String,
    pub user_id: String,
    /// When set, a second task with the same key is not created: the first one is returned.
    pub dedupe_key: Option<String>,
}

impl NewTask {
    pub fn into_record(self, now: i64) -> TaskRecord {
        TaskRecord {
            id: self.id,
            agent: self.agent,
            skill: self.skill,
            request_id: self.request_id,
            user_id: self.user_id,
            state: TaskState::Queued,
            version: 1,
            attempts: 0,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            result: None,
            error: None,
        }
    }
}

/// A compare-and-set on a task's state: applied only when the current state is one of `from`.
#[derive(Debug, Clone)]
pub struct Transition {
    pub from: Vec<TaskState>,
    pub to: TaskState,
    pub attempts: Option<u32>,
    pub result: Option<Reply>,
    pub error: Option<AgentError>,
}

impl Transition {
    pub fn new(from: &[TaskState], to: TaskState) -> Self {
        Self {
            from: from.to_vec(),
            to,
            attempts: None,
            result: None,
            error: None,
        }
    }

    #[must_use]
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = Some(attempts);
        self
    }

    #[must_use]
    pub fn result(mut self, result: Reply) -> Self {
        self.result = Some(result);
        self
    }

    #[must_use]
    pub fn error(mut self, error: AgentError) -> Self {
        self.error = Some(error);
        self
    }

    /// Applies the transition to a record in memory (the in-memory store's whole logic, and the
    /// reference the Redis script follows).
    pub fn apply(&self, record: &mut TaskRecord, now: i64) -> bool {
        if !self.from.contains(&record.state) {
            return false;
        }
        record.state = self.to;
        record.version += 1;
        record.updated_at = now;
        if let Some(a) = self.attempts {
            record.attempts = a;
        }
        if self.to == TaskState::Working && record.started_at.is_none() {
            record.started_at = Some(now);
        }
        if self.to.is_terminal() {
            record.finished_at = Some(now);
        } else {
            record.finished_at = None;
        }
        if self.result.is_some() {
            record.result.clone_from(&self.result);
        }
        if self.error.is_some() || self.to == TaskState::Queued {
            record.error.clone_from(&self.error);
        }
        true
    }
}

/// What a transition did.
#[derive(Debug, Clone, PartialEq)]
pub enum TransitionOutcome {
    /// The state changed; the record as it is now.
    Applied(TaskRecord),
    /// The task was not in an allowed state; the record as it is (unchanged).
    Refused(TaskRecord),
    /// No such task (never created, or expired).
    Missing,
}

/// What happened to a task, as appended to the event log and sent over SSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Queued,
    Working,
    /// A transient failure; another attempt follows after `retry_in_ms`.
    Retrying,
    Success,
    Failed,
    Canceled,
}

impl EventKind {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::Failed | Self::Canceled)
    }

    pub fn for_state(state: TaskState) -> Self {
        match state {
            TaskState::Queued => Self::Queued,
            TaskState::Working => Self::Working,
            TaskState::Success => Self::Success,
            TaskState::Failed => Self::Failed,
            TaskState::Canceled => Self::Canceled,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Working => "working",
            Self::Retrying => "retrying",
            Self::Success => "success",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }
}

/// One lifecycle event. `(seq, kind)` identifies it: a redelivered message may append the same
/// event again, and readers drop the repeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEvent {
    pub task_id: String,
    pub seq: u64,
    pub kind: EventKind,
    pub agent: String,
    pub at: i64,
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
}

impl TaskEvent {
    /// The event that reports a record's current state.
    pub fn of(record: &TaskRecord) -> Self {
        Self {
            task_id: record.id.to_string(),
            seq: record.version,
            kind: EventKind::for_state(record.state),
            agent: record.agent.clone(),
            at: record.updated_at,
            attempt: record.attempts,
            code: record.error.as_ref().map(|e| e.code),
            message: record.error.as_ref().map(|e| e.message.clone()),
            retry_in_ms: None,
        }
    }
}

/// One unit of work on an agent's queue, with what the broker carries beside the body.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMessage {
    pub task_id: TaskId,
    pub agent: String,
    /// The request exactly as the agent takes it (entities and skill filled by the router).
    pub request: AgentRequest,
    /// Handler attempts that already failed transiently.
    pub attempt: u32,
    /// One line per failed attempt: `attempt N at <ms>: <code>: <message>`.
    pub history: Vec<String>,
    /// Set by `dlq replay`: the worker may reopen the failed task.
    pub replayed: bool,
    /// W3C `traceparent` of the span that queued the work, so the worker's span continues it.
    pub trace: Option<String>,
}

/// The body of a task message: JSON of the task, its agent and the request. Attempt counts,
/// history and trace context travel beside it (AMQP headers).
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskBody<'a> {
    pub task_id: std::borrow::Cow<'a, TaskId>,
    pub agent: std::borrow::Cow<'a, str>,
    pub request: std::borrow::Cow<'a, AgentRequest>,
}

impl TaskMessage {
    /// A first attempt of `request` for `agent`, continuing the current span's trace.
    pub fn new(task_id: TaskId, agent: &str, request: AgentRequest) -> Self {
        Self {
            task_id,
            agent: agent.to_owned(),
            request,
            attempt: 0,
            history: Vec::new(),
            replayed: false,
            trace: intentmesh_core::propagation::current_traceparent(),
        }
    }

    pub fn task_id(&self) -> &str {
        self.task_id.as_str()
    }

    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// The message body (JSON).
    pub fn body(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&TaskBody {
            task_id: std::borrow::Cow::Borrowed(&self.task_id),
            agent: std::borrow::Cow::Borrowed(&self.agent),
            request: std::borrow::Cow::Borrowed(&self.request),
        })
    }

    /// A message from its body and what travelled beside it.
    pub fn from_body(
        body: &[u8],
        attempt: u32,
        history: Vec<String>,
        replayed: bool,
        trace: Option<String>,
    ) -> Result<Self, serde_json::Error> {
        let body: TaskBody<'static> = serde_json::from_slice(body)?;
        Ok(Self {
            task_id: body.task_id.into_owned(),
            agent: body.agent.into_owned(),
            request: body.request.into_owned(),
            attempt,
            history,
            replayed,
            trace,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids are 128 random bits: ids made one after another share no prefix (a time-ordered id,
    /// as UUIDv7 was, shares its first dozen hex digits within a second), and every bit varies.
    #[test]
    fn task_ids_carry_random_bits_only() {
        let ids: Vec<u128> = (0..256)
            .map(|_| {
                let id = TaskId::generate();
                u128::from_str_radix(&id.as_str()["task_".len()..], 16).unwrap()
            })
            .collect();
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        let (ones, zeros) = ids
            .iter()
            .fold((0u128, 0u128), |(o, z), id| (o | id, z | !id));
        assert_eq!(ones, u128::MAX, "every bit is 1 in some id");
        assert_eq!(zeros, u128::MAX, "every bit is 0 in some id");
        let shared_prefix = ids
            .windows(2)
            .filter(|w| (w[0] ^ w[1]).leading_zeros() >= 16)
            .count();
        assert!(
            shared_prefix < 4,
            "{shared_prefix} neighbours share 16 leading bits"
        );
    }

    #[test]
    fn task_ids_are_generated_in_the_shape_parse_accepts() {
        let id = TaskId::generate();
        assert_eq!(TaskId::parse(id.as_str()), Some(id));
        for bad in [
            "",
            "task_",
            "task_XYZ",
            "nope_0190a0a0a0a0a0a0a0a0a0a0a0a0a0a0",
            "task_0190A0A0A0A0A0A0A0A0A0A0A0A0A0A0",
            "task_0190a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0",
            "task_../../etc/passwd",
        ] {
            assert_eq!(TaskId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_message_body_is_json_of_the_domain_request() {
        let request = AgentRequest {
            request_id: "req-1".into(),
            message: "pay $5".into(),
            user_id: "u".into(),
            skill: Some("pay".into()),
            ..AgentRequest::default()
        };
        let message = TaskMessage::new(TaskId::generate(), "payment", request);
        let body = message.body().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["agent"], "payment");
        assert_eq!(json["request"]["message"], "pay $5");
        let back = TaskMessage::from_body(&body, 2, vec!["h".into()], true, None).unwrap();
        assert_eq!(back.request, message.request);
        assert_eq!((back.attempt, back.replayed), (2, true));
        assert!(
            TaskMessage::from_body(
                br#"{"task_id":"x","agent":"a","request":{}}"#,
                0,
                vec![],
                false,
                None
            )
            .is_err()
        );
    }

    #[test]
    fn transitions_refuse_states_outside_from_and_stamp_times() {
        let mut r = NewTask {
            id: TaskId::generate(),
            agent: "a".into(),
            skill: "s".into(),
            request_id: "r".into(),
            user_id: "u".into(),
            dedupe_key: None,
        }
        .into_record(10);
        assert!(!Transition::new(&[TaskState::Working], TaskState::Success).apply(&mut r, 11));
        assert_eq!((r.state, r.version), (TaskState::Queued, 1));
        assert!(
            Transition::new(&[TaskState::Queued], TaskState::Working)
                .attempts(1)
                .apply(&mut r, 12)
        );
        assert_eq!((r.started_at, r.attempts, r.version), (Some(12), 1, 2));
        assert!(Transition::new(&[TaskState::Working], TaskState::Success).apply(&mut r, 13));
        assert_eq!(r.finished_at, Some(13));
    }
}

//! Answers of the mesh → the public JSON shapes of [`crate::api`]: an agent's reply, the root's
//! routing decision (the one wire type the gateway reads as it is), tasks and their events.

use std::time::{Duration, UNIX_EPOCH};

use intentmesh_core::{
    agent::{Candidate, Entities, Reply, RouteDecision},
    money::Money,
};
use intentmesh_tasks::{TaskEvent, TaskRecord, TaskState};

use crate::{
    api::{
        CandidateData, ClarificationData, Data, EntitiesData, PaymentData, ProductData, QueuedData,
        RouteAnswer, RouteSummary, SearchData, TaskEventData, TaskView,
    },
    error::error_body,
};

/// The `data` of an answer.
pub(crate) fn data(reply: Reply) -> Data {
    match reply {
        Reply::Payment(p) => Data::Payment(PaymentData {
            transaction_id: p.transaction_id,
            amount: p.amount.to_f64(),
            currency: p.amount.currency().map(str::to_owned),
            status: p.status.as_str(),
            order_id: p.order_id,
            user_id: p.user_id,
            created_at: p.created_at,
            replayed: p.replayed,
        }),
        Reply::Search(s) => Data::Search(SearchData {
            products: s
                .products
                .into_iter()
                .map(|p| ProductData {
                    price: p.price.to_f64(),
                    currency: p.price.currency().map(str::to_owned),
                    id: p.id,
                    name: p.name,
                    description: p.description,
                    category: p.category,
                    rating: (f64::from(p.rating) * 10.0).round() / 10.0,
                    score: (p.score * 1e4).round() / 1e4,
                })
                .collect(),
            total: s.total,
            page: s.page,
            page_size: s.page_size,
            query: s.query,
            category: s.category,
            min_price: s.min_price.as_ref().map(Money::to_f64),
            max_price: s.max_price.as_ref().map(Money::to_f64),
        }),
        Reply::Clarification(c) => Data::Clarification(ClarificationData {
            question: c.question,
            candidates: c.candidates.into_iter().map(candidate).collect(),
        }),
        Reply::Queued(q) => Data::Queued(QueuedData {
            reason: q.reason.into(),
            task_id: q.task_id,
        }),
        Reply::Generic { fields } => Data::Other(fields),
    }
}

fn candidate(c: Candidate) -> CandidateData {
    CandidateData {
        agent: c.agent,
        skill: c.skill,
        confidence: c.confidence,
        description: c.description,
    }
}

/// The entity keys of the public API, present ones only.
fn entities(e: Entities) -> EntitiesData {
    let currency = e
        .currency
        .or_else(|| {
            e.amount
                .as_ref()
                .and_then(|m| m.currency().map(str::to_owned))
        })
        .or_else(|| {
            e.max_price
                .as_ref()
                .or(e.min_price.as_ref())
                .and_then(|m| m.currency().map(str::to_owned))
        });
    EntitiesData {
        amount: e.amount.as_ref().map(Money::to_f64),
        currency,
        order_id: e.order_id,
        query: e.query,
        category: e.category,
        min_price: e.min_price.as_ref().map(Money::to_f64),
        max_price: e.max_price.as_ref().map(Money::to_f64),
    }
}

/// The `/route` answer.
pub(crate) fn route_answer(d: RouteDecision, request_id: &str) -> RouteAnswer {
    let (agent, skill, mode) = match d.route {
        Some(r) => (Some(r.agent), Some(r.skill), Some(r.default_mode.as_str())),
        None => (None, None, None),
    };
    RouteAnswer {
        status: if mode.is_some() {
            "routed"
        } else {
            "needs_clarification"
        },
        agent: agent.filter(|a| !a.is_empty()),
        skill: skill.filter(|s| !s.is_empty()),
        confidence: d.confidence,
        stage: d.stage.name(),
        cached: d.cached,
        degraded: d.degraded,
        entities: entities(d.entities),
        candidates: d.candidates.into_iter().map(candidate).collect(),
        mode,
        request_id: request_id.to_owned(),
    }
}

/// The route summary carried in a `/process` answer.
pub(crate) fn route_summary(d: &RouteDecision) -> RouteSummary {
    RouteSummary {
        stage: d.stage.name(),
        cached: d.cached,
        confidence: d.confidence,
        skill: d
            .route
            .as_ref()
            .map(|r| r.skill.clone())
            .unwrap_or_default(),
    }
}

/// Milliseconds since the epoch as RFC 3339 (to the millisecond).
fn time(ms: Option<i64>) -> Option<String> {
    let ms = u64::try_from(ms?).ok()?;
    Some(humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string())
}

/// A task as `GET /tasks/{id}` shows it.
pub(crate) fn task_view(task: &TaskRecord) -> TaskView {
    TaskView {
        status: task.state.as_str(),
        task_id: task.id.to_string(),
        agent: task.agent.clone(),
        skill: task.skill.clone(),
        request_id: task.request_id.clone(),
        attempts: task.attempts,
        created_at: time(Some(task.created_at)),
        updated_at: time(Some(task.updated_at)),
        started_at: time(task.started_at),
        finished_at: time(task.finished_at),
        data: match (&task.state, &task.result) {
            (TaskState::Success, Some(r)) => Some(data(r.clone())),
            _ => None,
        },
        error: task.error.as_ref().map(error_body),
    }
}

/// A task event as its SSE `data`.
pub(crate) fn event(e: &TaskEvent) -> TaskEventData {
    TaskEventData {
        task_id: e.task_id.clone(),
        seq: e.seq,
        kind: e.kind.as_str(),
        agent: e.agent.clone(),
        at: e.at,
        attempt: e.attempt,
        code: e.code.map(|c| c.wire_name()),
        message: e.message.clone(),
        retry_in_ms: e.retry_in_ms,
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use intentmesh_core::{
        agent::{PaymentReceipt, PaymentStatus},
        money::Decimal,
    };
    use serde_json::json;

    use super::*;

    #[test]
    fn payments_render_as_designed() {
        let reply = Reply::Payment(PaymentReceipt {
            transaction_id: "txn_1".into(),
            amount: Money::new(Decimal::from_str("100").unwrap(), Some("USD".into())).unwrap(),
            status: PaymentStatus::Completed,
            order_id: None,
            user_id: "u".into(),
            idempotency_key: "k".into(),
            created_at: "2026-12-07T00:00:00.000Z".into(),
            replayed: false,
        });
        let data = serde_json::to_value(data(reply)).unwrap();
        assert_eq!(data["transaction_id"], "txn_1");
        assert_eq!(data["amount"], json!(100.0));
        assert_eq!(data["currency"], "USD");
        assert_eq!(data["status"], "completed");
        assert_eq!(data["order_id"], json!(null));
        assert_eq!(serde_json::to_string(&data["amount"]).unwrap(), "100.0");
    }
}

//! Answers of the mesh → the public JSON shapes of [`crate::api`]: an agent's reply, the root's
//! routing decision (the one wire type the gateway reads as it is), tasks and their events.

use std::time::{Duration, UNIX_EPOCH};

use intentmesh_core::{
    agent::{Candidate, Entities, Reply},
    money::Money,
};
use intentmesh_proto::{WireError, pb};
use intentmesh_tasks::{TaskEvent, TaskRecord, TaskState};

use crate::{
    api::{
        CandidateData, ClarificationData, Data, EntitiesData, PaymentData, ProductData, QueuedData,
        RouteAnswer, RouteSummary, SearchData, TaskEventData, TaskView,
    },
    error::error_body,
};

/// The `data` of an answer.
pub(crate) fn data(reply: &Reply) -> Data {
    match reply {
        Reply::Payment(p) => Data::Payment(PaymentData {
            transaction_id: p.transaction_id.clone(),
            amount: p.amount.to_f64(),
            currency: p.amount.currency().map(str::to_owned),
            status: p.status.as_str(),
            order_id: p.order_id.clone(),
            user_id: p.user_id.clone(),
            created_at: p.created_at.clone(),
            replayed: p.replayed,
        }),
        Reply::Search(s) => Data::Search(SearchData {
            products: s
                .products
                .iter()
                .map(|p| ProductData {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    description: p.description.clone(),
                    category: p.category.clone(),
                    price: p.price.to_f64(),
                    currency: p.price.currency().map(str::to_owned),
                    rating: (f64::from(p.rating) * 10.0).round() / 10.0,
                    score: (p.score * 1e4).round() / 1e4,
                })
                .collect(),
            total: s.total,
            page: s.page,
            page_size: s.page_size,
            query: s.query.clone(),
            category: s.category.clone(),
            min_price: s.min_price.as_ref().map(Money::to_f64),
            max_price: s.max_price.as_ref().map(Money::to_f64),
        }),
        Reply::Clarification(c) => Data::Clarification(ClarificationData {
            question: c.question.clone(),
            candidates: c.candidates.iter().map(candidate).collect(),
        }),
        Reply::Queued(q) => Data::Queued(QueuedData {
            task_id: q.task_id.clone(),
            reason: q.reason.as_str(),
        }),
        Reply::Generic { fields } => Data::Other(fields.clone()),
    }
}

fn candidate(c: &Candidate) -> CandidateData {
    CandidateData {
        agent: c.agent.clone(),
        skill: c.skill.clone(),
        confidence: c.confidence,
        description: c.description.clone(),
    }
}

fn stage_name(stage: i32) -> &'static str {
    match pb::RouteStage::try_from(stage) {
        Ok(pb::RouteStage::Explicit) => "explicit",
        Ok(pb::RouteStage::Rules) => "rules",
        Ok(pb::RouteStage::Embeddings) => "embeddings",
        Ok(pb::RouteStage::Llm) => "llm",
        Ok(pb::RouteStage::Context) => "context",
        _ => "none",
    }
}

/// The entity keys of the public API, present ones only.
fn entities(e: &Entities) -> EntitiesData {
    let currency = e
        .currency
        .clone()
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
        order_id: e.order_id.clone(),
        query: e.query.clone(),
        category: e.category.clone(),
        min_price: e.min_price.as_ref().map(Money::to_f64),
        max_price: e.max_price.as_ref().map(Money::to_f64),
    }
}

/// The `/route` answer. Fails when the root's decision holds what the domain refuses.
pub(crate) fn route_answer(
    d: pb::RouteDecision,
    request_id: &str,
) -> Result<RouteAnswer, WireError> {
    let routed = d.status == pb::RouteStatus::Routed as i32;
    let found = d
        .entities
        .as_ref()
        .map(Entities::try_from)
        .transpose()
        .map_err(|e| e.under("entities"))?
        .unwrap_or_default();
    let mode = match pb::ExecutionMode::try_from(d.default_mode) {
        Ok(pb::ExecutionMode::Async) => "async",
        _ => "sync",
    };
    Ok(RouteAnswer {
        status: if routed {
            "routed"
        } else {
            "needs_clarification"
        },
        agent: Some(d.agent).filter(|a| !a.is_empty()),
        skill: Some(d.skill).filter(|s| !s.is_empty()),
        confidence: d.confidence,
        stage: stage_name(d.stage),
        cached: d.cached,
        degraded: d.degraded,
        entities: entities(&found),
        candidates: d
            .candidates
            .into_iter()
            .map(|c| candidate(&Candidate::from(c)))
            .collect(),
        mode: routed.then_some(mode),
        request_id: request_id.to_owned(),
    })
}

/// The route summary carried in a `/process` answer.
pub(crate) fn route_summary(d: &pb::RouteDecision) -> RouteSummary {
    RouteSummary {
        stage: stage_name(d.stage),
        cached: d.cached,
        confidence: d.confidence,
        skill: d.skill.clone(),
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
            (TaskState::Success, Some(r)) => Some(data(r)),
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
        let data = serde_json::to_value(data(&reply)).unwrap();
        assert_eq!(data["transaction_id"], "txn_1");
        assert_eq!(data["amount"], json!(100.0));
        assert_eq!(data["currency"], "USD");
        assert_eq!(data["status"], "completed");
        assert_eq!(data["order_id"], json!(null));
        assert_eq!(serde_json::to_string(&data["amount"]).unwrap(), "100.0");
    }
}

//! gRPC answers → the public JSON shapes of DESIGN.md §3.

use intentmesh_core::money::to_f64;
use intentmesh_proto::pb;
use prost_types::value::Kind;
use serde_json::{Map, Value, json};

fn money_value(m: Option<&pb::Money>) -> Value {
    m.map_or(Value::Null, |m| json!(to_f64(m)))
}

/// The `data` of a successful answer.
pub(crate) fn result_data(result: Option<&pb::process_response::Result>) -> Value {
    use pb::process_response::Result as R;
    match result {
        Some(R::Payment(p)) => {
            let status = match pb::PaymentStatus::try_from(p.status) {
                Ok(pb::PaymentStatus::Completed) => "completed",
                Ok(pb::PaymentStatus::Declined) => "declined",
                _ => "unknown",
            };
            json!({
                "transaction_id": p.transaction_id,
                "amount": money_value(p.amount.as_ref()),
                "currency": p.amount.as_ref().map(|m| m.currency_code.clone()),
                "status": status,
                "order_id": Some(&p.order_id).filter(|o| !o.is_empty()),
                "user_id": p.user_id,
                "created_at": p.created_at,
                "replayed": p.replayed,
            })
        }
        Some(R::Search(s)) => json!({
            "products": s.products.iter().map(|p| json!({
                "id": p.id,
                "name": p.name,
                "description": p.description,
                "category": p.category,
                "price": money_value(p.price.as_ref()),
                "currency": p.price.as_ref().map(|m| m.currency_code.clone()),
                "rating": (f64::from(p.rating) * 10.0).round() / 10.0,
                "score": (p.score * 1e4).round() / 1e4,
            })).collect::<Vec<_>>(),
            "total": s.total,
            "page": s.page,
            "page_size": s.page_size,
            "query": s.query,
            "category": Some(&s.category).filter(|c| !c.is_empty()),
            "min_price": money_value(s.min_price.as_ref()),
            "max_price": money_value(s.max_price.as_ref()),
        }),
        Some(R::Clarification(c)) => json!({
            "question": c.question,
            "candidates": c.candidates.iter().map(candidate).collect::<Vec<_>>(),
        }),
        Some(R::Queued(q)) => json!({"task_id": q.task_id, "reason": q.reason}),
        Some(R::Generic(s)) => struct_to_json(s),
        None => Value::Null,
    }
}

fn candidate(c: &pb::Candidate) -> Value {
    json!({
        "agent": c.agent,
        "skill": c.skill,
        "confidence": c.confidence,
        "description": c.description,
    })
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

fn mode_name(mode: i32) -> &'static str {
    match pb::ExecutionMode::try_from(mode) {
        Ok(pb::ExecutionMode::Async) => "async",
        _ => "sync",
    }
}

/// The entity keys of DESIGN.md §3, present ones only.
pub(crate) fn entities(e: Option<&pb::Entities>) -> Value {
    let mut out = Map::new();
    let Some(e) = e else {
        return Value::Object(out);
    };
    if let Some(a) = &e.amount {
        out.insert("amount".into(), json!(to_f64(a)));
    }
    let currency = e
        .currency
        .clone()
        .or_else(|| e.amount.as_ref().map(|m| m.currency_code.clone()))
        .or_else(|| {
            e.max_price
                .as_ref()
                .or(e.min_price.as_ref())
                .map(|m| m.currency_code.clone())
        })
        .filter(|c| !c.is_empty());
    if let Some(c) = currency {
        out.insert("currency".into(), json!(c));
    }
    if let Some(o) = &e.order_id {
        out.insert("order_id".into(), json!(o));
    }
    if let Some(q) = &e.query {
        out.insert("query".into(), json!(q));
    }
    if let Some(c) = &e.category {
        out.insert("category".into(), json!(c));
    }
    if let Some(m) = &e.min_price {
        out.insert("min_price".into(), json!(to_f64(m)));
    }
    if let Some(m) = &e.max_price {
        out.insert("max_price".into(), json!(to_f64(m)));
    }
    Value::Object(out)
}

/// The `/route` answer.
pub(crate) fn decision(d: &pb::RouteDecision, request_id: &str) -> Value {
    let routed = d.status == pb::RouteStatus::Routed as i32;
    json!({
        "status": if routed { "routed" } else { "needs_clarification" },
        "agent": Some(&d.agent).filter(|a| !a.is_empty()),
        "skill": Some(&d.skill).filter(|s| !s.is_empty()),
        "confidence": d.confidence,
        "stage": stage_name(d.stage),
        "cached": d.cached,
        "degraded": d.degraded,
        "entities": entities(d.entities.as_ref()),
        "candidates": d.candidates.iter().map(candidate).collect::<Vec<_>>(),
        "mode": routed.then(|| mode_name(d.default_mode)),
        "request_id": request_id,
    })
}

/// The route summary carried in a `/process` answer.
pub(crate) fn route_summary(d: Option<&pb::RouteDecision>) -> Value {
    d.map_or(
        Value::Null,
        |d| json!({"stage": stage_name(d.stage), "cached": d.cached, "confidence": d.confidence, "skill": d.skill}),
    )
}

fn struct_to_json(s: &prost_types::Struct) -> Value {
    Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

fn value_to_json(v: &prost_types::Value) -> Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => json!(b),
        Some(Kind::NumberValue(n)) => json!(n),
        Some(Kind::StringValue(s)) => json!(s),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(value_to_json).collect()),
        Some(Kind::StructValue(s)) => struct_to_json(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payments_render_as_designed() {
        let result = pb::process_response::Result::Payment(pb::PaymentResult {
            transaction_id: "txn_1".into(),
            amount: Some(pb::Money {
                currency_code: "USD".into(),
                units: 100,
                nanos: 0,
            }),
            status: pb::PaymentStatus::Completed as i32,
            ..Default::default()
        });
        let data = result_data(Some(&result));
        assert_eq!(data["transaction_id"], "txn_1");
        assert_eq!(data["amount"], json!(100.0));
        assert_eq!(data["currency"], "USD");
        assert_eq!(data["status"], "completed");
        assert_eq!(serde_json::to_string(&data["amount"]).unwrap(), "100.0");
    }
}

//! Requests: the caller's mode, the entities, the context object and the request itself.

use intentmesh_core::agent::{AgentRequest, Context, Entities, ExecutionMode, Mode};
use prost_types::{ListValue, Struct, Value as PbValue, value::Kind};
use serde_json::Value;

use super::{WireError, money_field};
use crate::pb;

impl From<Mode> for pb::ExecutionMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Auto => Self::Unspecified,
            Mode::Sync => Self::Sync,
            Mode::Async => Self::Async,
        }
    }
}

impl From<pb::ExecutionMode> for Mode {
    fn from(mode: pb::ExecutionMode) -> Self {
        match mode {
            pb::ExecutionMode::Unspecified => Self::Auto,
            pb::ExecutionMode::Sync => Self::Sync,
            pb::ExecutionMode::Async => Self::Async,
        }
    }
}

impl From<ExecutionMode> for pb::ExecutionMode {
    fn from(mode: ExecutionMode) -> Self {
        match mode {
            ExecutionMode::Sync => Self::Sync,
            ExecutionMode::Async => Self::Async,
        }
    }
}

impl From<pb::ExecutionMode> for ExecutionMode {
    /// A skill that does not say runs synchronously.
    fn from(mode: pb::ExecutionMode) -> Self {
        match mode {
            pb::ExecutionMode::Async => Self::Async,
            pb::ExecutionMode::Unspecified | pb::ExecutionMode::Sync => Self::Sync,
        }
    }
}

impl From<&Entities> for pb::Entities {
    fn from(e: &Entities) -> Self {
        Self {
            amount: e.amount.as_ref().map(pb::Money::from),
            currency: e.currency.clone(),
            order_id: e.order_id.clone(),
            query: e.query.clone(),
            category: e.category.clone(),
            min_price: e.min_price.as_ref().map(pb::Money::from),
            max_price: e.max_price.as_ref().map(pb::Money::from),
            page: e.page,
            page_size: e.page_size,
        }
    }
}

impl TryFrom<&pb::Entities> for Entities {
    type Error = WireError;

    fn try_from(e: &pb::Entities) -> Result<Self, WireError> {
        Ok(Self {
            amount: money_field(e.amount.as_ref(), "amount")?,
            currency: e.currency.clone().filter(|c| !c.is_empty()),
            order_id: e.order_id.clone(),
            query: e.query.clone(),
            category: e.category.clone(),
            min_price: money_field(e.min_price.as_ref(), "min_price")?,
            max_price: money_field(e.max_price.as_ref(), "max_price")?,
            page: e.page,
            page_size: e.page_size,
        })
    }
}

fn some(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

impl TryFrom<pb::ProcessRequest> for AgentRequest {
    type Error = WireError;

    fn try_from(req: pb::ProcessRequest) -> Result<Self, WireError> {
        let entities = req
            .entities
            .as_ref()
            .map(Entities::try_from)
            .transpose()
            .map_err(|e| e.under("entities"))?;
        let mode = pb::ExecutionMode::try_from(req.mode)
            .unwrap_or_default()
            .into();
        Ok(Self {
            request_id: req.request_id,
            message: req.message,
            user_id: req.user_id,
            context: req.context.map(context_from_struct).unwrap_or_default(),
            entities,
            skill: some(req.skill),
            agent: some(req.agent),
            idempotency_key: some(req.idempotency_key),
            mode,
            attempt_id: req.attempt_id,
        })
    }
}

impl From<AgentRequest> for pb::ProcessRequest {
    fn from(req: AgentRequest) -> Self {
        Self {
            request_id: req.request_id,
            message: req.message,
            user_id: req.user_id,
            context: (!req.context.is_empty()).then(|| context_to_struct(req.context)),
            entities: req.entities.as_ref().map(pb::Entities::from),
            skill: req.skill.unwrap_or_default(),
            agent: req.agent.unwrap_or_default(),
            idempotency_key: req.idempotency_key.unwrap_or_default(),
            mode: pb::ExecutionMode::from(req.mode) as i32,
            attempt_id: req.attempt_id,
        }
    }
}

/// A JSON object as a `google.protobuf.Struct` (numbers become doubles, as the type has them).
pub(crate) fn context_to_struct(map: Context) -> Struct {
    Struct {
        fields: map.into_iter().map(|(k, v)| (k, to_value(v))).collect(),
    }
}

fn to_value(value: Value) -> PbValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(context_to_struct(map)),
    };
    PbValue { kind: Some(kind) }
}

/// A `google.protobuf.Struct` as a JSON object (a double that is not finite becomes null).
pub(crate) fn context_from_struct(s: Struct) -> Context {
    s.fields
        .into_iter()
        .map(|(k, v)| (k, from_value(v)))
        .collect()
}

fn from_value(v: PbValue) -> Value {
    match v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::NumberValue(n)) => {
            serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
        }
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::ListValue(l)) => Value::Array(l.values.into_iter().map(from_value).collect()),
        Some(Kind::StructValue(s)) => Value::Object(context_from_struct(s)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_request_survives_the_wire() {
        let Value::Object(context) = json!({"order_id": "12345", "price_range": {"min": 10, "max": 50.5}, "tags": [true, null, "x"]})
        else {
            unreachable!()
        };
        let request = AgentRequest {
            request_id: "req-1".into(),
            message: "pay $100".into(),
            user_id: "u".into(),
            context,
            entities: Some(Entities {
                order_id: Some("12345".into()),
                page: Some(2),
                ..Entities::default()
            }),
            skill: Some("pay".into()),
            agent: None,
            idempotency_key: Some("k".into()),
            mode: Mode::Async,
            attempt_id: "0f".repeat(16),
        };
        let wire = pb::ProcessRequest::from(request.clone());
        assert_eq!(wire.mode, pb::ExecutionMode::Async as i32);
        let back = AgentRequest::try_from(wire).unwrap();
        assert_eq!(back.entities, request.entities);
        assert_eq!(back.context["price_range"]["max"], json!(50.5));
        assert_eq!(back.context["price_range"]["min"], json!(10.0));
        assert_eq!(
            (back.skill, back.agent, back.mode),
            (request.skill, None, Mode::Async)
        );
    }

    #[test]
    fn a_bad_amount_names_its_field() {
        let wire = pb::ProcessRequest {
            entities: Some(pb::Entities {
                amount: Some(pb::Money {
                    currency_code: "USD".into(),
                    units: 1,
                    nanos: -5,
                }),
                ..pb::Entities::default()
            }),
            ..pb::ProcessRequest::default()
        };
        let err = AgentRequest::try_from(wire).unwrap_err();
        assert_eq!(err.field, "entities.amount");
    }
}

//! The `POST /process` and `POST /route` body, read and checked field by field so that every
//! mistake gets its own code: `invalid_json`, `missing_field`, `empty_field`, `invalid_field`,
//! `message_too_long`, `payload_too_large`, `unsupported_media_type`.

use axum::{
    extract::rejection::BytesRejection,
    http::{HeaderMap, header},
};
use bytes::Bytes;
use intentmesh_core::ErrorCode;
use prost_types::{ListValue, Struct, Value as PbValue, value::Kind};
use serde_json::{Map, Value};

use crate::{config::Limits, error::ApiError};

/// How the caller wants the work run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Auto,
    Sync,
    Async,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcessBody {
    pub(crate) message: String,
    pub user_id: String,
    pub context: Option<Struct>,
    pub agent: Option<String>,
    pub mode: Mode,
}

/// Turns the raw body (or axum's rejection of it) into a checked request.
pub(crate) fn parse(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limits: &Limits,
) -> Result<ProcessBody, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "the body must be JSON (Content-Type: application/json)",
            )
            .with("content_type", essence));
        }
    }
    let bytes = body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_) if is_length_limit(&rejection) => ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the body is larger than allowed",
        )
        .with("max_bytes", limits.max_body_bytes),
        other => ApiError::new(
            ErrorCode::InvalidRequest,
            format!("cannot read the body: {other}"),
        ),
    })?;
    if bytes.len() > limits.max_body_bytes {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the body is larger than allowed",
        )
        .with("max_bytes", limits.max_body_bytes));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(ErrorCode::InvalidJson, "the body is not valid JSON")
            .with("line", e.line())
            .with("column", e.column())
    })?;
    let Value::Object(mut object) = value else {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "the body must be a JSON object",
        ));
    };

    let message = required_string(&mut object, "message")?;
    let chars = message.chars().count();
    if chars > limits.max_message_chars {
        return Err(ApiError::new(
            ErrorCode::MessageTooLong,
            format!(
                "message has {chars} characters; at most {} are allowed",
                limits.max_message_chars
            ),
        )
        .with("field", "message")
        .with("max_chars", limits.max_message_chars));
    }
    let user_id = required_string(&mut object, "user_id")?;
    if user_id.chars().count() > limits.max_user_id_chars {
        return Err(invalid(
            "user_id",
            &format!("at most {} characters", limits.max_user_id_chars),
        ));
    }
    let context = match object.remove("context") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(to_struct(map)),
        Some(_) => return Err(invalid("context", "an object")),
    };
    let agent = match object.remove("agent") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::String(_)) => return Err(empty("agent")),
        Some(_) => return Err(invalid("agent", "a string")),
    };
    let mode = match object.remove("mode") {
        None | Some(Value::Null) => Mode::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Mode::Auto,
            "sync" => Mode::Sync,
            "async" => Mode::Async,
            _ => return Err(invalid("mode", "one of \"auto\", \"sync\", \"async\"")),
        },
        Some(_) => return Err(invalid("mode", "one of \"auto\", \"sync\", \"async\"")),
    };
    Ok(ProcessBody {
        message,
        user_id,
        context,
        agent,
        mode,
    })
}

fn is_length_limit(rejection: &BytesRejection) -> bool {
    rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE
}

fn invalid(field: &str, expected: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidField,
        format!("{field} must be {expected}"),
    )
    .with("field", field)
    .with("expected", expected)
}

fn empty(field: &str) -> ApiError {
    ApiError::new(ErrorCode::EmptyField, format!("{field} must not be empty")).with("field", field)
}

fn required_string(object: &mut Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match object.remove(field) {
        None | Some(Value::Null) => Err(ApiError::new(
            ErrorCode::MissingField,
            format!("{field} is required"),
        )
        .with("field", field)),
        Some(Value::String(s)) if s.trim().is_empty() => Err(empty(field)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(field, "a string")),
    }
}

fn to_struct(map: Map<String, Value>) -> Struct {
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
        Value::Object(map) => Kind::StructValue(to_struct(map)),
    };
    PbValue { kind: Some(kind) }
}

/// The request id: the caller's `X-Request-Id` when it is sane, else a new one.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        })
        .map_or_else(
            || format!("req-{}", uuid::Uuid::now_v7().simple()),
            str::to_owned,
        )
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()));
    key.map(|k| Some(k.to_owned())).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidField,
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )
        .with("field", "Idempotency-Key")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(body: &str) -> Result<ProcessBody, ApiError> {
        parse(
            &HeaderMap::new(),
            Ok(Bytes::from(body.to_owned())),
            &Limits::default(),
        )
    }

    fn code(body: &str) -> ErrorCode {
        parse_json(body).unwrap_err().error.code
    }

    #[test]
    fn a_good_body_parses() {
        let b = parse_json(
            r#"{"message":"pay $100","user_id":"u","context":{"a":[1,{"b":null}]},"mode":"sync"}"#,
        )
        .unwrap();
        assert_eq!(b.message, "pay $100");
        assert_eq!(b.mode, Mode::Sync);
        assert!(b.context.unwrap().fields.contains_key("a"));
    }

    #[test]
    fn each_mistake_has_its_code() {
        assert_eq!(code("{"), ErrorCode::InvalidJson);
        assert_eq!(code("[1,2]"), ErrorCode::InvalidRequest);
        assert_eq!(code(r#"{"user_id":"u"}"#), ErrorCode::MissingField);
        assert_eq!(
            code(r#"{"message":"  ","user_id":"u"}"#),
            ErrorCode::EmptyField
        );
        assert_eq!(
            code(r#"{"message":5,"user_id":"u"}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"message":"x","user_id":""}"#),
            ErrorCode::EmptyField
        );
        assert_eq!(
            code(r#"{"message":"x","user_id":"u","context":"no"}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"message":"x","user_id":"u","context":[1]}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"message":"x","user_id":"u","mode":"later"}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"message":"x","user_id":"u","agent":7}"#),
            ErrorCode::InvalidField
        );
        let long = format!(r#"{{"message":"{}","user_id":"u"}}"#, "é".repeat(4_001));
        assert_eq!(code(&long), ErrorCode::MessageTooLong);
        let ok = format!(r#"{{"message":"{}","user_id":"u"}}"#, "é".repeat(4_000));
        assert!(parse_json(&ok).is_ok());
    }

    #[test]
    fn non_json_content_types_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let err = parse(&headers, Ok(Bytes::from_static(b"{}")), &Limits::default()).unwrap_err();
        assert_eq!(err.error.code, ErrorCode::UnsupportedMediaType);
    }

    #[test]
    fn request_ids_and_keys_are_checked() {
        let mut h = HeaderMap::new();
        assert!(request_id(&h).starts_with("req-"));
        h.insert("x-request-id", "abc-123".parse().unwrap());
        assert_eq!(request_id(&h), "abc-123");
        h.insert("idempotency-key", "k".repeat(300).parse().unwrap());
        assert!(idempotency_key(&h).is_err());
        h.insert("idempotency-key", "order-1".parse().unwrap());
        assert_eq!(idempotency_key(&h).unwrap().as_deref(), Some("order-1"));
    }
}

//! The `POST /process` and `POST /route` body (`api::ProcessRequest`), read and checked field by
//! field so that every mistake gets its own code: `invalid_json`, `missing_field`,
//! `empty_field`, `invalid_field`, `message_too_long`, `payload_too_large`,
//! `unsupported_media_type`.

use axum::{
    extract::{FromRef, FromRequest, Request, rejection::BytesRejection},
    http::{HeaderMap, header},
};
use bytes::Bytes;
use intentmesh_core::{
    ErrorCode,
    agent::{Context, Mode},
};
use serde_json::{Map, Value};

use crate::{config::Limits, error::ApiError};

/// A checked `POST /process` or `POST /route` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessBody {
    pub message: String,
    pub user_id: String,
    pub context: Context,
    pub agent: Option<String>,
    pub mode: Mode,
}

impl<S> FromRequest<S> for ProcessBody
where
    S: Send + Sync,
    Limits: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let limits = Limits::from_ref(state);
        json_content(request.headers())?;
        let body = Bytes::from_request(request, state).await;
        parse(body, &limits)
    }
}

/// A body that says what it is must say JSON.
fn json_content(headers: &HeaderMap) -> Result<(), ApiError> {
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
    Ok(())
}

/// Turns the raw body (or axum's rejection of it) into a checked request.
fn parse(body: Result<Bytes, BytesRejection>, limits: &Limits) -> Result<ProcessBody, ApiError> {
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
        None | Some(Value::Null) => Context::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(invalid("context", "an object")),
    };
    check_context(&context, limits)?;
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

/// `context` within its limits: nesting, keys and size. Each service decodes it again (as a
/// protobuf `Struct`, three messages deep per level), so what passes here is far from any
/// decoder's limit.
fn check_context(context: &Context, limits: &Limits) -> Result<(), ApiError> {
    let mut keys = context.len();
    let mut deepest = 1;
    // (value, its depth): objects and arrays nest; the context itself is level 1.
    let mut pending: Vec<(&Value, usize)> = context.values().map(|v| (v, 1)).collect();
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(map) => {
                keys += map.len();
                Box::new(map.values())
            }
            Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        deepest = deepest.max(depth + 1);
        if deepest > limits.max_context_depth {
            return Err(too_much(
                format!(
                    "context nests deeper than {} levels",
                    limits.max_context_depth
                ),
                "max_depth",
                limits.max_context_depth,
            ));
        }
        pending.extend(children.map(|v| (v, depth + 1)));
    }
    if keys > limits.max_context_keys {
        return Err(too_much(
            format!(
                "context has {keys} keys; at most {} are allowed",
                limits.max_context_keys
            ),
            "max_keys",
            limits.max_context_keys,
        ));
    }
    let bytes = serde_json::to_vec(context).map_or(usize::MAX, |b| b.len());
    if bytes > limits.max_context_bytes {
        return Err(too_much(
            format!(
                "context is {bytes} bytes as JSON; at most {} are allowed",
                limits.max_context_bytes
            ),
            "max_bytes",
            limits.max_context_bytes,
        ));
    }
    Ok(())
}

fn too_much(message: String, limit: &str, value: usize) -> ApiError {
    ApiError::new(ErrorCode::InvalidField, message)
        .with("field", "context")
        .with(limit, value)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(body: &str) -> Result<ProcessBody, ApiError> {
        parse(Ok(Bytes::from(body.to_owned())), &Limits::default())
    }

    fn code(body: &str) -> ErrorCode {
        parse_json(body).unwrap_err().0.code
    }

    #[test]
    fn a_good_body_parses() {
        let b = parse_json(
            r#"{"message":"pay $100","user_id":"u","context":{"a":[1,{"b":null}]},"mode":"sync"}"#,
        )
        .unwrap();
        assert_eq!(b.message, "pay $100");
        assert_eq!(b.mode, Mode::Sync);
        assert!(b.context.contains_key("a"));
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

    fn nested(levels: usize) -> String {
        let mut context = "1".to_owned();
        for _ in 0..levels {
            context = format!(r#"{{"a":{context}}}"#);
        }
        format!(r#"{{"message":"x","user_id":"u","context":{context}}}"#)
    }

    /// Nesting, keys and size of `context` are bounded, each refusal naming the field and limit.
    #[test]
    fn context_is_bounded() {
        // `{"a":{"a":…1}}`: the context is level 1, each object one more.
        assert!(parse_json(&nested(8)).is_ok());
        let err = parse_json(&nested(9)).unwrap_err().0;
        assert_eq!(err.code, ErrorCode::InvalidField);
        assert_eq!(err.details["field"], "context");
        assert_eq!(err.details["max_depth"], "8");
        // Past serde_json's own recursion limit (128), the body is not JSON we read.
        let err = parse_json(&nested(5_000)).unwrap_err().0;
        assert_eq!(
            err.code,
            ErrorCode::InvalidJson,
            "refused, never overflowed"
        );
        let arrays = format!(
            r#"{{"message":"x","user_id":"u","context":{{"a":{}1{}}}}}"#,
            "[".repeat(20),
            "]".repeat(20)
        );
        assert_eq!(parse_json(&arrays).unwrap_err().0.details["max_depth"], "8");

        let keys: Vec<String> = (0..65).map(|i| format!(r#""k{i}":1"#)).collect();
        let body = format!(
            r#"{{"message":"x","user_id":"u","context":{{{}}}}}"#,
            keys.join(",")
        );
        let err = parse_json(&body).unwrap_err().0;
        assert_eq!(
            (err.code, err.details["max_keys"].as_str()),
            (ErrorCode::InvalidField, "64")
        );

        let big = format!(
            r#"{{"message":"x","user_id":"u","context":{{"note":"{}"}}}}"#,
            "x".repeat(17 * 1024)
        );
        let err = parse_json(&big).unwrap_err().0;
        assert_eq!(err.details["max_bytes"], "16384");
    }

    /// The documented body (`api::ProcessRequest` in the OpenAPI description) and this reader
    /// agree: its example parses, its required fields are the ones missing one names, each
    /// property it lists is one this reader checks, and the `mode` values it lists are accepted.
    #[test]
    fn the_documented_body_is_the_one_read() {
        let doc: Value = serde_json::from_str(crate::openapi::json()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let schema = &schemas["ProcessRequest"];
        let example = parse_json(&schema["example"].to_string()).unwrap();
        assert_eq!(example.message, schema["example"]["message"]);
        assert_eq!(example.context["order_id"], "12345");

        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(required, ["message", "user_id"]);
        for field in &required {
            let mut body = schema["example"].clone();
            body.as_object_mut().unwrap().remove(*field);
            let err = parse_json(&body.to_string()).unwrap_err().0;
            assert_eq!(err.code, ErrorCode::MissingField, "{field}");
            assert_eq!(err.details["field"], *field);
        }

        let properties = schema["properties"].as_object().unwrap();
        assert_eq!(properties.len(), 5, "{properties:?}");
        for field in properties.keys() {
            let mut body = schema["example"].clone();
            body[field.as_str()] = Value::from(7);
            let err = parse_json(&body.to_string()).unwrap_err().0;
            assert_eq!(err.code, ErrorCode::InvalidField, "{field}");
            assert_eq!(err.details["field"], field.as_str());
        }

        for mode in schemas["Mode"]["enum"].as_array().unwrap() {
            let mut body = schema["example"].clone();
            body["mode"] = mode.clone();
            assert!(parse_json(&body.to_string()).is_ok(), "{mode}");
        }
    }

    #[test]
    fn non_json_content_types_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let err = json_content(&headers).unwrap_err();
        assert_eq!(err.0.code, ErrorCode::UnsupportedMediaType);
        headers.insert(
            header::CONTENT_TYPE,
            "application/problem+json; charset=utf-8".parse().unwrap(),
        );
        assert!(json_content(&headers).is_ok());
    }
}

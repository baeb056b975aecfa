//! From a 2xx Chat Completions body to a validated [`Classification`].
//!
//! Tolerant of what small and self-hosted models do (```json fences, text around the object, raw
//! newlines inside strings, numbers for entity strings, a tool answer in `content`), strict about
//! what matters: the intent must be one of the choices or "none", the confidence a number.

use serde::Deserialize;
use serde_json::Value;

use crate::{
    Choice, Classification, LlmError, RawEntities, Usage,
    error::truncate,
    schema::{self, Wire},
};

/// Longest entity value kept (in characters).
const MAX_ENTITY_CHARS: usize = 200;
/// How much of an unusable answer an error quotes.
const QUOTE_CHARS: usize = 120;

#[derive(Debug, Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<ChatChoice>,
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct ChatChoice {
    message: Option<ChatMessage>,
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    content: Option<Value>,
    refusal: Option<String>,
    tool_calls: Option<Vec<ToolCall>>,
}

#[derive(Debug, Deserialize)]
struct ToolCall {
    function: Option<FunctionCall>,
}

#[derive(Debug, Deserialize)]
struct FunctionCall {
    name: Option<String>,
    arguments: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    prompt_tokens: Option<u32>,
    completion_tokens: Option<u32>,
    total_tokens: Option<u32>,
}

pub(crate) fn parse(
    body: &[u8],
    wire: Wire,
    choices: &[Choice],
) -> Result<Classification, LlmError> {
    let response: ChatResponse = serde_json::from_slice(body)
        .map_err(|e| LlmError::Malformed(format!("the body is not a chat completion: {e}")))?;
    let usage = response.usage.map(|u| {
        let prompt = u.prompt_tokens.unwrap_or(0);
        let completion = u.completion_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: u.total_tokens.unwrap_or(prompt.saturating_add(completion)),
        }
    });
    let choice = response
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::Malformed("no choices in the answer".to_owned()))?;
    let cut_off = choice.finish_reason.as_deref() == Some("length");
    let message = choice
        .message
        .ok_or_else(|| LlmError::Malformed("the choice has no message".to_owned()))?;
    if let Some(refusal) = message.refusal.as_deref().filter(|r| !r.trim().is_empty()) {
        return Err(LlmError::Malformed(format!(
            "the model refused: {}",
            truncate(refusal, QUOTE_CHARS)
        )));
    }
    let object = structured_value(message, wire).map_err(|e| match e {
        LlmError::Malformed(reason) if cut_off => {
            LlmError::Malformed(format!("{reason} (cut off by max_tokens)"))
        }
        other => other,
    })?;
    let mut classification = validate(&object, choices, wire)?;
    classification.usage = usage;
    Ok(classification)
}

/// The answer object: the `route` tool call's arguments, else the content (servers that answer a
/// forced tool call in `content`, and the `json_schema` path).
fn structured_value(message: ChatMessage, wire: Wire) -> Result<Value, LlmError> {
    if wire == Wire::Tools {
        let calls = message.tool_calls.unwrap_or_default();
        let call = calls
            .iter()
            .filter_map(|c| c.function.as_ref())
            .find(|f| f.name.as_deref() == Some(schema::TOOL_NAME))
            .or_else(|| calls.iter().find_map(|c| c.function.as_ref()));
        if let Some(function) = call {
            return match &function.arguments {
                Some(Value::String(text)) => json_object(text),
                Some(object @ Value::Object(_)) => Ok(object.clone()),
                _ => Err(LlmError::Malformed(
                    "the tool call has no arguments".to_owned(),
                )),
            };
        }
    }
    let text = match message.content {
        Some(Value::String(text)) => text,
        // Content parts: [{"type": "text", "text": "…"}, …].
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    };
    if text.trim().is_empty() {
        return Err(LlmError::Malformed(match wire {
            Wire::Tools => "no tool call and no content".to_owned(),
            Wire::JsonSchema => "empty content".to_owned(),
        }));
    }
    json_object(&text)
}

/// Parses a JSON object out of model text: bare, in ``` fences, or surrounded by prose; raw control
/// characters inside strings (which some grammars let through) are escaped first.
fn json_object(text: &str) -> Result<Value, LlmError> {
    let unfenced = strip_fences(text.trim());
    let braced = match (unfenced.find('{'), unfenced.rfind('}')) {
        (Some(start), Some(end)) if start < end => Some(&unfenced[start..=end]),
        _ => None,
    };
    for candidate in [Some(unfenced), braced].into_iter().flatten() {
        for attempt in [candidate.to_owned(), escape_controls_in_strings(candidate)] {
            if let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(&attempt) {
                return Ok(value);
            }
        }
    }
    Err(LlmError::Malformed(format!(
        "not a JSON object: {:?}",
        truncate(text, QUOTE_CHARS)
    )))
}

fn strip_fences(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    // Skip the info string ("json") up to the end of the first line.
    let body = rest.find('\n').map_or(rest, |at| &rest[at + 1..]);
    body.trim_end().strip_suffix("```").unwrap_or(body).trim()
}

fn escape_controls_in_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for ch in text.chars() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '\n' if in_string => {
                out.push_str("\\n");
                continue;
            }
            '\r' if in_string => {
                out.push_str("\\r");
                continue;
            }
            '\t' if in_string => {
                out.push_str("\\t");
                continue;
            }
            c if in_string && c.is_control() => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
                continue;
            }
            _ => {}
        }
        out.push(ch);
    }
    out
}

fn validate(object: &Value, choices: &[Choice], wire: Wire) -> Result<Classification, LlmError> {
    let said = object
        .get("intent")
        .and_then(Value::as_str)
        .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\''))
        .ok_or_else(|| LlmError::Malformed("no intent string".to_owned()))?;
    let intent = if said.eq_ignore_ascii_case(schema::NONE) {
        None
    } else {
        let id = schema::intent_enum(choices)
            .into_iter()
            .find(|id| id.eq_ignore_ascii_case(said))
            .ok_or_else(|| {
                LlmError::Malformed(format!(
                    "intent {:?} is not one of the choices",
                    truncate(said, QUOTE_CHARS)
                ))
            })?;
        Some(id)
    };
    let confidence = match object.get("confidence") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|c| c.is_finite())
    .ok_or_else(|| LlmError::Malformed("no numeric confidence".to_owned()))?
    .clamp(0.0, 1.0);
    Ok(Classification {
        intent,
        confidence,
        entities: entities(object.get("entities")),
        via: wire.mode(),
        usage: None,
    })
}

/// Missing or non-object entities are treated as none stated (they carry no routing decision).
fn entities(value: Option<&Value>) -> RawEntities {
    let mut entities = RawEntities::default();
    let Some(Value::Object(map)) = value else {
        return entities;
    };
    for (key, value) in map {
        let Some(slot) = entities.slot(key) else {
            continue;
        };
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        *slot = clean_entity(key, &text);
    }
    entities
}

fn clean_entity(key: &str, text: &str) -> Option<String> {
    let mut value = text.trim();
    if key == "order_id" {
        value = value.trim_start_matches('#').trim_start();
    }
    let placeholder = ["null", "none", "n/a"]
        .iter()
        .any(|p| value.eq_ignore_ascii_case(p));
    if value.is_empty() || placeholder {
        return None;
    }
    Some(value.chars().take(MAX_ENTITY_CHARS).collect())
}

#[cfg(test)]
mod tests;

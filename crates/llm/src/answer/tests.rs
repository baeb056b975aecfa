use serde_json::json;

use super::*;
use crate::StructuredMode;

fn choices() -> Vec<Choice> {
    vec![
        Choice::new("payment.pay", "Pay someone"),
        Choice::new("search.products", "Find products"),
    ]
}

fn content_body(content: &str) -> Vec<u8> {
    json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    })
    .to_string()
    .into_bytes()
}

fn tool_body(arguments: Value) -> Vec<u8> {
    json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "route", "arguments": arguments}}
        ]}, "finish_reason": "tool_calls"}],
    })
    .to_string()
    .into_bytes()
}

fn answer(intent: &str) -> Value {
    json!({"intent": intent, "confidence": 0.8, "entities": {
        "amount": "20", "currency": "EUR", "order_id": null, "query": null,
        "category": null, "min_price": null, "max_price": null}})
}

#[test]
fn json_schema_content_becomes_a_classification() {
    let c = parse(
        &content_body(&answer("Payment.Pay").to_string()),
        Wire::JsonSchema,
        &choices(),
    )
    .unwrap();
    assert_eq!(
        c.intent.as_deref(),
        Some("payment.pay"),
        "canonical spelling"
    );
    assert_eq!(c.confidence, 0.8);
    assert_eq!(c.entities.amount.as_deref(), Some("20"));
    assert_eq!(c.entities.currency.as_deref(), Some("EUR"));
    assert_eq!(c.entities.query, None);
    assert_eq!(c.via, StructuredMode::JsonSchema);
    assert_eq!(
        c.usage,
        Some(Usage {
            prompt_tokens: 10,
            completion_tokens: 5,
            total_tokens: 15
        })
    );
}

#[test]
fn tool_arguments_as_string_or_object() {
    let text = parse(
        &tool_body(Value::String(answer("none").to_string())),
        Wire::Tools,
        &choices(),
    )
    .unwrap();
    assert_eq!(text.intent, None);
    assert_eq!(text.via, StructuredMode::Tools);
    assert_eq!(text.usage, None);
    let object = parse(
        &tool_body(answer("search.products")),
        Wire::Tools,
        &choices(),
    )
    .unwrap();
    assert_eq!(object.intent.as_deref(), Some("search.products"));
}

#[test]
fn forced_tool_answered_in_content_is_accepted() {
    let c = parse(
        &content_body(&answer("none").to_string()),
        Wire::Tools,
        &choices(),
    )
    .unwrap();
    assert_eq!(c.via, StructuredMode::Tools);
}

#[test]
fn fences_prose_and_raw_newlines_are_tolerated() {
    let inner = answer("payment.pay").to_string();
    for text in [
        format!("```json\n{inner}\n```"),
        format!("```\n{inner}```"),
        format!("```json {inner}```"),
        format!("Here you go: {inner} Hope it helps."),
        r#"{"intent": "none", "confidence": 1, "entities": {"amount": "},
" }}"#
            .to_owned(),
    ] {
        let c = parse(&content_body(&text), Wire::JsonSchema, &choices());
        assert!(c.is_ok(), "{text}: {c:?}");
    }
}

#[test]
fn garbage_unknown_intents_and_missing_confidence_are_malformed() {
    let cases = [
        content_body("I think the user wants to pay."),
        content_body(""),
        content_body(&answer("weather.get").to_string()),
        content_body(&json!({"intent": "none"}).to_string()),
        content_body(&json!({"intent": "none", "confidence": "high"}).to_string()),
        content_body(&json!({"confidence": 1}).to_string()),
        content_body("[1, 2]"),
        b"<html>".to_vec(),
        json!({"choices": []}).to_string().into_bytes(),
        json!({"choices": [{"message": {"refusal": "I can't help with that"}}]})
            .to_string()
            .into_bytes(),
        tool_body(Value::String("not json".into())),
    ];
    for body in cases {
        match parse(&body, Wire::Tools, &choices()) {
            Err(LlmError::Malformed(_)) => {}
            other => panic!(
                "{}: expected Malformed, got {other:?}",
                String::from_utf8_lossy(&body)
            ),
        }
    }
}

#[test]
fn cut_off_answers_say_so() {
    let body = json!({"choices": [{"message": {"content": "{\"intent\": \"no"}, "finish_reason": "length"}]});
    let err = parse(body.to_string().as_bytes(), Wire::JsonSchema, &choices()).unwrap_err();
    assert!(err.to_string().contains("max_tokens"), "{err}");
}

#[test]
fn confidence_is_clamped_and_may_be_a_numeric_string() {
    for (raw, expected) in [(json!(1.7), 1.0), (json!(-2), 0.0), (json!(" 0.25 "), 0.25)] {
        let body = json!({"intent": "none", "confidence": raw, "entities": {}});
        let c = parse(
            &content_body(&body.to_string()),
            Wire::JsonSchema,
            &choices(),
        )
        .unwrap();
        assert_eq!(c.confidence, expected);
    }
}

#[test]
fn entities_are_trimmed_emptied_capped_and_order_ids_lose_their_hash() {
    let body = json!({"intent": "none", "confidence": 0.5, "entities": {
        "amount": 12.5, "currency": "  ", "order_id": " #A-1001 ", "query": "x".repeat(300),
        "category": "null", "min_price": true, "max_price": " 100 ", "colour": "red"}});
    let c = parse(
        &content_body(&body.to_string()),
        Wire::JsonSchema,
        &choices(),
    )
    .unwrap();
    assert_eq!(c.entities.amount.as_deref(), Some("12.5"));
    assert_eq!(c.entities.currency, None);
    assert_eq!(c.entities.order_id.as_deref(), Some("A-1001"));
    assert_eq!(
        c.entities.query.as_ref().map(|q| q.chars().count()),
        Some(200)
    );
    assert_eq!(c.entities.category, None);
    assert_eq!(c.entities.min_price, None);
    assert_eq!(c.entities.max_price.as_deref(), Some("100"));
}

#[test]
fn missing_entities_mean_none_stated() {
    let body = json!({"intent": "none", "confidence": 0.5});
    let c = parse(
        &content_body(&body.to_string()),
        Wire::JsonSchema,
        &choices(),
    )
    .unwrap();
    assert!(c.entities.is_empty());
}

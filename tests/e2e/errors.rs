//! Bad input gets a precise status and code through the real gateway, and changes nothing.

use serde_json::{Value, json};

use crate::support::Mesh;

async fn expect(mesh: &Mesh, body: Value, status: u16, code: &str) {
    let (got, answer, _) = mesh.post("/process", &body).await;
    assert_eq!(got.as_u16(), status, "{body} → {answer}");
    assert_eq!(answer["status"], "error", "{answer}");
    assert_eq!(answer["error"]["code"], code, "{body} → {answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(
        answer["request_id"].as_str().is_some_and(|r| !r.is_empty()),
        "{answer}"
    );
}

#[tokio::test]
async fn envelope_mistakes_are_400s() {
    let mesh = Mesh::start().await;
    expect(&mesh, json!({"user_id": "u"}), 400, "missing_field").await;
    expect(
        &mesh,
        json!({"message": "", "user_id": "u"}),
        400,
        "empty_field",
    )
    .await;
    expect(
        &mesh,
        json!({"message": "   ", "user_id": "u"}),
        400,
        "empty_field",
    )
    .await;
    expect(&mesh, json!({"message": "pay $5"}), 400, "missing_field").await;
    expect(
        &mesh,
        json!({"message": "pay $5", "user_id": ""}),
        400,
        "empty_field",
    )
    .await;
    expect(
        &mesh,
        json!({"message": 42, "user_id": "u"}),
        400,
        "invalid_field",
    )
    .await;
    expect(
        &mesh,
        json!({"message": "pay $5", "user_id": ["u"]}),
        400,
        "invalid_field",
    )
    .await;
    expect(
        &mesh,
        json!({"message": "pay $5", "user_id": "u", "context": "order 1"}),
        400,
        "invalid_field",
    )
    .await;
    expect(
        &mesh,
        json!({"message": "pay $5", "user_id": "u", "context": [1, 2]}),
        400,
        "invalid_field",
    )
    .await;
    expect(
        &mesh,
        json!({"message": "pay $5", "user_id": "u", "mode": "soon"}),
        400,
        "invalid_field",
    )
    .await;
    expect(
        &mesh,
        json!({"message": "pay $5", "user_id": "u", "agent": "shipping"}),
        400,
        "unknown_agent",
    )
    .await;
    expect(
        &mesh,
        json!(["not", "an", "object"]),
        400,
        "invalid_request",
    )
    .await;
    expect(
        &mesh,
        json!({"message": "x".repeat(4_001), "user_id": "u"}),
        400,
        "message_too_long",
    )
    .await;
    assert_eq!(mesh.ledger.count().await.unwrap(), 0);
}

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let mesh = Mesh::start().await;
    let (status, body, _) = mesh
        .post_raw(
            "/process",
            b"{\"message\": \"pay".to_vec(),
            "application/json",
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{body}"
    );

    let big =
        json!({"message": "pay $5", "user_id": "u", "context": {"pad": "x".repeat(70 * 1024)}});
    let (status, body, _) = mesh
        .post_raw(
            "/process",
            serde_json::to_vec(&big).unwrap(),
            "application/json",
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );

    let (status, body, _) = mesh
        .post_raw(
            "/process",
            b"message=pay".to_vec(),
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "{body}"
    );

    let r = mesh
        .http
        .get(format!("{}/process", mesh.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let r = mesh
        .http
        .get(format!("{}/nowhere", mesh.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(mesh.ledger.count().await.unwrap(), 0);
}

#[tokio::test]
async fn bad_amounts_and_currencies_are_422s() {
    let mesh = Mesh::start().await;
    let pay = |message: &str| json!({"message": message, "user_id": "u"});
    expect(&mesh, pay("pay -$100"), 422, "invalid_amount").await;
    expect(&mesh, pay("pay $0"), 422, "invalid_amount").await;
    expect(&mesh, pay("pay 0.001 USD"), 422, "invalid_amount").await;
    expect(&mesh, pay("pay 1.5 JPY"), 422, "invalid_amount").await;
    expect(&mesh, pay("pay $2,000,000"), 422, "amount_too_large").await;
    expect(
        &mesh,
        pay(&format!("pay ${}", "9".repeat(40))),
        422,
        "amount_too_large",
    )
    .await;
    expect(&mesh, pay("pay 100 XYZ"), 422, "invalid_currency").await;
    expect(&mesh, pay("pay 100"), 422, "missing_currency").await;
    expect(
        &mesh,
        pay("I want to pay for my order"),
        422,
        "missing_amount",
    )
    .await;
    let with_ctx =
        |ctx: Value| json!({"message": "pay for order 77", "user_id": "u", "context": ctx});
    expect(
        &mesh,
        with_ctx(json!({"amount": "lots", "currency": "USD"})),
        422,
        "invalid_amount",
    )
    .await;
    expect(
        &mesh,
        with_ctx(json!({"amount": -5, "currency": "USD"})),
        422,
        "invalid_amount",
    )
    .await;
    expect(
        &mesh,
        with_ctx(json!({"amount": 1e300, "currency": "USD"})),
        422,
        "amount_too_large",
    )
    .await;
    expect(
        &mesh,
        with_ctx(json!({"amount": 10, "currency": "ABC"})),
        422,
        "invalid_currency",
    )
    .await;
    expect(
        &mesh,
        with_ctx(json!({"amount": 10, "currency": 840})),
        422,
        "invalid_currency",
    )
    .await;
    expect(
        &mesh,
        with_ctx(json!({"amount": 10, "currency": "USD", "order_id": "no spaces allowed"})),
        422,
        "invalid_order_id",
    )
    .await;
    assert_eq!(
        mesh.ledger.count().await.unwrap(),
        0,
        "no bad request may write to the ledger"
    );
}

#[tokio::test]
async fn bad_search_bounds_are_422s() {
    let mesh = Mesh::start().await;
    let body = json!({"message": "find lamps", "user_id": "u", "context": {"price_range": {"min": 50, "max": 10}}});
    expect(&mesh, body, 422, "invalid_price_range").await;
    let body = json!({"message": "find lamps", "user_id": "u", "context": {"price_range": {"max": "cheap"}}});
    expect(&mesh, body, 422, "invalid_price_range").await;
}

#[tokio::test]
async fn an_unavailable_mode_is_said_not_faked() {
    // A mesh without a broker and task store (one service alone without RABBITMQ_URL/REDIS_URL).
    let mesh = Mesh::start_with(crate::support::Async::all(None)).await;
    expect(
        &mesh,
        json!({"message": "find lamps", "user_id": "u", "mode": "async"}),
        501,
        "mode_not_available",
    )
    .await;
}

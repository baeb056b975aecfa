//! The README's examples, answered as documented.

use serde_json::json;

use crate::support::Mesh;

#[tokio::test]
async fn the_payment_example_is_charged() {
    let mesh = Mesh::start().await;
    let (status, body, headers) = mesh
        .post("/process", &json!({"message": "I want to pay $100 for order #12345", "user_id": "user-123", "context": {"order_id": "12345", "currency": "USD"}}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["agent"], "payment");
    let data = &body["data"];
    assert!(
        data["transaction_id"].as_str().unwrap().starts_with("txn_"),
        "{data}"
    );
    assert_eq!(data["amount"], json!(100.0));
    assert_eq!(data["currency"], "USD");
    assert_eq!(data["status"], "completed");
    let request_id = body["request_id"].as_str().unwrap();
    assert!(request_id.starts_with("req-"));
    assert_eq!(headers["x-request-id"], request_id);
    assert_eq!(mesh.ledger.count_for_order("12345").await.unwrap(), 1);
}

#[tokio::test]
async fn the_search_example_is_queued_and_finds_cheap_electronics_best_match_first() {
    let mesh = Mesh::start().await;
    let (status, queued, headers) = mesh
        .post("/process", &json!({"message": "search for wireless headphones under $50", "user_id": "user-123", "context": {"category": "electronics", "price_range": {"max": 50}}}))
        .await;
    // Search runs asynchronously by default: 202, then the result under /tasks/{id}.
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["agent"], "search");
    let task_id = queued["task_id"].as_str().unwrap();
    assert_eq!(headers["location"], format!("/tasks/{task_id}").as_str());
    assert_eq!(
        queued["request_id"],
        headers["x-request-id"].to_str().unwrap()
    );
    let body = mesh.finished_task(task_id).await;
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(body["agent"], "search");
    let products = body["data"]["products"].as_array().unwrap();
    assert!(!products.is_empty(), "{body}");
    for p in products {
        assert_eq!(p["category"], "electronics", "{p}");
        assert!(p["price"].as_f64().unwrap() <= 50.0, "{p}");
    }
    let scores: Vec<f64> = products
        .iter()
        .map(|p| p["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best match first: {scores:?}"
    );
    let best = products[0]["name"].as_str().unwrap().to_lowercase();
    assert!(
        best.contains("wireless") && best.contains("headphones"),
        "{best}"
    );
    assert_eq!(body["data"]["max_price"], json!(50.0));
}

#[tokio::test]
async fn a_bare_dollar_amount_pays_in_usd() {
    let mesh = Mesh::start().await;
    let (status, body, _) = mesh
        .post(
            "/process",
            &json!({"message": "pay $100", "user_id": "test-user"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["currency"], "USD");
    assert_eq!(body["data"]["amount"], json!(100.0));
    assert_eq!(body["data"]["order_id"], serde_json::Value::Null);
}

#[tokio::test]
async fn route_returns_the_decision_without_executing_it() {
    let mesh = Mesh::start().await;
    let before = mesh.ledger.count().await.unwrap();
    let (status, body, _) = mesh
        .post(
            "/route",
            &json!({"message": "I want to pay $100 for order #12345", "user_id": "user-123"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "routed");
    assert_eq!(body["agent"], "payment");
    assert_eq!(body["skill"], "pay");
    assert_eq!(body["stage"], "rules");
    assert!(body["confidence"].as_f64().unwrap() >= 0.5);
    assert_eq!(
        body["entities"],
        json!({"amount": 100.0, "currency": "USD", "order_id": "12345"})
    );
    assert_eq!(
        mesh.ledger.count().await.unwrap(),
        before,
        "/route must not execute"
    );

    let (_, body, _) = mesh
        .post("/route", &json!({"message": "find books about gardening between 20 and 40 euros", "user_id": "u", "context": {"price_range": {"max": 30}}}))
        .await;
    assert_eq!(body["agent"], "search");
    assert_eq!(body["entities"]["query"], "gardening");
    assert_eq!(body["entities"]["category"], "books");
    assert_eq!(body["entities"]["min_price"], json!(20.0));
    assert_eq!(body["entities"]["max_price"], json!(30.0), "context wins");
}

#[tokio::test]
async fn an_unclear_message_asks_instead_of_guessing() {
    let mesh = Mesh::start().await;
    for path in ["/process", "/route"] {
        let (status, body, _) = mesh
            .post(
                path,
                &json!({"message": "hello, how are you?", "user_id": "u"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "needs_clarification", "{body}");
    }
    let (_, body, _) = mesh
        .post(
            "/process",
            &json!({"message": "hello, how are you?", "user_id": "u"}),
        )
        .await;
    let candidates = body["data"]["candidates"].as_array().unwrap();
    assert!(
        candidates.iter().any(|c| c["agent"] == "payment")
            && candidates.iter().any(|c| c["agent"] == "search")
    );
    assert_eq!(mesh.ledger.count().await.unwrap(), 0);
}

#[tokio::test]
async fn an_explicit_agent_skips_classification() {
    let mesh = Mesh::start().await;
    let (status, body, _) = mesh
        .post("/process", &json!({"message": "anything with a lamp", "user_id": "u", "agent": "search", "mode": "sync", "context": {"query": "lamp"}}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["route"]["stage"], "explicit");
    assert!(
        body["data"]["products"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"].as_str().unwrap().contains("Lamp"))
    );
}

#[tokio::test]
async fn the_services_answer_health_and_metrics() {
    let mesh = Mesh::start().await;
    let (status, body) = mesh.get(&format!("{}/health", mesh.gateway)).await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "healthy");
    mesh.post("/process", &json!({"message": "pay $5", "user_id": "u"}))
        .await;
    let (status, text) = mesh.get(&format!("{}/metrics", mesh.payment)).await;
    assert_eq!(status, 200);
    assert!(
        text.contains(r#"agent_requests_total{agent="payment",method="Process",status="OK"} 1"#),
        "{text}"
    );
    let (_, text) = mesh.get(&format!("{}/metrics", mesh.gateway)).await;
    assert!(
        text.contains(r#"agent_requests_total{agent="gateway",method="/process",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains("agent_active_connections"));
}

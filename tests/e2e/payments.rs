//! Payments are charged once, whatever is retried or sent concurrently.

use std::collections::BTreeSet;

use serde_json::json;

use crate::support::Mesh;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_identical_payments_at_once_charge_once() {
    let mesh = Mesh::start().await;
    let body = json!({"message": "I want to pay $100 for order #555", "user_id": "user-123", "context": {"order_id": "555", "currency": "USD"}});
    let answers = futures::future::join_all((0..20).map(|_| mesh.post("/process", &body))).await;
    let mut transactions = BTreeSet::new();
    for (status, answer, _) in &answers {
        assert_eq!(status.as_u16(), 200, "{answer}");
        transactions.insert(
            answer["data"]["transaction_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(transactions.len(), 1, "all 20 answers name one transaction");
    assert_eq!(
        answers
            .iter()
            .filter(|(_, a, _)| a["data"]["replayed"] == false)
            .count(),
        1
    );
    assert_eq!(mesh.ledger.count_for_order("555").await.unwrap(), 1);
    assert_eq!(mesh.ledger.count().await.unwrap(), 1);
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retry_safe() {
    let mesh = Mesh::start().await;
    let body = json!({"message": "pay 20 EUR", "user_id": "u"});
    let key = [("Idempotency-Key", "retry-me-1")];
    let (s1, a1, _) = mesh.post_with("/process", &body, &key).await;
    let (s2, a2, _) = mesh.post_with("/process", &body, &key).await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (200, 200), "{a1} {a2}");
    assert_eq!(a1["data"]["transaction_id"], a2["data"]["transaction_id"]);
    assert_eq!(a2["data"]["replayed"], true);

    let other = json!({"message": "pay 25 EUR", "user_id": "u"});
    let (s3, a3, _) = mesh.post_with("/process", &other, &key).await;
    assert_eq!(s3.as_u16(), 409, "{a3}");
    assert_eq!(a3["error"]["code"], "idempotency_conflict");
    assert_eq!(mesh.ledger.count().await.unwrap(), 1);

    // Without a key or an order, two requests are two payments.
    mesh.post("/process", &body).await;
    mesh.post("/process", &body).await;
    assert_eq!(mesh.ledger.count().await.unwrap(), 3);
}

#[tokio::test]
async fn a_paid_order_cannot_be_paid_again_with_another_amount() {
    let mesh = Mesh::start().await;
    let (s, a, _) = mesh
        .post(
            "/process",
            &json!({"message": "pay $40 for order A-77812", "user_id": "u"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{a}");
    let (s, a, _) = mesh
        .post(
            "/process",
            &json!({"message": "pay $45 for order A-77812", "user_id": "u"}),
        )
        .await;
    assert_eq!(s.as_u16(), 409, "{a}");
    assert_eq!(a["error"]["code"], "order_already_paid");
    assert_eq!(a["error"]["details"]["order_id"], "A-77812");
    assert_eq!(mesh.ledger.count_for_order("A-77812").await.unwrap(), 1);
}

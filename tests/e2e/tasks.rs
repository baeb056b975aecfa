//! The asynchronous path end to end with the embedded adapters (as `make run` has them): 202 and
//! `Location`, the task API, Server-Sent Events, `Prefer`, cancel, and idempotent queuing.

use std::time::Duration;

use intentmesh_tasks::{AsyncConfig, TaskPorts};
use serde_json::{Value, json};

use crate::support::{Async, Mesh};

const SEARCH: &str = "find red running shoes under $80";

/// The events of an SSE body, as (event name, data).
fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str(v.trim()).ok();
                }
            }
            Some((name?, data?))
        })
        .collect()
}

async fn events_of(mesh: &Mesh, task_id: &str) -> Vec<(String, Value)> {
    let response = mesh
        .http
        .get(format!("{}/tasks/{task_id}/events", mesh.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("the event stream ends once the task has finished")
        .unwrap();
    sse_events(&text)
}

#[tokio::test]
async fn a_queued_search_has_a_status_and_an_event_history() {
    let mesh = Mesh::start().await;
    let (status, queued, _) = mesh
        .post("/process", &json!({"message": SEARCH, "user_id": "u"}))
        .await;
    assert_eq!(status, 202, "{queued}");
    let task_id = queued["task_id"].as_str().unwrap();
    assert!(task_id.starts_with("task_"));
    assert_eq!(
        queued["links"]["events"],
        format!("/tasks/{task_id}/events")
    );

    let task = mesh.finished_task(task_id).await;
    assert_eq!(task["status"], "success");
    assert_eq!(task["task_id"], task_id);
    assert_eq!(task["skill"], "search");
    assert_eq!(task["attempts"], 1);
    assert!(
        task["data"]["products"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{task}"
    );
    assert!(task["error"].is_null());
    for field in ["created_at", "started_at", "finished_at"] {
        assert!(
            task[field].as_str().is_some_and(|t| t.ends_with('Z')),
            "{field}: {task}"
        );
    }

    // A late reader still sees the whole history, and the stream ends at once.
    let events = events_of(&mesh, task_id).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["queued", "working", "success"]);
    assert!(events.iter().all(|(_, e)| e["task_id"] == task_id));
}

#[tokio::test]
async fn prefer_and_mode_choose_how_to_answer() {
    let mesh = Mesh::start().await;
    // wait=N: the result within the wait is a 200 with the data.
    let (status, body, _) = mesh
        .post_with(
            "/process",
            &json!({"message": SEARCH, "user_id": "u"}),
            &[("prefer", "wait=5")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert!(
        body["task_id"]
            .as_str()
            .is_some_and(|t| t.starts_with("task_"))
    );
    assert!(body["data"]["products"].is_array());

    // "mode": "sync" answers in the same response, without a task.
    let (status, body, _) = mesh
        .post(
            "/process",
            &json!({"message": SEARCH, "user_id": "u", "mode": "sync"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["task_id"].is_null());

    // respond-async turns a payment (sync by default) into a task, charged once.
    let (status, body, headers) = mesh
        .post_with(
            "/process",
            &json!({"message": "pay $42 for order #777", "user_id": "u"}),
            &[("prefer", "respond-async")],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(headers["preference-applied"], "respond-async");
    let task = mesh.finished_task(body["task_id"].as_str().unwrap()).await;
    assert_eq!(task["data"]["amount"], json!(42.0));
    assert_eq!(task["data"]["status"], "completed");
    assert_eq!(mesh.ledger.count_for_order("777").await.unwrap(), 1);
}

#[tokio::test]
async fn the_same_idempotency_key_queues_one_task_and_charges_once() {
    let mesh = Mesh::start().await;
    let body = json!({"message": "pay $10 for order #4242", "user_id": "u", "mode": "async"});
    let headers = [("idempotency-key", "checkout-4242")];
    let (s1, first, _) = mesh.post_with("/process", &body, &headers).await;
    let (s2, second, _) = mesh.post_with("/process", &body, &headers).await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (202, 202));
    assert_eq!(first["task_id"], second["task_id"]);
    mesh.finished_task(first["task_id"].as_str().unwrap()).await;
    assert_eq!(mesh.ledger.count_for_order("4242").await.unwrap(), 1);
}

#[tokio::test]
async fn a_failed_async_payment_reports_its_error() {
    let mesh = Mesh::start().await;
    let (status, body, _) = mesh
        .post("/process", &json!({"message": "pay $5 for order #31", "user_id": "u", "mode": "async", "context": {"amount": 2000000}}))
        .await;
    assert_eq!(status, 202, "{body}");
    let task = mesh.finished_task(body["task_id"].as_str().unwrap()).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error"]["code"], "amount_too_large");
    assert!(task["data"].is_null());
    // Waiting for it answers like the synchronous call would have.
    let (status, body, _) = mesh
        .post_with("/process", &json!({"message": "pay $5 for order #32", "user_id": "u", "mode": "async", "context": {"amount": 2000000}}), &[("prefer", "wait=5")])
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "amount_too_large");
    assert_eq!(mesh.ledger.count().await.unwrap(), 0);
}

#[tokio::test]
async fn queued_tasks_can_be_canceled_and_only_those() {
    // Workers without ports: queued work waits, so it can be canceled.
    let ports = TaskPorts::memory(&AsyncConfig::embedded());
    let mesh = Mesh::start_with(Async {
        front: Some(ports),
        workers: None,
    })
    .await;
    let (status, body, _) = mesh
        .post("/process", &json!({"message": SEARCH, "user_id": "u"}))
        .await;
    assert_eq!(status, 202);
    let task_id = body["task_id"].as_str().unwrap().to_owned();
    let (status, task) = mesh.get_json(&format!("/tasks/{task_id}")).await;
    assert_eq!(
        (status.as_u16(), task["status"].as_str()),
        (200, Some("queued"))
    );

    let cancel = format!("/tasks/{task_id}/cancel");
    let (status, task, _) = mesh.post(&cancel, &json!({})).await;
    assert_eq!(
        (status.as_u16(), task["status"].as_str()),
        (200, Some("canceled")),
        "{task}"
    );
    // Twice is fine.
    let (status, _, _) = mesh.post(&cancel, &json!({})).await;
    assert_eq!(status, 200);
    let events = events_of(&mesh, &task_id).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["queued", "canceled"]);

    for unknown in ["task_0123456789abcdef0123456789abcdef", "nope", "task_../x"] {
        let (status, body) = mesh.get_json(&format!("/tasks/{unknown}")).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["code"], "not_found");
        let (status, _, _) = mesh
            .post(&format!("/tasks/{unknown}/cancel"), &json!({}))
            .await;
        assert_eq!(status, 404);
    }
}

#[tokio::test]
async fn a_finished_task_cannot_be_canceled() {
    let mesh = Mesh::start().await;
    let (_, body, _) = mesh
        .post("/process", &json!({"message": SEARCH, "user_id": "u"}))
        .await;
    let task_id = body["task_id"].as_str().unwrap();
    mesh.finished_task(task_id).await;
    let (status, body, _) = mesh
        .post(&format!("/tasks/{task_id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "task_not_cancelable");
    assert_eq!(body["error"]["details"]["state"], "success");
}

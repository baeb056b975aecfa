//! The payment agent stops during a load of synchronous payments: the root's breaker opens after
//! the threshold, calls then fail fast with `circuit_open` (or queue, when the caller allows),
//! `circuit_breaker_state` says so, the breaker closes once the agent is back, and no payment is
//! charged twice or lost.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use intentmesh_tasks::{AsyncConfig, TaskPorts};
use serde_json::{Value, json};

use crate::support::{Async, Mesh};

const BREAKER: [(&str, &str); 4] = [
    ("DISCOVERY_INTERVAL_SECS", "0.2"),
    ("CIRCUIT_PAYMENT_FAILURE_THRESHOLD", "5"),
    ("CIRCUIT_PAYMENT_TIMEOUT_SECS", "1"),
    ("CIRCUIT_PAYMENT_RECOVERY_THRESHOLD", "3"),
];

/// One answer of the load: order, HTTP status, error code, latency.
type Answer = (u64, u16, String, Duration);

async fn breaker_state(mesh: &Mesh) -> Option<i64> {
    let (_, text) = mesh.get(&format!("{}/metrics", mesh.root)).await;
    text.lines()
        .find(|l| l.starts_with(r#"circuit_breaker_state{agent="root",target="payment"}"#))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn wait_for_state(mesh: &Mesh, want: i64, within: Duration) {
    let deadline = Instant::now() + within;
    while breaker_state(mesh).await != Some(want) {
        assert!(
            Instant::now() < deadline,
            "the breaker never reported {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_ready(mesh: &Mesh, want: u16, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = mesh.get(&format!("{}/ready", mesh.root)).await;
        if status.as_u16() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "root /ready stayed {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends payments, 8 at a time, each for a new order with its order as Idempotency-Key, until
/// `stop`; `mode` "sync" insists on an answer now, "auto" lets the root queue.
fn load(
    mesh: &Arc<Mesh>,
    mode: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Answer>> {
    let mesh = Arc::clone(mesh);
    tokio::spawn(async move {
        let next = Arc::new(AtomicUsize::new(0));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let workers = (0..8).map(|_| {
            let (mesh, next, answers, stop) = (Arc::clone(&mesh), Arc::clone(&next), Arc::clone(&answers), Arc::clone(&stop));
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let order = 810_000 + next.fetch_add(1, Ordering::SeqCst) as u64;
                    // Named explicitly: the breaker is under test, not routing (whose payment
                    // guard asks the embedding model, slow in a debug build).
                    let body = json!({"message": format!("pay $12 for order #{order}"), "user_id": "load", "mode": mode, "agent": "payment"});
                    let key = order.to_string();
                    let started = Instant::now();
                    let (status, answer, _) = mesh.post_with("/process", &body, &[("idempotency-key", &key)]).await;
                    let code = answer["error"]["code"].as_str().unwrap_or_default().to_owned();
                    answers.lock().unwrap().push((order, status.as_u16(), code, started.elapsed()));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        });
        for w in futures::future::join_all(workers).await {
            w.unwrap();
        }
        Arc::try_unwrap(answers).unwrap().into_inner().unwrap()
    })
}

fn p99(mut latencies: Vec<Duration>) -> Duration {
    latencies.sort();
    latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]
}

/// Every order answered with anything but 200 is sent again (same key) now that the agent is
/// back; then each order is in the ledger exactly once.
async fn assert_each_order_charged_once(mesh: &Mesh, answers: &[Answer]) {
    for (order, status, _, _) in answers {
        if *status != 200 && *status != 202 {
            let body = json!({"message": format!("pay $12 for order #{order}"), "user_id": "load", "mode": "sync", "agent": "payment"});
            let (status, answer, _) = mesh
                .post_with(
                    "/process",
                    &body,
                    &[("idempotency-key", &order.to_string())],
                )
                .await;
            assert_eq!(status, 200, "order {order} after recovery: {answer}");
        }
    }
    for (order, _, _, _) in answers {
        assert_eq!(
            mesh.ledger
                .count_for_order(&order.to_string())
                .await
                .unwrap(),
            1,
            "order {order}"
        );
    }
    assert_eq!(mesh.ledger.count().await.unwrap(), answers.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_fails_fast_and_closes_when_the_agent_returns() {
    let mesh = Arc::new(Mesh::start_custom(Async::all(None), &BREAKER).await);
    let stop = Arc::new(AtomicBool::new(false));
    let driver = load(&mesh, "sync", Arc::clone(&stop));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(breaker_state(&mesh).await, Some(0));

    mesh.stop_payment().await;
    wait_for_state(&mesh, 1, Duration::from_secs(5)).await;
    // Readiness follows: the root reports not ready while a worker is unreachable.
    wait_for_ready(&mesh, 503, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // open, half-open probes fail, open again
    mesh.restart_payment().await;
    wait_for_state(&mesh, 0, Duration::from_secs(10)).await;
    wait_for_ready(&mesh, 200, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let answers = driver.await.unwrap();

    let fast: Vec<Duration> = answers
        .iter()
        .filter(|a| a.2 == "circuit_open")
        .map(|a| a.3)
        .collect();
    let unavailable = answers.iter().filter(|a| a.2 == "unavailable").count();
    assert!(
        !fast.is_empty(),
        "no call failed fast while the circuit was open"
    );
    // With retries inside the root, the failures that open the breaker may all be retries:
    // callers then see circuit_open rather than unavailable.
    let p99 = p99(fast.clone());
    eprintln!(
        "{} answers: {} ok, {unavailable} unavailable, {} circuit_open (p99 {:.2} ms)",
        answers.len(),
        answers.iter().filter(|a| a.1 == 200).count(),
        fast.len(),
        p99.as_secs_f64() * 1e3
    );
    assert!(
        p99 < Duration::from_millis(100),
        "failing fast took {p99:?} at p99"
    );
    let last = answers.iter().max_by_key(|a| a.0).unwrap();
    assert_eq!(
        last.1, 200,
        "payments succeed again after recovery: {last:?}"
    );
    // Calls in flight when the agent went away may also end 502/504; nothing else is acceptable.
    let odd: Vec<&Answer> = answers
        .iter()
        .filter(|a| !matches!(a.1, 200 | 502 | 503 | 504))
        .collect();
    assert!(
        odd.is_empty(),
        "neither success nor a downstream failure: {odd:?}"
    );
    assert_each_order_charged_once(&mesh, &answers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_queues_work_the_caller_let_wait() {
    let ports = TaskPorts::memory(&AsyncConfig::embedded());
    let mesh = Arc::new(Mesh::start_custom(Async::all(Some(ports)), &BREAKER).await);
    mesh.stop_payment().await;
    // Insisting on sync trips the breaker...
    for n in 0..6 {
        let body = json!({"message": format!("pay $3 for order #{}", 820_000 + n), "user_id": "u", "mode": "sync"});
        mesh.post_with("/process", &body, &[("idempotency-key", &format!("k{n}"))])
            .await;
    }
    wait_for_state(&mesh, 1, Duration::from_secs(5)).await;
    // ...then a payment that may wait is queued, and says why.
    let (status, queued, _) = mesh
        .post(
            "/process",
            &json!({"message": "pay $7 for order #830001", "user_id": "u"}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["reason"], "circuit_open");
    mesh.restart_payment().await;
    let task: Value = mesh
        .finished_task(queued["task_id"].as_str().unwrap())
        .await;
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(mesh.ledger.count_for_order("830001").await.unwrap(), 1);
}

#[tokio::test]
async fn a_request_that_runs_out_of_time_is_a_504() {
    // A budget no hop can meet: the gateway's call to the root carries it as grpc-timeout.
    let mesh = Mesh::start_custom(Async::all(None), &[("REQUEST_TIMEOUT_SECS", "0.001")]).await;
    let (status, body, _) = mesh
        .post(
            "/process",
            &json!({"message": "pay $9 for order #840001", "user_id": "u"}),
        )
        .await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "deadline_exceeded");
    // A charge is not started with the budget gone, so none appears later either.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mesh.ledger.count_for_order("840001").await.unwrap(), 0);
}

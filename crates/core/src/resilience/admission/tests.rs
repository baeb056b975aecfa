use std::convert::Infallible;

use tower::{Layer, Service, ServiceExt};

use super::*;

fn config(limit: usize) -> AdmissionConfig {
    AdmissionConfig {
        initial_limit: limit,
        min_limit: 1,
        max_limit: 1000,
        max_wait: Duration::from_millis(500),
        max_queue: 3,
    }
}

#[tokio::test(start_paused = true)]
async fn up_to_the_limit_run_at_once_and_the_next_waits_its_turn() {
    let admission = Admission::new(config(2));
    let a = admission.acquire(None).await.unwrap();
    let _b = admission.acquire(None).await.unwrap();
    assert_eq!(admission.in_flight(), 2);

    let waiting = tokio::spawn({
        let admission = admission.clone();
        async move { admission.acquire(None).await.map(|_| ()) }
    });
    tokio::task::yield_now().await;
    assert_eq!(admission.waiting(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(a);
    assert_eq!(waiting.await.unwrap(), Ok(()));
    assert_eq!(admission.waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_wait_ends_at_max_wait_or_at_the_deadline_whichever_is_first() {
    let admission = Admission::new(config(1));
    let _held = admission.acquire(None).await.unwrap();

    let start = Instant::now();
    assert_eq!(
        admission.acquire(None).await.unwrap_err(),
        Overloaded::WaitExpired
    );
    assert_eq!(start.elapsed(), Duration::from_millis(500));

    let start = Instant::now();
    let deadline = start + Duration::from_millis(80);
    assert_eq!(
        admission.acquire(Some(deadline)).await.unwrap_err(),
        Overloaded::WaitExpired
    );
    assert_eq!(start.elapsed(), Duration::from_millis(80));
    // A deadline already past: refused without waiting.
    assert_eq!(
        admission.acquire(Some(start)).await.unwrap_err(),
        Overloaded::WaitExpired
    );
    assert_eq!(admission.waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn past_max_queue_a_request_is_refused_at_once() {
    let metrics = ServiceMetrics::new("test");
    let admission = Admission::reported_in(config(1), Arc::clone(&metrics));
    let _held = admission.acquire(None).await.unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let admission = admission.clone();
            tokio::spawn(async move { admission.acquire(None).await.map(|_| ()) })
        })
        .collect();
    tokio::task::yield_now().await;
    assert_eq!(admission.waiting(), 3);
    let start = Instant::now();
    assert_eq!(
        admission.acquire(None).await.unwrap_err(),
        Overloaded::QueueFull
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    for w in waiters {
        assert_eq!(w.await.unwrap(), Err(Overloaded::WaitExpired));
    }
    let text = metrics.encode();
    assert!(
        text.contains(r#"admission_refused_total{agent="test",reason="queue_full"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"admission_refused_total{agent="test",reason="wait_expired"} 3"#),
        "{text}"
    );
}

/// Runs `n` windows of requests that keep `limit` in flight and take `rtt` each.
async fn busy_windows(admission: &Admission, n: usize, rtt: Duration) {
    for _ in 0..n {
        let limit = admission.limit();
        let mut tickets = Vec::new();
        for _ in 0..limit {
            tickets.push(admission.acquire(None).await.unwrap());
        }
        tokio::time::sleep(rtt.max(WINDOW)).await;
        // Their service time is `rtt`, whatever the window's length.
        for t in tickets {
            admission.sample(rtt, limit);
            drop(t);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_limit_grows_while_latency_holds_and_shrinks_when_it_climbs() {
    let admission = Admission::new(config(20));
    busy_windows(&admission, 10, Duration::from_millis(5)).await;
    let grown = admission.limit();
    assert!(
        grown > 20,
        "steady latency at full use grows the limit: {grown}"
    );

    busy_windows(&admission, 30, Duration::from_millis(50)).await;
    let shrunk = admission.limit();
    assert!(
        shrunk < grown / 2,
        "ten times the latency shrinks it: {grown} → {shrunk}"
    );
    assert!(shrunk >= 1);
}

#[tokio::test(start_paused = true)]
async fn an_idle_server_keeps_its_limit() {
    let admission = Admission::new(config(20));
    for _ in 0..50 {
        let t = admission.acquire(None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        t.done();
    }
    assert_eq!(admission.limit(), 20, "one at a time says nothing of 20");
}

#[tokio::test(start_paused = true)]
async fn after_the_limit_shrinks_in_flight_work_drains_to_the_new_limit() {
    let admission = Admission::new(config(10));
    let tickets: Vec<_> = futures::future::join_all((0..10).map(|_| admission.acquire(None)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    // Slow windows at full use: the limit falls while all ten permits are out.
    for _ in 0..5 {
        for _ in 0..MIN_SAMPLES {
            admission.sample(Duration::from_millis(5), 10);
        }
        tokio::time::sleep(WINDOW).await;
    }
    for _ in 0..10 {
        for _ in 0..MIN_SAMPLES {
            admission.sample(Duration::from_millis(100), 10);
        }
        tokio::time::sleep(WINDOW).await;
    }
    let limit = admission.limit();
    assert!(limit < 10, "{limit}");
    drop(tickets);
    // Exactly `limit` fit now.
    let mut again = Vec::new();
    for _ in 0..limit {
        again.push(admission.acquire(None).await.unwrap());
    }
    assert!(admission.0.permits.try_acquire().is_err());
    assert_eq!(admission.in_flight(), limit);
}

#[derive(Clone)]
struct Policy;

impl AdmissionPolicy<&'static str, String> for Policy {
    fn admit(&self, request: &http::Request<&'static str>) -> Admit {
        if request.uri().path() == "/health" {
            Admit::Exempt
        } else {
            Admit::Govern {
                deadline: None,
                sample: true,
            }
        }
    }

    fn refuse(&self, why: Overloaded) -> http::Response<String> {
        http::Response::builder()
            .status(503)
            .body(why.reason().to_owned())
            .unwrap()
    }

    fn is_sample(&self, response: &http::Response<String>) -> bool {
        response.status().is_success()
    }
}

#[tokio::test(start_paused = true)]
async fn the_layer_refuses_governed_requests_past_the_limit_and_lets_exempt_ones_through() {
    let admission = Admission::new(AdmissionConfig {
        max_queue: 0,
        ..config(1)
    });
    let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
    let service = tower::service_fn(move |_: http::Request<&'static str>| {
        let mut gate = gate_rx.clone();
        async move {
            let _ = gate.wait_for(|open| *open).await;
            Ok::<_, Infallible>(http::Response::new("ok".to_owned()))
        }
    });
    let svc = AdmissionLayer::new(admission.clone(), Policy).layer(service);
    let request = |path| http::Request::builder().uri(path).body("").unwrap();

    let first = tokio::spawn(svc.clone().oneshot(request("/process")));
    tokio::task::yield_now().await;
    assert_eq!(admission.in_flight(), 1);
    let refused = svc.clone().oneshot(request("/process")).await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.body(), "queue_full");

    let mut health = svc.clone();
    let health =
        tokio::spawn(async move { health.ready().await.unwrap().call(request("/health")).await });
    tokio::task::yield_now().await;
    gate_tx.send(true).unwrap();
    assert_eq!(first.await.unwrap().unwrap().body(), "ok");
    assert_eq!(health.await.unwrap().unwrap().body(), "ok");
    assert_eq!(admission.in_flight(), 0);
}

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;

fn config() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 3,
        open_for: Duration::from_secs(60),
        recovery_threshold: 2,
    }
}

fn fail(b: &CircuitBreaker, n: u32) {
    for _ in 0..n {
        let p = b.try_acquire().expect("let through");
        b.record(p, Outcome::Failure);
    }
}

#[tokio::test(start_paused = true)]
async fn opens_after_consecutive_failures_only() {
    let b = CircuitBreaker::new("payment", config());
    fail(&b, 2);
    let p = b.try_acquire().unwrap();
    b.record(p, Outcome::Success); // resets the count
    fail(&b, 2);
    assert_eq!(b.state(), BreakerState::Closed);
    let p = b.try_acquire().unwrap();
    b.record(p, Outcome::Ignored); // a caller's mistake is not the target's failure
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&b, 1);
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_canceled_probe_frees_its_slot() {
    let b = CircuitBreaker::new("llm", config());
    fail(&b, 3);
    tokio::time::advance(Duration::from_secs(60)).await;
    for _ in 0..5 {
        // The caller gave up (its future was dropped) before recording anything.
        drop(b.try_acquire().expect("a probe slot is free again"));
    }
    assert_eq!(
        b.state(),
        BreakerState::HalfOpen,
        "canceled probes decide nothing"
    );
    let first = b.try_acquire().expect("probe 1");
    let second = b.try_acquire().expect("probe 2");
    b.record(first, Outcome::Success);
    b.record(second, Outcome::Success);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn open_fails_fast_then_half_opens_for_a_few_probes() {
    let b = CircuitBreaker::new("payment", config());
    fail(&b, 3);
    let wait = b.try_acquire().unwrap_err();
    assert_eq!(wait, Duration::from_secs(60));
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(b.try_acquire().unwrap_err(), Duration::from_secs(1));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let first = b.try_acquire().expect("probe 1");
    let second = b.try_acquire().expect("probe 2");
    assert!(
        b.try_acquire().is_err(),
        "only recovery_threshold probes at a time"
    );
    b.record(first, Outcome::Success);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.record(second, Outcome::Success);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_opens_it_again_for_the_whole_timeout() {
    let b = CircuitBreaker::new("payment", config());
    fail(&b, 3);
    tokio::time::advance(Duration::from_secs(60)).await;
    let probe = b.try_acquire().unwrap();
    b.record(probe, Outcome::Failure);
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.try_acquire().unwrap_err(), Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn the_layer_fails_fast_and_reports_every_state() {
    let states = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&states);
    let breaker =
        CircuitBreaker::new("search", config()).on_change(move |s| seen.lock().unwrap().push(s));
    let up = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(Mutex::new(0u32));
    let (up2, calls2) = (Arc::clone(&up), Arc::clone(&calls));
    let inner = service_fn(move |x: u32| {
        let (up, calls) = (Arc::clone(&up2), Arc::clone(&calls2));
        async move {
            *calls.lock().unwrap() += 1;
            if up.load(Ordering::SeqCst) {
                Ok(x)
            } else {
                Err("connection refused")
            }
        }
    });
    let classify = |r: &Result<u32, &str>| {
        if r.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    };
    let mut svc = CircuitBreakerLayer::new(breaker.clone(), classify).layer(inner);

    for _ in 0..3 {
        assert!(matches!(
            svc.ready().await.unwrap().call(1).await,
            Err(BreakerError::Inner(_))
        ));
    }
    match svc.ready().await.unwrap().call(1).await {
        Err(BreakerError::Open {
            target,
            retry_after,
        }) => {
            assert_eq!(&*target, "search");
            assert_eq!(retry_after, Duration::from_secs(60));
        }
        other => panic!("expected a fast failure, got {other:?}"),
    }
    assert_eq!(
        *calls.lock().unwrap(),
        3,
        "an open breaker does not call the target"
    );

    up.store(true, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(60)).await;
    for _ in 0..2 {
        assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
    }
    assert_eq!(
        *states.lock().unwrap(),
        [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
            BreakerState::Closed
        ]
    );
}

#[test]
fn settings_per_target_override_the_shared_ones() {
    let env = HashMap::from([
        ("CIRCUIT_FAILURE_THRESHOLD", "7"),
        ("CIRCUIT_PAYMENT_FAILURE_THRESHOLD", "2"),
        ("CIRCUIT_PAYMENT_TIMEOUT_SECS", "5"),
    ]);
    let payment = BreakerConfig::from_env(&env, "payment").unwrap();
    assert_eq!(
        (
            payment.failure_threshold,
            payment.open_for,
            payment.recovery_threshold
        ),
        (2, Duration::from_secs(5), 3)
    );
    let search = BreakerConfig::from_env(&env, "search").unwrap();
    assert_eq!(
        (search.failure_threshold, search.open_for),
        (7, Duration::from_secs(60))
    );
    let bad = HashMap::from([("CIRCUIT_SEARCH_RECOVERY_THRESHOLD", "0")]);
    assert!(BreakerConfig::from_env(&bad, "search").is_err());
    assert!(BreakerConfig::from_env(&HashMap::from([("CIRCUIT_TIMEOUT_SECS", "x")]), "a").is_err());
}

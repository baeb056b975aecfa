//! Quotas against the real binary: requests per caller (`RATE_LIMIT_*`), kept in Redis and so
//! shared by two gateways, or in memory by client address without authentication.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::{
    auth::{Answer, new_key, post},
    launcher::{Running, start_dev_services, wait_ready},
};

async fn search(gateway: &str, key: Option<&str>, user: &str) -> Answer {
    post(
        gateway,
        key.map(|k| ("x-api-key", k)),
        json!({"message": "find desk lamps", "user_id": user, "mode": "sync"}),
    )
    .await
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name}: {:?}", answer.headers))
        .to_str()
        .unwrap()
}

fn assert_limited(answer: &Answer) {
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert_eq!(
        answer.body["error"]["code"], "rate_limited",
        "{}",
        answer.body
    );
    let retry: u64 = header(answer, "retry-after").parse().unwrap();
    assert!((1..=5).contains(&retry), "Retry-After {retry}");
    assert!(header(answer, "ratelimit").contains("r=0"));
}

/// Starts `intentmesh gateway` alone on a free port, against `root`, with `settings`.
async fn second_gateway(root: &str, settings: &[(&str, &str)]) -> (Running, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_intentmesh"))
        .arg("gateway")
        .env("GATEWAY_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("ROOT_AGENT_URL", root)
        .env("RUST_LOG", "warn")
        .envs(settings.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&url).await;
    (Running(child), url)
}

#[tokio::test]
async fn a_callers_rate_is_its_own_and_shared_by_every_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let (alice_key, alice) = new_key("alice", "");
    let (bob_key, bob) = new_key("bob", "");
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("{alice}\n{bob}\n")).unwrap();
    let config = intentmesh_tasks::test_util::real_async_config(
        "ratelimit",
        intentmesh_tasks::RetryPolicy::default(),
    );
    let (amqp, redis) = (config.amqp.unwrap(), config.redis.unwrap());
    let settings = [
        ("RABBITMQ_URL", amqp.url.as_str()),
        ("TASK_QUEUE_PREFIX", amqp.prefix.as_str()),
        ("REDIS_URL", redis.url.as_str()),
        ("REDIS_KEY_PREFIX", redis.key_prefix.as_str()),
        ("AUTH_MODE", "api_key"),
        ("AUTH_API_KEYS_FILE", keys.to_str().unwrap()),
        // Three at once, then one every five seconds.
        ("RATE_LIMIT_RPS", "0.2"),
        ("RATE_LIMIT_BURST", "3"),
    ];
    let mut dev = settings.to_vec();
    dev.push(("INTENTMESH_DATA_DIR", dir.path().to_str().unwrap()));
    let (_mesh, urls) = start_dev_services(&dev, Stdio::null()).await;
    let one = &urls["gateway"];
    let (_other, two) = second_gateway(&urls["root"], &settings).await;

    let first = search(one, Some(&alice_key), "alice").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(header(&first, "ratelimit-policy"), r#""default";q=3;w=15"#);
    assert!(header(&first, "ratelimit").starts_with(r#""default";r=2;t="#));
    assert_eq!(search(one, Some(&alice_key), "alice").await.status, 200);
    // The third of the burst on the other gateway: the same bucket.
    let third = search(&two, Some(&alice_key), "alice").await;
    assert_eq!(third.status, 200, "{}", third.body);
    assert!(header(&third, "ratelimit").starts_with(r#""default";r=0;"#));
    assert_limited(&search(&two, Some(&alice_key), "alice").await);
    assert_limited(&search(one, Some(&alice_key), "alice").await);

    // Bob's rate is his own; probes are never limited.
    assert_eq!(search(one, Some(&bob_key), "bob").await.status, 200);
    let health = reqwest::get(format!("{one}/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().get("ratelimit").is_none());

    let metrics = reqwest::get(format!("{one}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"quota_checks_total{agent="gateway",quota="rate",outcome="refused"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn without_authentication_each_client_address_is_limited() {
    let dir = tempfile::tempdir().unwrap();
    let (_mesh, urls) = start_dev_services(
        &[
            ("INTENTMESH_DATA_DIR", dir.path().to_str().unwrap()),
            ("RATE_LIMIT_RPS", "0.2"),
            ("RATE_LIMIT_BURST", "2"),
        ],
        Stdio::null(),
    )
    .await;
    let gateway = &urls["gateway"];
    // Naming other users in the body does not buy more: the address is the caller.
    assert_eq!(search(gateway, None, "u1").await.status, 200);
    assert_eq!(search(gateway, None, "u2").await.status, 200);
    assert_limited(&search(gateway, None, "u3").await);
}

async fn pay(gateway: &str, user: &str, message: &str) -> (u16, Value) {
    let answer = post(gateway, None, json!({"message": message, "user_id": user})).await;
    (answer.status, answer.body)
}

/// `PAYMENT_DAILY_LIMITS`: a user's payments in a currency on one UTC day stop at the limit;
/// the payment that would pass it is `422 budget_exceeded` and charges nothing.
#[tokio::test]
async fn a_daily_limit_refuses_the_payment_that_would_pass_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_mesh, urls) = start_dev_services(
        &[
            ("INTENTMESH_DATA_DIR", dir.path().to_str().unwrap()),
            ("PAYMENT_DAILY_LIMITS", "USD=20,EUR=1000"),
        ],
        Stdio::null(),
    )
    .await;
    let gateway = &urls["gateway"];
    let (status, body) = pay(gateway, "alice", "pay $15").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = pay(gateway, "alice", "pay $10").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
    assert_eq!(body["error"]["details"]["currency"], "USD");
    assert_eq!(body["error"]["details"]["daily_limit"], "20");
    // Up to the limit exactly; another user, and another currency, count apart.
    assert_eq!(pay(gateway, "alice", "pay $5").await.0, 200);
    assert_eq!(pay(gateway, "alice", "pay $0.01").await.0, 422);
    assert_eq!(pay(gateway, "bob", "pay $15").await.0, 200);
    assert_eq!(pay(gateway, "alice", "pay 10 EUR").await.0, 200);
    // JPY has no limit here.
    assert_eq!(pay(gateway, "alice", "pay 50000 JPY").await.0, 200);

    let metrics = reqwest::get(format!("{}/metrics", urls["payment"]))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (outcome, n) in [("refused", 2), ("allowed", 4)] {
        let sample = format!(
            r#"quota_checks_total{{agent="payment",quota="daily_budget",outcome="{outcome}"}} {n}"#
        );
        assert!(metrics.contains(&sample), "{sample} in {metrics}");
    }
}

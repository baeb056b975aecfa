//! Hostile input, proven harmless: 5,000 generated requests through the real gateway — wrong
//! types, deep nesting, huge numbers, invalid UTF-8, duplicate keys, oversized and junk headers
//! (`Prefer`, `traceparent`, `X-Request-Id`, `Idempotency-Key`, `Content-Type`), unknown and
//! malformed task ids, odd methods, junk credentials — with authentication on, and not one 5xx,
//! not one panic; the ledger holds exactly the payments that were answered as charged, and the
//! mesh is healthy afterwards.

use std::{cell::RefCell, collections::BTreeSet, process::Stdio, time::Duration};

use intentmesh_core::config::DatabaseUrl;
use intentmesh_payment_agent::{Ledger, SqlLedger};
use proptest::{prelude::*, test_runner::TestRunner};
use serde_json::{Value, json};

use crate::{
    auth::{get, new_key},
    launcher::start_dev_services,
};

/// One generated request.
#[derive(Debug, Clone)]
struct Hostile {
    method: &'static str,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
}

/// JSON that is legal but wrong: every type, huge and tiny numbers, long and odd strings.
fn junk_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(u64::MAX)),
        ".{0,40}".prop_map(Value::String),
        Just(Value::String("x".repeat(5_000))),
        Just(Value::String("\u{0}\u{202e}\u{fffd}💸".to_owned())),
    ];
    leaf.prop_recursive(12, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `{"a": {"a": …}}` nested `levels` deep.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!("deep"), |inner, _| json!({ "a": inner }))
}

/// Messages that ask for payments (some valid, some not), searches and nonsense.
fn message() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "pay $5", "pay 12.50 EUR for order #77", "pay -5 EUR", "pay 0 USD", "pay 1e308 USD",
            "pay 99999999999999999999999 USD", "pay 5 XYZ", "pay 1.234 USD", "pay ¥100",
            "find desk lamps under $50", "search for chairs between $10 and $5",
            "refund my last payment", "", "   ",
        ]).prop_map(|m| json!(m)),
        1 => ".{0,200}".prop_map(Value::String),
        1 => junk_value(),
    ]
}

fn json_body() -> impl Strategy<Value = Vec<u8>> {
    (
        message(),
        prop_oneof![Just(json!("hostile-user")), junk_value()],
        prop_oneof![
            2 => Just(None),
            2 => junk_value().prop_map(Some),
            1 => (0usize..60).prop_map(|n| Some(nested(n))),
        ],
        prop_oneof![
            Just(None),
            prop::sample::select(vec!["sync", "async", "auto", "SYNC", "later", ""])
                .prop_map(|m| Some(json!(m))),
            junk_value().prop_map(Some),
        ],
        prop_oneof![
            3 => Just(None),
            1 => prop::sample::select(vec!["payment", "search", "root", "nope", ""])
                .prop_map(|a| Some(json!(a))),
            1 => junk_value().prop_map(Some),
        ],
    )
        .prop_map(|(message, user, context, mode, agent)| {
            let mut body = serde_json::Map::new();
            body.insert("message".into(), message);
            body.insert("user_id".into(), user);
            for (name, value) in [("context", context), ("mode", mode), ("agent", agent)] {
                if let Some(value) = value {
                    body.insert(name.into(), value);
                }
            }
            serde_json::to_vec(&body).unwrap()
        })
}

/// Bytes that are not the JSON asked for: raw junk, invalid UTF-8 inside strings, duplicate
/// keys, truncated documents, a top level that is not an object, a huge document.
fn raw_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        Just(b"{\"message\":\"pay $5 \xff\xfe\",\"user_id\":\"u\"}".to_vec()),
        Just(b"{\"message\":\"find lamps\",\"message\":\"pay $5\",\"user_id\":\"a\",\"user_id\":\"b\"}".to_vec()),
        Just(b"{\"message\":\"pay $5\",\"user_id\":\"u\"".to_vec()),
        Just(b"[\"pay $5\"]".to_vec()),
        Just(b"\"pay $5\"".to_vec()),
        Just(b"{\"message\":\"pay $5\",\"user_id\":\"u\",\"amount\":1e999999}".to_vec()),
        Just(format!("{{\"message\":\"{}\",\"user_id\":\"u\"}}", "a".repeat(70_000)).into_bytes()),
        Just(format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()),
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ -~]{0,80}".prop_map(String::into_bytes),
        prop::collection::vec(0x80u8..=0xff, 1..20),
        Just(vec![b'x'; 20_000]),
        Just(b"respond-async, wait=999999999999999999999".to_vec()),
        Just(b"wait=-1".to_vec()),
        Just(b"00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-ff".to_vec()),
        Just(b"00-00000000000000000000000000000000-0000000000000000-01".to_vec()),
        Just(b"application/json; charset=utf-16".to_vec()),
        Just(b"text/plain".to_vec()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = prop_oneof![
        6 => prop::sample::select(vec![
            "prefer",
            "traceparent",
            "tracestate",
            "x-request-id",
            "idempotency-key",
            "content-type",
            "x-junk",
        ]),
        // Junk credentials, less often: most requests keep the valid key.
        1 => prop::sample::select(vec!["authorization", "x-api-key"]),
    ];
    prop::collection::vec((name.prop_map(str::to_owned), header_value()), 0..4)
}

fn task_path() -> impl Strategy<Value = String> {
    let id = prop_oneof![
        "task_[0-9a-f]{32}",
        "[ -~]{0,40}".prop_map(|s| s.replace(['/', '?', '#', ' ', '%'], "")),
        Just("..%2f..%2fetc%2fpasswd".to_owned()),
        Just(format!("task_{}", "f".repeat(500))),
    ];
    (id, prop::sample::select(vec!["", "/events", "/cancel"]))
        .prop_map(|(id, tail)| format!("/tasks/{id}{tail}"))
}

fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        6 => (prop::sample::select(vec!["/process", "/route"]), json_body(), headers())
            .prop_map(|(path, body, headers)| Hostile {
                method: "POST",
                path: path.to_owned(),
                headers,
                body: Some(body),
            }),
        3 => (raw_body(), headers()).prop_map(|(body, headers)| Hostile {
            method: "POST",
            path: "/process".to_owned(),
            headers,
            body: Some(body),
        }),
        2 => (task_path(), prop::sample::select(vec!["GET", "POST", "DELETE"]), headers())
            .prop_map(|(path, method, headers)| Hostile {
                method,
                path,
                headers,
                body: None,
            }),
        1 => (
            prop::sample::select(vec!["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]),
            prop::sample::select(vec!["/process", "/route", "/", "/nope", "/metrics", "/health"]),
            headers(),
        )
            .prop_map(|(method, path, headers)| Hostile {
                method,
                path: path.to_owned(),
                headers,
                body: None,
            }),
    ]
}

/// Adds the payment `answer` (a reply or a task) says was charged now, if any.
fn charge_of(answer: &Value, charged: &mut BTreeSet<String>) {
    if let Some(txn) = answer["data"]["transaction_id"].as_str()
        && answer["data"]["replayed"] == false
    {
        charged.insert(txn.to_owned());
    }
}

#[test]
fn five_thousand_hostile_requests_do_no_harm() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    // With authentication on, so credentials are part of the surface: every request carries
    // hostile-user's key unless it brings (junk) credentials of its own.
    let (key, line) = new_key("hostile-user", "");
    let keys = dir.path().join("keys");
    std::fs::write(&keys, line).unwrap();
    let (mut child, urls) = runtime.block_on(start_dev_services(
        &[
            ("INTENTMESH_DATA_DIR", dir.path().to_str().unwrap()),
            ("AUTH_MODE", "api_key"),
            ("AUTH_API_KEYS_FILE", keys.to_str().unwrap()),
            ("RUST_LOG", "warn"),
        ],
        Stdio::from(stderr),
    ));
    let gateway = urls["gateway"].clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    // The runner takes a `Fn`: what it learns is kept in cells.
    let charged = RefCell::new(BTreeSet::new());
    let queued = RefCell::new(Vec::new());
    let statuses = RefCell::new(std::collections::BTreeMap::<u16, usize>::new());

    let mut runner = TestRunner::new(ProptestConfig {
        cases: 5_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&hostile(), |request| {
        let (status, body) = runtime.block_on(async {
            let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
            let mut builder = http.request(method, format!("{gateway}{}", request.path));
            if !request
                .headers
                .iter()
                .any(|(name, _)| name == "authorization" || name == "x-api-key")
            {
                builder = builder.header("x-api-key", &key);
            }
            for (name, value) in &request.headers {
                if let Ok(value) = reqwest::header::HeaderValue::from_bytes(value) {
                    builder = builder.header(name.as_str(), value);
                }
            }
            if let Some(body) = &request.body {
                builder = builder.body(body.clone());
            }
            let response = builder.send().await.expect("the gateway answers");
            let status = response.status().as_u16();
            let body = response.bytes().await.unwrap_or_default();
            (status, body)
        });
        *statuses.borrow_mut().entry(status).or_default() += 1;
        prop_assert!(
            status < 500,
            "{status} for {request:?}: {}",
            String::from_utf8_lossy(&body)
        );
        if let Ok(answer) = serde_json::from_slice::<Value>(&body) {
            charge_of(&answer, &mut charged.borrow_mut());
            if status == 202
                && let Some(task) = answer["task_id"].as_str()
            {
                queued.borrow_mut().push(task.to_owned());
            }
        }
        Ok(())
    });
    let (mut charged, queued, statuses) = (
        charged.into_inner(),
        queued.into_inner(),
        statuses.into_inner(),
    );
    eprintln!(
        "statuses: {statuses:?}; {} payments charged, {} tasks queued",
        charged.len(),
        queued.len()
    );
    if let Err(err) = result {
        panic!("{err}");
    }
    assert_eq!(statuses.values().sum::<usize>(), 5_000);

    runtime.block_on(async {
        // Still up, and still serving the ordinary request.
        for path in ["/health", "/ready"] {
            let r = http.get(format!("{gateway}{path}")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
        }
        let ok = http
            .post(format!("{gateway}/process"))
            .header("x-api-key", &key)
            .json(&json!({"message": "find desk lamps", "user_id": "hostile-user", "mode": "sync"}))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        // Queued work ends, and what it charged is known from its task.
        for task in &queued {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let view = get(
                    &format!("{gateway}/tasks/{task}"),
                    Some(("x-api-key", &key)),
                )
                .await
                .body;
                if !view["finished_at"].is_null() {
                    charge_of(&view, &mut charged);
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{task} did not end: {view}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // The ledger holds exactly the payments that were answered as charged.
        let url = format!("sqlite://{}/ledger.sqlite", dir.path().display());
        let ledger = SqlLedger::connect(&DatabaseUrl::Sqlite(url), 1)
            .await
            .unwrap();
        assert_eq!(ledger.count().await.unwrap(), charged.len() as u64);
    });
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the mesh is still running"
    );
    let logs = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(!logs.contains("panicked"), "a panic was logged:\n{logs}");
}

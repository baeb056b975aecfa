//! The real binary: `intentmesh` starts the mesh, answers, and drains on SIGTERM; a bad setting
//! exits 64 naming the variable.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::json;

/// Kills the child if the test fails before stopping it, so no server outlives its test.
pub(crate) struct Running(pub(crate) std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `intentmesh dev` on free ports with `settings` (and `DATABASE_URL` removed unless
/// given), waits until its gateway is ready, and returns it with the gateway's URL.
async fn start_dev(settings: &[(&str, &str)], stderr: Stdio) -> (Running, String) {
    let (child, mut urls) = start_dev_services(settings, stderr).await;
    let gateway = urls.remove("gateway").expect("the gateway's URL");
    (child, gateway)
}

/// As [`start_dev`], returning every service's URL by name (gateway, payment, search, root).
pub(crate) async fn start_dev_services(
    settings: &[(&str, &str)],
    stderr: Stdio,
) -> (Running, HashMap<String, String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_intentmesh"));
    command
        .env("GATEWAY_LISTEN_ADDR", "127.0.0.1:0")
        .env("PAYMENT_LISTEN_ADDR", "127.0.0.1:0")
        .env("SEARCH_LISTEN_ADDR", "127.0.0.1:0")
        .env("ROOT_LISTEN_ADDR", "127.0.0.1:0")
        .env_remove("DATABASE_URL")
        .env_remove("AGENT_URLS")
        .env_remove("ROOT_AGENT_URL")
        .env("RUST_LOG", "warn")
        .envs(settings.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr);
    let mut child = Running(command.spawn().expect("the intentmesh binary starts"));
    let stdout = child.0.stdout.take().unwrap();
    let urls = tokio::task::spawn_blocking(move || {
        // The banner names each service and its URL, the root last.
        let mut urls = HashMap::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut words = line.split_whitespace();
            if let (Some(name), Some(url)) = (words.next(), words.next())
                && ["gateway", "payment", "search", "root"].contains(&name)
                && url.starts_with("http://")
            {
                urls.insert(name.to_owned(), url.to_owned());
                if name == "root" {
                    break;
                }
            }
        }
        // The rest of stdout is dropped: the launcher prints nothing more.
        urls
    })
    .await
    .unwrap();
    let gateway = urls
        .get("gateway")
        .expect("the launcher prints the gateway URL")
        .clone();
    assert!(gateway.starts_with("http://127.0.0.1:"), "{gateway}");
    wait_ready(&gateway).await;
    (child, urls)
}

/// Waits (20 s at most) until the gateway at `url` answers `/ready` with 200.
pub(crate) async fn wait_ready(url: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http
        .get(format!("{url}/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "{url} not ready in 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn dev_mode_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let (mut child, gateway) =
        start_dev(&[("INTENTMESH_DATA_DIR", &data_dir)], Stdio::null()).await;
    let http = reqwest::Client::new();
    let answer: serde_json::Value = http
        .post(format!("{gateway}/process"))
        .json(&json!({"message": "pay $100", "user_id": "test-user"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "success", "{answer}");
    assert!(
        dir.path().join("ledger.sqlite").exists(),
        "the embedded ledger lives in INTENTMESH_DATA_DIR"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "did not stop within 10 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "a drained shutdown exits 0: {status:?}");
}

#[test]
fn a_bad_setting_exits_64_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_intentmesh"))
        .arg("payment")
        .env("REQUEST_TIMEOUT_SECS", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("REQUEST_TIMEOUT_SECS"));
}

/// `dev` runs four services in one process: one admin address for all of them is refused,
/// naming the per-service settings that work.
#[test]
fn dev_refuses_one_admin_port_for_four_services() {
    let out = Command::new(env!("CARGO_BIN_EXE_intentmesh"))
        .arg("dev")
        .env("ADMIN_LISTEN_ADDR", "127.0.0.1:19999")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ADMIN_LISTEN_ADDR"), "{stderr}");
    assert!(stderr.contains("PAYMENT_ADMIN_LISTEN_ADDR"), "{stderr}");
}

/// Debug-level JSON logs of a whole session carry no credentials and no payment details beyond
/// what identifies a payment (amount, order): the database password and a card number sent in a
/// message never appear.
#[tokio::test]
async fn logs_are_json_and_hold_no_secrets() {
    const PASSWORD: &str = "s3cret-Pa55-do-not-log";
    const CARD: &str = "4111 1111 1111 1111";
    let dir = tempfile::tempdir().unwrap();
    let database = intentmesh_core::test_util::fresh_postgres_database("logs").await;
    // Trust authentication ignores the password, so it can be anything — and must stay unseen.
    let database = database.replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1);
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let (mut child, gateway) = start_dev(
        &[
            ("DATABASE_URL", &database),
            ("RUST_LOG", "debug"),
            ("LOG_FORMAT", "json"),
            // Span export on (to a port where nothing listens): log lines then carry trace ids.
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ],
        Stdio::from(stderr),
    )
    .await;
    let http = reqwest::Client::new();
    for body in [
        json!({"message": format!("pay $12 for order #55501 with card {CARD}"), "user_id": "u"}),
        json!({"message": "pay 100 XYZ", "user_id": "u"}),
        json!({"message": "find desk lamps", "user_id": "u", "mode": "sync"}),
        json!({"message": format!("hello {CARD}"), "user_id": "u"}),
    ] {
        http.post(format!("{gateway}/process"))
            .header("idempotency-key", "checkout-55501")
            .json(&body)
            .send()
            .await
            .unwrap();
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    let _ = child.0.wait();

    let logs = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.len() > 20,
        "expected debug logs, got {} lines",
        lines.len()
    );
    for line in &lines {
        let parsed: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(parsed["level"].is_string(), "{line}");
        assert!(
            !line.contains(PASSWORD),
            "the database password was logged: {line}"
        );
        assert!(
            !line.contains(CARD) && !line.contains("4111111111111111"),
            "a card number was logged: {line}"
        );
    }
    assert!(
        logs.contains(r#""service":"payment""#),
        "service names appear in the JSON logs"
    );
    assert!(
        logs.contains(r#""request_id":"req-"#),
        "request ids appear in the JSON logs"
    );
    let trace_id = regex::Regex::new(r#""trace_id":"[0-9a-f]{32}""#).unwrap();
    assert!(
        trace_id.is_match(&logs),
        "trace ids appear in the JSON logs"
    );
}

/// The default stages include the embedding stage when it is built in; without its model the
/// mesh still starts, routes with rules and context, and says so once. Asked for by name, a
/// missing model stops the start.
#[cfg(feature = "embeddings")]
#[tokio::test]
async fn without_its_model_the_default_router_goes_on_with_rules_and_context() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-model");
    std::fs::create_dir_all(&empty).unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let (mut child, gateway) = start_dev(
        &[
            ("INTENTMESH_DATA_DIR", dir.path().to_str().unwrap()),
            ("EMBEDDING_MODEL_DIR", empty.to_str().unwrap()),
        ],
        Stdio::from(stderr),
    )
    .await;
    let answer = crate::auth::post(
        &gateway,
        None,
        json!({"message": "find desk lamps", "user_id": "u", "mode": "sync"}),
    )
    .await
    .body;
    assert_eq!(answer["agent"], "search", "{answer}");
    let _ = child.0.kill();
    let _ = child.0.wait();
    let logs = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert_eq!(
        logs.matches("no embedding model").count(),
        1,
        "one warning line: {logs}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_intentmesh"))
        .arg("root")
        .env("ROOT_LISTEN_ADDR", "127.0.0.1:0")
        .env("ROUTER_STAGES", "rules,context,embeddings")
        .env("EMBEDDING_MODEL_DIR", &empty)
        .env_remove("AGENT_URLS")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("embedding model"),
        "{out:?}"
    );
}

//! The Grafana dashboard and the Prometheus alert rules use only metrics the services export,
//! and the metrics named in the design are there with their labels.

use std::collections::BTreeSet;

use intentmesh_llm::fake::{Behaviour, FakeOpenAi};
use intentmesh_tasks::{AsyncConfig, TaskPorts};
use regex::Regex;
use serde_json::{Value, json};

use crate::support::{Async, Mesh};

/// The sample names a `/metrics` page can carry, from its `# TYPE` lines (so a family with no
/// samples yet still counts as exported).
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

/// The metric names a PromQL expression reads.
fn metrics_in(expr: &str) -> BTreeSet<String> {
    let labels = Regex::new(r"\{[^}]*\}").unwrap();
    let grouping =
        Regex::new(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)").unwrap();
    let ident = Regex::new(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\(|\[|\)|$|\s)").unwrap();
    let expr = grouping
        .replace_all(&labels.replace_all(expr, ""), "")
        .into_owned();
    ident
        .captures_iter(&expr)
        .filter(|c| &c[2] != "(")
        .map(|c| c[1].to_owned())
        .filter(|n| !matches!(n.as_str(), "and" | "or" | "unless" | "offset" | "bool"))
        .collect()
}

fn dashboard_exprs() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/dashboards/intentmesh.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect()
}

/// `expr:` values of the alert rules, single-line or block (`|`) form.
fn alert_exprs() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus/alerts.yml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut exprs = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        if value.trim() == "|" {
            let mut block = String::new();
            while let Some(next) = lines.peek() {
                if next.trim_start().contains(':') && !next.contains('(') {
                    break;
                }
                block.push_str(next.trim());
                block.push(' ');
                lines.next();
            }
            exprs.push(block);
        } else {
            exprs.push(value.trim().to_owned());
        }
    }
    exprs
}

#[test]
fn promql_names_are_read_correctly() {
    let names = metrics_in(
        r#"sum by (agent, le) (rate(agent_request_duration_seconds_bucket{status!~"OK|2.."}[5m])) / max(circuit_breaker_state) > 0.1"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "agent_request_duration_seconds_bucket",
            "circuit_breaker_state"
        ]
    );
}

#[tokio::test]
async fn dashboards_and_alerts_use_only_exported_metrics() {
    // Every stage configured (the LLM against a local fake), so every routing family exists.
    let fake = FakeOpenAi::start(Behaviour::keywords())
        .await
        .expect("fake OpenAI server");
    let mesh = Mesh::start_custom(
        Async::all(Some(TaskPorts::memory(&AsyncConfig::embedded()))),
        &[("OPENAI_BASE_URL", fake.base_url().as_str())],
    )
    .await;
    // Some traffic, so every family has been touched at least once where it can be.
    mesh.post("/process", &json!({"message": "pay $5", "user_id": "u"}))
        .await;
    let (_, queued, _) = mesh
        .post(
            "/process",
            &json!({"message": "find desk lamps", "user_id": "u"}),
        )
        .await;
    mesh.finished_task(queued["task_id"].as_str().unwrap())
        .await;

    let mut names = BTreeSet::new();
    let mut pages = String::new();
    for url in [&mesh.gateway, &mesh.root, &mesh.payment] {
        let (status, text) = mesh.get(&format!("{url}/metrics")).await;
        assert_eq!(status, 200);
        names.extend(exported(&text));
        pages.push_str(&text);
    }
    for name in [
        "agent_requests_total",
        "agent_request_duration_seconds_bucket",
        "agent_active_connections",
        "circuit_breaker_state",
        "task_queue_depth",
        "task_retries_total",
        "task_outcomes_total",
        "routing_decisions_total",
    ] {
        assert!(names.contains(name), "{name} is not exported: {names:?}");
    }
    // The labels the design names.
    assert!(
        pages.contains(r#"circuit_breaker_state{agent="gateway",target="root"} 0"#),
        "{pages}"
    );
    assert!(
        pages.contains(r#"circuit_breaker_state{agent="root",target="payment"} 0"#),
        "{pages}"
    );
    assert!(
        pages.contains(
            r#"routing_decisions_total{agent="root",stage="rules",intent="payment.pay"}"#
        ),
        "{pages}"
    );
    assert!(
        pages.contains(r#"task_outcomes_total{agent="payment",outcome="dead_lettered"} 0"#),
        "{pages}"
    );
    assert!(
        pages.contains(r#"task_queue_depth{agent="payment",queue="tasks"}"#),
        "{pages}"
    );

    let exprs: Vec<String> = dashboard_exprs().into_iter().chain(alert_exprs()).collect();
    assert!(exprs.len() >= 12, "{exprs:?}");
    for expr in &exprs {
        let used = metrics_in(expr);
        assert!(!used.is_empty(), "no metric found in {expr}");
        for metric in used {
            assert!(
                names.contains(&metric),
                "{metric} (in {expr}) is not exported"
            );
        }
    }
}

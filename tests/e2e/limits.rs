//! Bad input cannot take the mesh down: a `context` nested past what the agents decode is a
//! caller's mistake (400 at the gateway; `InvalidArgument` from an agent called directly), and
//! no number of them opens a breaker.

use intentmesh_proto::pb;
use serde_json::{Value, json};

use crate::support::Mesh;

/// `{"a": {"a": … "deep"}}`, `levels` objects deep.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!("deep"), |inner, _| json!({ "a": inner }))
}

async fn gateway_breaker(mesh: &Mesh) -> Option<i64> {
    let (_, text) = mesh.get(&format!("{}/metrics", mesh.gateway)).await;
    text.lines()
        .find(|l| l.starts_with(r#"circuit_breaker_state{agent="gateway",target="root"}"#))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn deeply_nested_requests_are_400s_and_open_no_breaker() {
    let mesh = Mesh::start().await;
    assert_eq!(gateway_breaker(&mesh).await, Some(0));
    for _ in 0..20 {
        let (status, body, _) = mesh
            .post(
                "/process",
                &json!({"message": "search for lamps", "user_id": "u-deep", "context": nested(40), "mode": "sync"}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_field", "{body}");
        assert_eq!(body["error"]["details"]["field"], "context", "{body}");
    }
    let (status, body, _) = mesh
        .post(
            "/process",
            &json!({"message": "search for desk lamps", "user_id": "u-deep", "mode": "sync"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["agent"], "search", "{body}");
    assert_eq!(gateway_breaker(&mesh).await, Some(0), "no breaker opened");
}

/// Called directly over gRPC, past the gateway's limits, an agent refuses what it cannot decode
/// as the caller's mistake, not as its own failure.
#[tokio::test]
async fn an_undecodable_request_is_invalid_argument_not_internal() {
    let mesh = Mesh::start().await;
    let mut value = prost_types::Value {
        kind: Some(prost_types::value::Kind::StringValue("deep".into())),
    };
    for _ in 0..60 {
        value = prost_types::Value {
            kind: Some(prost_types::value::Kind::StructValue(prost_types::Struct {
                fields: [("a".to_owned(), value)].into(),
            })),
        };
    }
    let Some(prost_types::value::Kind::StructValue(context)) = value.kind else {
        unreachable!("built as a struct")
    };
    let request = pb::ProcessRequest {
        message: "search for lamps".into(),
        user_id: "u-deep".into(),
        context: Some(context),
        ..Default::default()
    };
    for url in [&mesh.root, &mesh.payment] {
        let mut client = pb::agent_client::AgentClient::connect(url.clone())
            .await
            .expect("connect");
        let status = client.process(request.clone()).await.unwrap_err();
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{url}: {status:?}"
        );
        let err = intentmesh_core::AgentError::from(&status);
        assert_eq!(
            err.code,
            intentmesh_core::ErrorCode::InvalidRequest,
            "{url}: {err:?}"
        );
    }
}

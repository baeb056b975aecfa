//! One trace spans gateway → root → worker over gRPC, and gateway → root → RabbitMQ-or-memory →
//! worker for queued work: spans exported to an in-memory exporter share the trace id and have
//! the right parents.

use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use tracing_subscriber::prelude::*;

use crate::support::Mesh;

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn find<'a>(spans: &'a [SpanData], name: &str, service: &str) -> &'a SpanData {
    spans
        .iter()
        .rfind(|s| s.name == name && attribute(s, "service").as_deref() == Some(service))
        .unwrap_or_else(|| {
            let seen: Vec<_> = spans
                .iter()
                .map(|s| (s.name.to_string(), attribute(s, "service")))
                .collect();
            panic!("no {name} span of {service}: {seen:?}")
        })
}

// The services of the mesh run on this test's one thread (tokio's current-thread runtime), so
// the subscriber set here sees every span they make.
#[tokio::test]
async fn one_trace_crosses_every_hop() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("e2e")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let mesh = Mesh::start().await;
    exporter.reset();

    // Synchronous: gateway → root → payment over gRPC.
    let (status, body, _) = mesh
        .post(
            "/process",
            &json!({"message": "pay $21 for order #870001", "user_id": "u"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let spans = exporter.get_finished_spans().unwrap();
    let gateway = find(&spans, "/process", "gateway");
    let root = find(&spans, "/intentmesh.v1.Agent/Process", "root");
    let payment = find(&spans, "/intentmesh.v1.Agent/Process", "payment");
    let trace = gateway.span_context.trace_id();
    assert_eq!(
        gateway.parent_span_id,
        SpanId::INVALID,
        "the gateway starts the trace"
    );
    assert_eq!(root.span_context.trace_id(), trace);
    assert_eq!(payment.span_context.trace_id(), trace);
    assert_eq!(root.parent_span_id, gateway.span_context.span_id());
    assert_eq!(payment.parent_span_id, root.span_context.span_id());

    // Queued: gateway → root → broker → search worker.
    exporter.reset();
    let (status, queued, _) = mesh
        .post(
            "/process",
            &json!({"message": "find desk lamps", "user_id": "u"}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    mesh.finished_task(queued["task_id"].as_str().unwrap())
        .await;
    let spans = exporter.get_finished_spans().unwrap();
    let gateway = spans
        .iter()
        .find(|s| s.name == "/process" && attribute(s, "service").as_deref() == Some("gateway"))
        .expect("the gateway's span");
    let root = find(&spans, "/intentmesh.v1.Agent/Process", "root");
    let task = find(&spans, "process search task", "search");
    let trace = gateway.span_context.trace_id();
    assert_eq!(root.parent_span_id, gateway.span_context.span_id());
    assert_eq!(
        task.span_context.trace_id(),
        trace,
        "the worker continues the request's trace"
    );
    assert_eq!(
        task.parent_span_id,
        root.span_context.span_id(),
        "queued by the root's span"
    );
    assert!(attribute(task, "task_id").is_some());
    let _ = provider.shutdown();
}

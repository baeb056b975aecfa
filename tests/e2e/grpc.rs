//! An agent over gRPC as `grpcurl` sees it: services listed by reflection, a request built from
//! the reflected schema and JSON, the answer decoded the same way; plus the health protocol and
//! plain HTTP on the same port.

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use serde_json::json;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::support::Mesh;

/// Encodes and decodes messages known only at run time.
struct DynamicCodec(MessageDescriptor);
struct DynamicEncoder;
struct DynamicDecoder(MessageDescriptor);

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;
    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }
    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder(self.0.clone())
    }
}

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: DynamicMessage,
        dst: &mut EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, tonic::Status> {
        DynamicMessage::decode(self.0.clone(), src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

async fn reflect(
    client: &mut ServerReflectionClient<tonic::transport::Channel>,
    request: MessageRequest,
) -> MessageResponse {
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut answers = client
        .server_reflection_info(futures::stream::iter([req]))
        .await
        .expect("reflection call")
        .into_inner();
    answers
        .message()
        .await
        .expect("reflection answer")
        .expect("one answer")
        .message_response
        .expect("a response")
}

#[tokio::test]
async fn payment_agent_over_grpc_like_grpcurl() {
    let mesh = Mesh::start().await;
    let channel = tonic::transport::Endpoint::from_shared(mesh.payment.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut reflection = ServerReflectionClient::new(channel.clone());

    // grpcurl -plaintext localhost:8001 list
    let MessageResponse::ListServicesResponse(list) =
        reflect(&mut reflection, MessageRequest::ListServices(String::new())).await
    else {
        panic!("expected a service list");
    };
    let services: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "intentmesh.v1.Agent",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            services.iter().any(|s| s == expected),
            "{expected} in {services:?}"
        );
    }

    // grpcurl describe: the schema comes from the server, nothing is compiled into this client.
    let MessageResponse::FileDescriptorResponse(files) = reflect(
        &mut reflection,
        MessageRequest::FileContainingSymbol("intentmesh.v1.Agent".into()),
    )
    .await
    else {
        panic!("expected file descriptors");
    };
    // Like grpcurl, fetch every imported file the server has not sent yet, then build the pool.
    let decode = |b: &Vec<u8>| prost_types::FileDescriptorProto::decode(b.as_slice()).unwrap();
    let mut protos: Vec<prost_types::FileDescriptorProto> =
        files.file_descriptor_proto.iter().map(decode).collect();
    loop {
        let missing = protos
            .iter()
            .flat_map(|f| f.dependency.iter())
            .find(|d| !protos.iter().any(|f| f.name() == d.as_str()))
            .cloned();
        let Some(missing) = missing else { break };
        let MessageResponse::FileDescriptorResponse(more) = reflect(
            &mut reflection,
            MessageRequest::FileByFilename(missing.clone()),
        )
        .await
        else {
            panic!("the server does not have {missing}");
        };
        protos.extend(more.file_descriptor_proto.iter().map(decode));
    }
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(protos)
        .expect("descriptors from reflection form a pool");
    let service = pool
        .get_service_by_name("intentmesh.v1.Agent")
        .expect("Agent service");
    let method = service
        .methods()
        .find(|m| m.name() == "Process")
        .expect("Process method");

    // grpcurl -d '{...}' -plaintext localhost:8001 intentmesh.v1.Agent/Process
    let request_json = json!({
        "requestId": "req-grpc-1",
        "message": "pay 12.50 EUR for order G-1001",
        "userId": "grpc-user",
        "entities": {"amount": {"currencyCode": "EUR", "units": "12", "nanos": 500000000}, "orderId": "G-1001"}
    });
    let request = DynamicMessage::deserialize(method.input(), request_json)
        .expect("JSON matches the reflected schema");
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/intentmesh.v1.Agent/Process");
    let answer = grpc
        .unary(
            tonic::Request::new(request),
            path,
            DynamicCodec(method.output()),
        )
        .await
        .expect("Process succeeds")
        .into_inner();
    let answer = serde_json::to_value(&answer).unwrap();
    assert_eq!(answer["agent"], "payment", "{answer}");
    assert!(
        answer["payment"]["transactionId"]
            .as_str()
            .unwrap()
            .starts_with("txn_"),
        "{answer}"
    );
    assert_eq!(answer["payment"]["status"], "PAYMENT_STATUS_COMPLETED");
    assert_eq!(answer["payment"]["orderId"], "G-1001");
    assert_eq!(mesh.ledger.count_for_order("G-1001").await.unwrap(), 1);

    // A bad request is a gRPC error carrying the stable code.
    let bad = DynamicMessage::deserialize(
        method.input(),
        json!({"userId": "u", "entities": {"amount": {"currencyCode": "ZZZ", "units": "1"}}}),
    )
    .unwrap();
    grpc.ready().await.unwrap();
    let status = grpc
        .unary(
            tonic::Request::new(bad),
            http::uri::PathAndQuery::from_static("/intentmesh.v1.Agent/Process"),
            DynamicCodec(method.output()),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        intentmesh_core::AgentError::from(&status).code,
        intentmesh_core::ErrorCode::InvalidCurrency
    );

    // grpc.health.v1 and plain HTTP on the same port.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "intentmesh.v1.Agent".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let (status, body) = mesh.get(&format!("{}/health", mesh.payment)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"healthy\""));
}

#[tokio::test]
async fn root_describes_the_workers_it_learnt() {
    let mesh = Mesh::start().await;
    let mut client = intentmesh_proto::pb::agent_client::AgentClient::connect(mesh.root.clone())
        .await
        .unwrap();
    let card = client
        .describe(intentmesh_proto::pb::DescribeRequest {})
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = card.skills.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(card.name, "root");
    assert!(
        ids.contains(&"payment.pay") && ids.contains(&"search.search"),
        "{ids:?}"
    );
}

/// The root refuses an over-long message itself (callers inside the cluster may skip the
/// gateway), before any parsing: `InvalidArgument` with `message_too_long`.
#[tokio::test]
async fn root_refuses_an_over_long_message_over_grpc() {
    let mesh = Mesh::start().await;
    let mut client = intentmesh_proto::pb::router_client::RouterClient::connect(mesh.root.clone())
        .await
        .unwrap();
    let status = client
        .route(intentmesh_proto::pb::ProcessRequest {
            message: "under 5 ".repeat(100_000),
            user_id: "u".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(
        intentmesh_core::AgentError::from(&status).code,
        intentmesh_core::ErrorCode::MessageTooLong
    );
}

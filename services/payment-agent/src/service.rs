//! The gRPC `Agent` service of the payment agent: convert, call the agent, convert back.

use std::time::Duration;

use intentmesh_core::{
    agent::{AgentRequest, AgentResponse},
    deadline,
    errors::grpc::respond,
    telemetry,
};
use intentmesh_proto::pb;
use tonic::{Request, Response, Status};

use crate::{
    agent::PaymentAgent,
    card::{self, AGENT_NAME, SKILL_PAY},
};

#[derive(Debug, Clone)]
pub struct PaymentService {
    agent: PaymentAgent,
    /// The most one request may take when its caller sets no deadline.
    request_timeout: Duration,
}

impl PaymentService {
    pub fn new(agent: PaymentAgent, request_timeout: Duration) -> Self {
        Self {
            agent,
            request_timeout,
        }
    }
}

#[tonic::async_trait]
impl pb::agent_server::Agent for PaymentService {
    async fn process(
        &self,
        request: Request<pb::ProcessRequest>,
    ) -> Result<Response<pb::ProcessResponse>, Status> {
        telemetry::record_request_id(&request.get_ref().request_id);
        let deadline = deadline::from_metadata(request.metadata(), self.request_timeout);
        let result = match AgentRequest::try_from(request.into_inner()) {
            Ok(req) => self.agent.pay(&req, deadline).await.map(|reply| {
                pb::ProcessResponse::from(AgentResponse {
                    agent: AGENT_NAME.to_owned(),
                    skill: SKILL_PAY.to_owned(),
                    reply: Some(reply),
                })
            }),
            Err(wire) => Err(wire.into_request_error()),
        };
        respond("payment", result)
    }

    async fn describe(
        &self,
        _request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::AgentCard>, Status> {
        Ok(Response::new(pb::AgentCard::from(&card::card())))
    }
}

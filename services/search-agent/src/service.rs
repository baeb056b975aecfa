//! The gRPC `Agent` service of the search agent: convert, call the agent, convert back.

use intentmesh_core::{
    agent::{AgentRequest, AgentResponse},
    errors::grpc::respond,
    telemetry,
};
use intentmesh_proto::pb;
use tonic::{Request, Response, Status};

use crate::{
    agent::SearchAgent,
    card::{self, AGENT_NAME, SKILL_SEARCH},
};

#[derive(Debug, Clone)]
pub struct SearchService {
    agent: SearchAgent,
}

impl SearchService {
    pub fn new(agent: SearchAgent) -> Self {
        Self { agent }
    }
}

#[tonic::async_trait]
impl pb::agent_server::Agent for SearchService {
    async fn process(
        &self,
        request: Request<pb::ProcessRequest>,
    ) -> Result<Response<pb::ProcessResponse>, Status> {
        telemetry::record_request_id(&request.get_ref().request_id);
        let result = match AgentRequest::try_from(request.into_inner()) {
            Ok(req) => self.agent.search(&req).await.map(|reply| {
                pb::ProcessResponse::from(AgentResponse {
                    agent: AGENT_NAME.to_owned(),
                    skill: SKILL_SEARCH.to_owned(),
                    reply: Some(reply),
                })
            }),
            Err(wire) => Err(wire.into_request_error()),
        };
        respond("search", result)
    }

    async fn describe(
        &self,
        _request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::AgentCard>, Status> {
        Ok(Response::new(pb::AgentCard::from(&card::card())))
    }
}

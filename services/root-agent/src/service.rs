//! The root's gRPC services — `Agent` (route, then dispatch to the chosen worker) and `Router`
//! (the decision alone) — as a thin adapter: convert, call the dispatcher, convert back.

use std::{sync::Arc, time::Duration};

use intentmesh_core::{VERSION, agent::AgentRequest, deadline, errors::grpc::respond, telemetry};
use intentmesh_proto::{pb, response_to_wire};
use tonic::{Request, Response, Status};

use crate::{
    dispatch::{AGENT_NAME, Dispatcher},
    registry::Registry,
};

#[derive(Debug, Clone)]
pub struct RootAgent {
    dispatcher: Arc<Dispatcher>,
    registry: Arc<Registry>,
    call_timeout: Duration,
}

impl RootAgent {
    pub(crate) fn new(
        dispatcher: Arc<Dispatcher>,
        registry: Arc<Registry>,
        call_timeout: Duration,
    ) -> Self {
        Self {
            dispatcher,
            registry,
            call_timeout,
        }
    }
}

#[tonic::async_trait]
impl pb::agent_server::Agent for RootAgent {
    async fn process(
        &self,
        request: Request<pb::ProcessRequest>,
    ) -> Result<Response<pb::ProcessResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata(), self.call_timeout);
        telemetry::record_request_id(&request.get_ref().request_id);
        let result = match AgentRequest::try_from(request.into_inner()) {
            Ok(req) => self
                .dispatcher
                .dispatch(req, deadline)
                .await
                .map(|d| response_to_wire(d.response, Some(&d.decision))),
            Err(wire) => Err(wire.into_request_error()),
        };
        respond("process", result)
    }

    async fn describe(
        &self,
        _request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::AgentCard>, Status> {
        let snapshot = self.registry.snapshot();
        let skills = snapshot
            .workers
            .values()
            .flat_map(|w| {
                w.card.skills.iter().map(move |s| pb::Skill {
                    id: format!("{}.{}", w.card.name, s.id),
                    ..pb::Skill::from(s)
                })
            })
            .collect();
        Ok(Response::new(pb::AgentCard {
            name: AGENT_NAME.to_owned(),
            version: VERSION.to_owned(),
            description: "Understands requests and routes them to the worker agents".to_owned(),
            skills,
        }))
    }
}

#[tonic::async_trait]
impl pb::router_server::Router for RootAgent {
    async fn route(
        &self,
        request: Request<pb::ProcessRequest>,
    ) -> Result<Response<pb::RouteDecision>, Status> {
        let deadline = deadline::from_metadata(request.metadata(), self.call_timeout);
        telemetry::record_request_id(&request.get_ref().request_id);
        let result = match AgentRequest::try_from(request.into_inner()) {
            Ok(req) => self
                .dispatcher
                .decide(&req, deadline)
                .await
                .map(|d| pb::RouteDecision::from(&d)),
            Err(wire) => Err(wire.into_request_error()),
        };
        respond("route", result)
    }
}

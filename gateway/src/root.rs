//! The way to the root agent — the gateway's gRPC adapter, where wire types stop: one channel,
//! and the stacks every call goes through, built once at start (`intentmesh_core::client`): the
//! root's breaker (shared by `Process` and `Route`), then deadline and trace propagation. No
//! retries: the root retries its workers itself.

use std::{sync::Arc, time::Duration};

use intentmesh_core::{
    AgentError,
    agent::{AgentRequest, AgentResponse, RouteDecision},
    client::{Call, Outbound, Retries, outbound, pooled_channel},
    metrics::ServiceMetrics,
    resilience::{BreakerConfig, CircuitBreaker, Outcome, grpc_outcome},
};
use intentmesh_proto::{
    pb::{self, agent_client::AgentClient, router_client::RouterClient},
    response_from_wire,
};
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tower::ServiceExt;

use crate::error::ApiError;

/// The root's own answers, errors included (a worker's open circuit, bad input), are the root
/// being up; only transport failures and foreign errors count against it.
fn root_outcome<T>(result: &Result<T, tonic::Status>) -> Outcome {
    match result {
        Err(status) if AgentError::is_ours(status) => Outcome::Success,
        other => grpc_outcome(other),
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Root {
    process: Outbound<pb::ProcessRequest, pb::ProcessResponse>,
    route: Outbound<pb::ProcessRequest, pb::RouteDecision>,
    health: HealthClient<Channel>,
}

impl Root {
    /// The stacks over `connections` lazily connected HTTP/2 connections to `url`; the breaker
    /// reports in `metrics`.
    pub(crate) fn new(
        url: &str,
        connections: usize,
        tls: Option<&tonic::transport::ClientTlsConfig>,
        breaker: BreakerConfig,
        metrics: Arc<ServiceMetrics>,
    ) -> Result<Self, tonic::transport::Error> {
        let channel = pooled_channel(url, connections, tls)?;
        let breaker = CircuitBreaker::new("root", breaker).reported_in(metrics);
        let agent = AgentClient::new(channel.clone());
        let router = RouterClient::new(channel.clone());
        Ok(Self {
            process: outbound(
                tower::service_fn(move |request| {
                    let mut agent = agent.clone();
                    async move {
                        agent
                            .process(request)
                            .await
                            .map(tonic::Response::into_inner)
                    }
                }),
                breaker.clone(),
                root_outcome::<pb::ProcessResponse>,
                Retries::NONE,
            ),
            route: outbound(
                tower::service_fn(move |request| {
                    let mut router = router.clone();
                    async move { router.route(request).await.map(tonic::Response::into_inner) }
                }),
                breaker,
                root_outcome::<pb::RouteDecision>,
                Retries::NONE,
            ),
            health: HealthClient::new(channel),
        })
    }
}

impl Root {
    /// Runs `request` through the root: its answer and the routing decision behind it.
    pub(crate) async fn process(
        &self,
        request: AgentRequest,
        deadline: Instant,
    ) -> Result<(AgentResponse, Option<RouteDecision>), ApiError> {
        let call = Call::new(pb::ProcessRequest::from(request), deadline);
        let answer = self.process.clone().oneshot(call).await?;
        response_from_wire(answer).map_err(|e| ApiError(e.into_upstream_error("root")))
    }

    /// The routing decision for `request`, without running it.
    pub(crate) async fn route(
        &self,
        request: AgentRequest,
        deadline: Instant,
    ) -> Result<RouteDecision, ApiError> {
        let call = Call::new(pb::ProcessRequest::from(request), deadline);
        let decision = self.route.clone().oneshot(call).await?;
        RouteDecision::try_from(decision).map_err(|e| ApiError(e.into_upstream_error("root")))
    }

    /// Whether the root reports SERVING over the gRPC health protocol, within a second.
    pub(crate) async fn serving(&self) -> Result<(), String> {
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        request.set_timeout(Duration::from_secs(1));
        match tokio::time::timeout(Duration::from_secs(1), self.health.clone().check(request)).await
        {
            Ok(Ok(r)) if r.get_ref().status() == ServingStatus::Serving => Ok(()),
            Ok(Ok(_)) => Err("the root agent is not serving".to_owned()),
            Ok(Err(status)) => Err(format!(
                "the root agent is unreachable: {}",
                status.message()
            )),
            Err(_) => Err("the root agent did not answer in time".to_owned()),
        }
    }
}

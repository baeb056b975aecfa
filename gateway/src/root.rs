//! The way to the root agent: one channel, and the stacks every call goes through, built once
//! at start (`intentmesh_core::client`): the root's breaker (shared by `Process` and `Route`),
//! then deadline and trace propagation. No retries: the root retries its workers itself.

use std::sync::Arc;

use intentmesh_core::{
    AgentError,
    client::{Outbound, Retries, lazy_channel, outbound},
    metrics::ServiceMetrics,
    resilience::{BreakerConfig, CircuitBreaker, Outcome, grpc_outcome},
};
use intentmesh_proto::pb::{self, agent_client::AgentClient, router_client::RouterClient};
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;

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
    pub(crate) process: Outbound<pb::ProcessRequest, pb::ProcessResponse>,
    pub(crate) route: Outbound<pb::ProcessRequest, pb::RouteDecision>,
    pub(crate) health: HealthClient<Channel>,
}

impl Root {
    /// The stacks over one lazily connected channel to `url`; the breaker reports in `metrics`.
    pub(crate) fn new(
        url: &str,
        breaker: BreakerConfig,
        metrics: Arc<ServiceMetrics>,
    ) -> Result<Self, tonic::transport::Error> {
        let channel = lazy_channel(url)?;
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

//! The workers the root knows — the cards they described, and the one outbound stack per worker
//! that every call to it goes through — and the routing built from those cards. Swapped
//! atomically when a refresh learns something new. This is the root's outbound gRPC adapter:
//! wire types stop here.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use arc_swap::ArcSwap;
use intentmesh_core::{
    AgentError, ErrorCode,
    agent::{AgentCard, AgentRequest, AgentResponse},
    client::{Call, Outbound, Retries, outbound},
    metrics::ServiceMetrics,
    resilience::{BreakerConfigs, BreakerError, CircuitBreaker, grpc_outcome},
};
use intentmesh_proto::{
    pb::{self, agent_client::AgentClient},
    response_from_wire,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tower::ServiceExt;

use crate::{
    config::{Config, WorkerEndpoint},
    routing::{Routing, Stages},
};

const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
const FAST_RETRY: Duration = Duration::from_millis(250);

/// Extra attempts of a synchronous call to an unavailable worker, and the first pause between
/// them (doubling, with jitter, never past the request's deadline).
const RETRIES: Retries = Retries {
    extra: 2,
    base: Duration::from_millis(25),
};

/// A worker that described itself.
#[derive(Debug, Clone)]
pub(crate) struct Worker {
    /// Shared: a card carries whole vocabularies and is read on every request.
    pub(crate) card: Arc<AgentCard>,
    /// `Process` through this worker's stack (built once; its breaker outlives refreshes).
    process: Outbound<pb::ProcessRequest, pb::ProcessResponse>,
    url: String,
}

/// Why a call to a worker gave no answer.
#[derive(Debug)]
pub(crate) enum CallFailure {
    /// The worker's circuit is open: calls to it are paused for `retry_after`.
    Open { retry_after: Duration },
    /// The worker (or the way to it) failed; a worker's own errors pass through unchanged.
    Failed(AgentError),
}

impl Worker {
    /// One `Process` call, within `deadline`.
    pub(crate) async fn process(
        &self,
        request: AgentRequest,
        deadline: Instant,
    ) -> Result<AgentResponse, CallFailure> {
        let agent = &self.card.name;
        let call = Call::new(pb::ProcessRequest::from(request), deadline);
        match self.process.clone().oneshot(call).await {
            Ok(response) => response_from_wire(response)
                .map(|(response, _)| response)
                .map_err(|e| CallFailure::Failed(e.into_upstream_error(agent))),
            Err(BreakerError::Open { retry_after, .. }) => Err(CallFailure::Open { retry_after }),
            Err(BreakerError::Inner(status)) => {
                Err(CallFailure::Failed(worker_error(agent, &status)))
            }
        }
    }
}

/// A worker's own errors pass through unchanged; transport failures and timeouts name the worker
/// (an error the worker made stays `relayed`: the worker logged it).
fn worker_error(agent: &str, status: &tonic::Status) -> AgentError {
    let err = AgentError::from(status);
    let named = match err.code {
        ErrorCode::Unavailable if !err.details.contains_key("agent") => {
            AgentError::unavailable(format!("the {agent} agent is unavailable"))
        }
        ErrorCode::DeadlineExceeded => AgentError::new(
            ErrorCode::DeadlineExceeded,
            format!("the {agent} agent did not answer in time"),
        ),
        _ => return err,
    };
    let mut named = named.with("agent", agent).caused_by(status.clone());
    named.relayed = err.relayed;
    named
}

/// Everything routing needs, consistent with one set of cards.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) workers: BTreeMap<String, Worker>,
    pub(crate) routing: Routing,
    /// Every configured endpoint answered the last refresh.
    pub(crate) all_reachable: bool,
}

#[derive(Debug)]
struct Target {
    endpoint: WorkerEndpoint,
    client: AgentClient<Channel>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid worker URL {url}: {source}")]
pub struct RegistryError {
    url: String,
    source: tonic::transport::Error,
}

#[derive(Debug)]
pub struct Registry {
    targets: Vec<Target>,
    snapshot: ArcSwap<Snapshot>,
    breakers: Mutex<HashMap<String, CircuitBreaker>>,
    /// One stack per worker name and endpoint, built the first time it describes itself.
    stacks: Mutex<HashMap<(String, String), Outbound<pb::ProcessRequest, pb::ProcessResponse>>>,
    breaker_configs: BreakerConfigs,
    metrics: Arc<ServiceMetrics>,
    stages: Arc<Stages>,
}

impl Registry {
    /// Clients for the configured workers (connected lazily: nothing is dialled yet); breaker
    /// states are reported in `metrics`; routing is built with `stages`.
    pub fn new(
        config: &Config,
        metrics: Arc<ServiceMetrics>,
        stages: Arc<Stages>,
    ) -> Result<Self, RegistryError> {
        let targets = config
            .workers()
            .iter()
            .map(|endpoint| {
                let channel = intentmesh_core::client::pooled_channel(
                    &endpoint.url,
                    config.server.connections_per_target,
                    config.server.tls.client(),
                )
                .map_err(|source| RegistryError {
                    url: intentmesh_core::config::mask_credentials(&endpoint.url).into_owned(),
                    source,
                })?;
                Ok(Target {
                    endpoint: endpoint.clone(),
                    client: AgentClient::new(channel),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let registry = Self {
            targets,
            snapshot: ArcSwap::from_pointee(Snapshot {
                workers: BTreeMap::new(),
                routing: Routing::empty(),
                all_reachable: false,
            }),
            stages,
            breakers: Mutex::default(),
            stacks: Mutex::default(),
            breaker_configs: config.breakers.clone(),
            metrics,
        };
        Ok(registry)
    }

    /// The breaker of the agent `name`, made on first use.
    fn breaker(&self, name: &str) -> CircuitBreaker {
        let mut breakers = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        breakers
            .entry(name.to_owned())
            .or_insert_with(|| {
                CircuitBreaker::new(name, self.breaker_configs.for_target(name))
                    .reported_in(Arc::clone(&self.metrics))
            })
            .clone()
    }

    /// The stack for `Process` calls to the agent `name` at `target`, built on first use:
    /// retries of an unavailable worker, then its breaker, then deadline and trace propagation.
    fn stack(
        &self,
        name: &str,
        target: &Target,
    ) -> Outbound<pb::ProcessRequest, pb::ProcessResponse> {
        let key = (name.to_owned(), target.endpoint.url.clone());
        let mut stacks = self
            .stacks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        stacks
            .entry(key)
            .or_insert_with(|| {
                let client = target.client.clone();
                let process = tower::service_fn(move |request| {
                    let mut client = client.clone();
                    async move {
                        client
                            .process(request)
                            .await
                            .map(tonic::Response::into_inner)
                    }
                });
                outbound(
                    process,
                    self.breaker(name),
                    grpc_outcome::<pb::ProcessResponse>,
                    RETRIES,
                )
            })
            .clone()
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Whether every configured worker has been described and answered the last refresh.
    pub fn ready(&self) -> Result<(), String> {
        let snapshot = self.snapshot();
        if snapshot.all_reachable && snapshot.workers.len() == self.targets.len() {
            Ok(())
        } else {
            let missing: Vec<&str> = self
                .targets
                .iter()
                .filter(|t| !snapshot.workers.values().any(|w| w.url == t.endpoint.url))
                .map(|t| t.endpoint.url.as_str())
                .collect();
            Err(format!(
                "{} of {} workers described; not answering: {}",
                snapshot.workers.len(),
                self.targets.len(),
                missing.join(", ")
            ))
        }
    }

    /// Describes every worker and rebuilds routing. A worker that does not answer keeps the card
    /// it gave before (dispatch to it will then fail as unavailable).
    pub async fn refresh(&self) {
        let previous = self.snapshot();
        let calls = self.targets.iter().map(|t| async move {
            let mut client = t.client.clone();
            let mut req = tonic::Request::new(pb::DescribeRequest {});
            req.set_timeout(DESCRIBE_TIMEOUT);
            (
                t,
                tokio::time::timeout(DESCRIBE_TIMEOUT, client.describe(req)).await,
            )
        });
        let mut workers = BTreeMap::new();
        let mut all_reachable = true;
        for (target, answer) in futures::future::join_all(calls).await {
            match answer {
                Ok(Ok(card)) => {
                    let card = Arc::new(AgentCard::from(card.into_inner()));
                    if let Some(name) = target.endpoint.name.as_deref().filter(|n| *n != card.name)
                    {
                        tracing::warn!(configured = name, described = %card.name, url = %target.endpoint.url, "worker describes itself under another name; using its own");
                    }
                    workers.insert(
                        card.name.clone(),
                        Worker {
                            process: self.stack(&card.name, target),
                            card,
                            url: target.endpoint.url.clone(),
                        },
                    );
                }
                failure => {
                    all_reachable = false;
                    let reason = match failure {
                        Ok(Err(status)) => status.message().to_owned(),
                        _ => "timed out".to_owned(),
                    };
                    tracing::debug!(url = %target.endpoint.url, %reason, "worker did not describe itself");
                    if let Some(old) = previous
                        .workers
                        .values()
                        .find(|w| w.url == target.endpoint.url)
                    {
                        workers.insert(old.card.name.clone(), old.clone());
                    }
                }
            }
        }
        let changed = workers.len() != previous.workers.len()
            || workers
                .iter()
                .any(|(n, w)| previous.workers.get(n).is_none_or(|p| p.card != w.card));
        if !changed && all_reachable == previous.all_reachable {
            return;
        }
        if changed {
            tracing::info!(workers = ?workers.keys().collect::<Vec<_>>(), "routing rebuilt from worker descriptions");
        }
        // Rebuilt from the cards (example vectors are remembered: unchanged cards cost no model work).
        let cards = workers
            .iter()
            .map(|(name, w)| (name.clone(), Arc::clone(&w.card)))
            .collect();
        let routing = Routing::build(&self.stages, cards).await;
        let snapshot = Snapshot {
            routing,
            workers,
            all_reachable,
        };
        self.snapshot.store(Arc::new(snapshot));
    }

    /// Refreshes every `interval` (every 250 ms until all workers answered) until `shutdown`.
    pub async fn run(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        loop {
            self.refresh().await;
            let wait = if self.ready().is_ok() {
                interval
            } else {
                FAST_RETRY
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

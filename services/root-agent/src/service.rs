//! The root's gRPC services: `Agent` (route, then dispatch to the chosen worker) and `Router`
//! (the decision alone).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use intentmesh_core::{
    AgentError, ErrorCode, deadline,
    metrics::ServiceMetrics,
    ports::Conversations,
    resilience::{BreakerError, CircuitBreakerLayer, grpc_outcome},
    tasks::{TaskPorts, enqueue},
};
use intentmesh_proto::pb::{self, agent_client::AgentClient};
use tokio::time::Instant;
use tonic::{Code, Request, Response, Status, transport::Channel};
use tower::{Layer, Service, ServiceExt};

use crate::{
    registry::{Registry, Worker},
    routing::{NONE, session_of, stage_name},
};

pub const AGENT_NAME: &str = "root";

/// Extra attempts of a synchronous call to an unavailable worker, and the first pause between
/// them (doubling, with jitter, never past the request's deadline).
const SYNC_RETRIES: u32 = 2;
const RETRY_BASE: Duration = Duration::from_millis(25);

#[derive(Debug, Clone)]
pub struct RootAgent {
    registry: Arc<Registry>,
    call_timeout: Duration,
    tasks: Option<TaskPorts>,
    metrics: Arc<ServiceMetrics>,
    conversations: Option<Arc<dyn Conversations>>,
}

/// A routing decision and, when routed, the worker to run it.
struct Routed {
    decision: pb::RouteDecision,
    worker: Option<Worker>,
}

/// The most routing waits for Redis (conversations) before going on without it.
const STATE_TIMEOUT: Duration = Duration::from_millis(250);

/// The previous turn of a conversation; a store that fails or is slow means none.
async fn last_turn(store: &dyn Conversations, session: &str) -> Option<pb::ConversationTurn> {
    match tokio::time::timeout(STATE_TIMEOUT, store.recent(session, 1)).await {
        Ok(Ok(turns)) => turns.into_iter().next(),
        Ok(Err(err)) => {
            tracing::warn!(%err, "conversation unavailable; routing without it");
            None
        }
        Err(_) => {
            tracing::warn!("conversation lookup timed out; routing without it");
            None
        }
    }
}

impl RootAgent {
    pub fn new(
        registry: Arc<Registry>,
        call_timeout: Duration,
        tasks: Option<TaskPorts>,
        metrics: Arc<ServiceMetrics>,
        conversations: Option<Arc<dyn Conversations>>,
    ) -> Self {
        Self {
            registry,
            call_timeout,
            tasks,
            metrics,
            conversations,
        }
    }

    /// Routes and counts the decision in `routing_decisions_total`; with `record`, a routed turn
    /// joins its conversation.
    async fn route(
        &self,
        req: &pb::ProcessRequest,
        budget: Duration,
        record: bool,
    ) -> Result<Routed, AgentError> {
        let deadline = Instant::now() + budget;
        let snapshot = self.registry.snapshot();
        if snapshot.workers.is_empty() {
            return Err(AgentError::unavailable(
                "no worker agent has described itself yet",
            ));
        }
        let session = session_of(req)?;
        let previous = match (&session, &self.conversations) {
            (Some(session), Some(store)) => last_turn(store.as_ref(), session).await,
            _ => None,
        };
        let decision = snapshot
            .routing
            .decide(req, previous.as_ref(), deadline)
            .await?;
        let stage = pb::RouteStage::try_from(decision.stage).unwrap_or(pb::RouteStage::None);
        let routed = decision.status == pb::RouteStatus::Routed as i32;
        let intent = if routed {
            format!("{}.{}", decision.agent, decision.skill)
        } else if stage == pb::RouteStage::None {
            "needs_clarification".to_owned()
        } else {
            NONE.to_owned()
        };
        let stage_label = if decision.cached {
            "cache"
        } else {
            stage_name(stage)
        };
        self.metrics.routing().routed(stage_label, &intent);
        tracing::debug!(%intent, confidence = decision.confidence, stage = stage_label, "routed");
        if !routed {
            return Ok(Routed {
                decision,
                worker: None,
            });
        }
        let worker = snapshot
            .workers
            .get(&decision.agent)
            .cloned()
            .ok_or_else(|| {
                AgentError::unavailable(format!("the {} agent is not available", decision.agent))
            })?;
        if record && let (Some(session), Some(store)) = (&session, &self.conversations) {
            let turn = pb::ConversationTurn {
                agent: decision.agent.clone(),
                skill: decision.skill.clone(),
                message: req.message.chars().take(500).collect(),
                entities: decision.entities.clone(),
                at_unix_ms: u64::try_from(intentmesh_core::tasks::now_millis()).unwrap_or(0),
            };
            match tokio::time::timeout(STATE_TIMEOUT, store.record(session, turn)).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!(%err, "could not record a conversation turn"),
                Err(_) => tracing::warn!("recording a conversation turn timed out"),
            }
        }
        Ok(Routed {
            decision,
            worker: Some(worker),
        })
    }

    /// Whether this request runs asynchronously: the caller's mode, else the skill's default.
    /// `None` when it must run async but no queue is configured.
    fn runs_async(&self, requested: i32, default: i32) -> Result<bool, AgentError> {
        let requested = pb::ExecutionMode::try_from(requested).unwrap_or_default();
        match requested {
            pb::ExecutionMode::Sync => Ok(false),
            pb::ExecutionMode::Async if self.tasks.is_none() => Err(AgentError::new(
                ErrorCode::ModeNotAvailable,
                "asynchronous processing needs RabbitMQ and Redis (RABBITMQ_URL, REDIS_URL); send \"mode\": \"sync\"",
            )
            .with("field", "mode")),
            pb::ExecutionMode::Async => Ok(true),
            // The skill's default, when there is a queue to honour it.
            pb::ExecutionMode::Unspecified => {
                Ok(default == pb::ExecutionMode::Async as i32 && self.tasks.is_some())
            }
        }
    }

    async fn dispatch(
        &self,
        req: pb::ProcessRequest,
        budget: Duration,
    ) -> Result<pb::ProcessResponse, AgentError> {
        let Routed { decision, worker } = self.route(&req, budget, true).await?;
        let Some(worker) = worker else {
            return Ok(pb::ProcessResponse {
                agent: AGENT_NAME.to_owned(),
                skill: String::new(),
                result: Some(pb::process_response::Result::Clarification(
                    pb::Clarification {
                        question:
                            "I could not tell what you would like to do. Did you mean one of these?"
                                .to_owned(),
                        candidates: decision.candidates.clone(),
                    },
                )),
                route: Some(decision),
            });
        };
        let run_async = self.runs_async(req.mode, decision.default_mode)?;
        let requested = req.mode;
        let forwarded = pb::ProcessRequest {
            entities: decision.entities.clone(),
            skill: decision.skill.clone(),
            agent: decision.agent.clone(),
            ..req
        };
        if run_async && let Some(ports) = &self.tasks {
            let reason = if requested == pb::ExecutionMode::Async as i32 {
                "requested"
            } else {
                "default"
            };
            return self.enqueue(ports, decision, forwarded, reason).await;
        }
        // Work the caller did not insist on running synchronously may wait in the queue while
        // its worker's circuit is open.
        let may_queue = self
            .tasks
            .as_ref()
            .filter(|_| requested != pb::ExecutionMode::Sync as i32);
        let started = tokio::time::Instant::now();
        let mut attempt = 0u32;
        let outcome = loop {
            let left = budget.saturating_sub(started.elapsed());
            let mut call = Request::new(forwarded.clone());
            call.set_timeout(left);
            intentmesh_core::propagation::inject_grpc(&mut call);
            let guarded = CircuitBreakerLayer::new(
                worker.breaker.clone(),
                grpc_outcome::<pb::ProcessResponse>,
            )
            .layer(WorkerCall(worker.client.clone()));
            let outcome = guarded.oneshot(call).await;
            // Retried only when the worker could not be reached or said it is unavailable: the
            // call did nothing there, and every Process carries the request id the worker keys
            // its side effects on (the payment ledger's last-resort idempotency key).
            let retryable =
                matches!(&outcome, Err(BreakerError::Inner(s)) if s.code() == Code::Unavailable);
            let pause = RETRY_BASE
                .saturating_mul(2u32.saturating_pow(attempt))
                .mul_f64(0.5 + fastrand::f64() / 2.0);
            if !retryable || attempt >= SYNC_RETRIES || started.elapsed() + pause >= budget {
                break outcome;
            }
            attempt += 1;
            tracing::debug!(agent = %decision.agent, attempt, "retrying an unavailable worker");
            tokio::time::sleep(pause).await;
        };
        match outcome {
            Ok(mut response) => {
                response.route = Some(decision);
                Ok(response)
            }
            Err(BreakerError::Inner(status)) => Err(worker_error(&decision.agent, &status)),
            Err(BreakerError::Open { retry_after, .. }) => match may_queue {
                Some(ports) => {
                    self.enqueue(ports, decision, forwarded, "circuit_open")
                        .await
                }
                None => Err(AgentError::new(
                    ErrorCode::CircuitOpen,
                    format!(
                        "the {} agent is failing; calls to it are paused for now",
                        decision.agent
                    ),
                )
                .with("agent", &decision.agent)
                .with("retry_after_secs", retry_after.as_secs().max(1))),
            },
        }
    }

    async fn enqueue(
        &self,
        ports: &TaskPorts,
        decision: pb::RouteDecision,
        request: pb::ProcessRequest,
        reason: &str,
    ) -> Result<pb::ProcessResponse, AgentError> {
        let queued = enqueue(ports, &decision.agent, request).await?;
        Ok(pb::ProcessResponse {
            agent: decision.agent.clone(),
            skill: decision.skill.clone(),
            result: Some(pb::process_response::Result::Queued(pb::TaskQueued {
                task_id: queued.task.id.to_string(),
                reason: reason.to_owned(),
            })),
            route: Some(decision),
        })
    }
}

/// One `Process` call to a worker as a tower service, so the breaker layer can wrap it.
#[derive(Debug, Clone)]
struct WorkerCall(AgentClient<Channel>);

impl Service<Request<pb::ProcessRequest>> for WorkerCall {
    type Response = pb::ProcessResponse;
    type Error = Status;
    type Future = Pin<Box<dyn Future<Output = Result<pb::ProcessResponse, Status>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        // The channel buffers; readiness is the breaker's to decide.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<pb::ProcessRequest>) -> Self::Future {
        let mut client = self.0.clone();
        Box::pin(async move { client.process(request).await.map(Response::into_inner) })
    }
}

/// A worker's own errors pass through unchanged; transport failures name the worker.
fn worker_error(agent: &str, status: &Status) -> AgentError {
    let err = AgentError::from(status);
    match err.code {
        ErrorCode::Unavailable if !err.details.contains_key("agent") => {
            AgentError::unavailable(format!("the {agent} agent is unavailable"))
                .with("agent", agent)
        }
        ErrorCode::DeadlineExceeded => AgentError::new(
            ErrorCode::DeadlineExceeded,
            format!("the {agent} agent did not answer in time"),
        )
        .with("agent", agent),
        _ => err,
    }
}

#[tonic::async_trait]
impl pb::agent_server::Agent for RootAgent {
    async fn process(
        &self,
        request: Request<pb::ProcessRequest>,
    ) -> Result<Response<pb::ProcessResponse>, Status> {
        let budget = deadline::budget(request.metadata(), self.call_timeout);
        intentmesh_core::telemetry::record_request_id(&request.get_ref().request_id);
        Ok(Response::new(
            self.dispatch(request.into_inner(), budget).await?,
        ))
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
                    ..s.clone()
                })
            })
            .collect();
        Ok(Response::new(pb::AgentCard {
            name: AGENT_NAME.to_owned(),
            version: intentmesh_core::VERSION.to_owned(),
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
        let budget = deadline::budget(request.metadata(), self.call_timeout);
        Ok(Response::new(
            self.route(request.get_ref(), budget, false).await?.decision,
        ))
    }
}

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
    resilience::{BreakerError, CircuitBreakerLayer, grpc_outcome},
    tasks::{TaskPorts, enqueue},
};
use intentmesh_proto::pb::{self, agent_client::AgentClient};
use tonic::{Code, Request, Response, Status, transport::Channel};
use tower::{Layer, Service, ServiceExt};

use crate::{
    entities::{self, context},
    registry::{Registry, Snapshot, Worker},
    routing::{Decision, Input, Scored},
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
}

/// A routing decision and, when routed, the worker to run it.
struct Routed {
    decision: pb::RouteDecision,
    worker: Option<Worker>,
}

fn candidate(s: &Scored, snapshot: &Snapshot) -> pb::Candidate {
    let description = snapshot
        .workers
        .get(&s.agent)
        .and_then(|w| w.card.skills.iter().find(|k| k.id == s.skill))
        .map(|k| k.description.clone())
        .unwrap_or_default();
    pb::Candidate {
        agent: s.agent.clone(),
        skill: s.skill.clone(),
        confidence: s.confidence,
        description,
    }
}

impl RootAgent {
    pub fn new(
        registry: Arc<Registry>,
        call_timeout: Duration,
        tasks: Option<TaskPorts>,
        metrics: Arc<ServiceMetrics>,
    ) -> Self {
        Self {
            registry,
            call_timeout,
            tasks,
            metrics,
        }
    }

    /// Routes and counts the decision in `routing_decisions_total`.
    fn route(&self, req: &pb::ProcessRequest) -> Result<Routed, AgentError> {
        let routed = self.decide(req)?;
        let d = &routed.decision;
        let stage = pb::RouteStage::try_from(d.stage)
            .unwrap_or(pb::RouteStage::None)
            .as_str_name()
            .trim_start_matches("ROUTE_STAGE_")
            .to_ascii_lowercase();
        let intent = if routed.worker.is_some() {
            format!("{}.{}", d.agent, d.skill)
        } else {
            "needs_clarification".to_owned()
        };
        self.metrics.routed(&stage, &intent);
        Ok(routed)
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

    fn decide(&self, req: &pb::ProcessRequest) -> Result<Routed, AgentError> {
        let snapshot = self.registry.snapshot();
        if snapshot.workers.is_empty() {
            return Err(AgentError::unavailable(
                "no worker agent has described itself yet",
            ));
        }
        if req.message.trim().is_empty() && req.agent.is_empty() {
            return Err(
                AgentError::new(ErrorCode::MissingField, "message is required")
                    .with("field", "message"),
            );
        }
        let extraction = entities::extract(&req.message, &snapshot.vocabulary);
        let mut parsed = extraction.entities()?;
        context::merge(req.context.as_ref(), &mut parsed)?;

        let (best, stage, others) = if req.agent.is_empty() {
            match snapshot.cascade.decide(&Input {
                message: &req.message,
                extraction: &extraction,
            }) {
                Decision::Routed { best, stage } => (best, stage, Vec::new()),
                Decision::NeedsClarification { mut candidates } => {
                    if candidates.is_empty() {
                        // Nothing matched at all: offer every skill, so the caller sees the options.
                        candidates = snapshot
                            .workers
                            .values()
                            .flat_map(|w| {
                                w.card.skills.iter().map(|s| Scored {
                                    agent: w.card.name.clone(),
                                    skill: s.id.clone(),
                                    confidence: 0.0,
                                })
                            })
                            .collect();
                    }
                    let decision = pb::RouteDecision {
                        status: pb::RouteStatus::NeedsClarification as i32,
                        confidence: candidates.first().map_or(0.0, |c| c.confidence),
                        stage: pb::RouteStage::None as i32,
                        entities: Some(parsed),
                        candidates: candidates.iter().map(|c| candidate(c, &snapshot)).collect(),
                        ..Default::default()
                    };
                    return Ok(Routed {
                        decision,
                        worker: None,
                    });
                }
            }
        } else {
            let worker = snapshot.workers.get(&req.agent).ok_or_else(|| {
                let known: Vec<&str> = snapshot.workers.keys().map(String::as_str).collect();
                AgentError::new(
                    ErrorCode::UnknownAgent,
                    format!("there is no agent named {:?}", truncate(&req.agent)),
                )
                .with("field", "agent")
                .with("available", known.join(","))
            })?;
            let skill = if req.skill.is_empty() {
                worker
                    .card
                    .skills
                    .first()
                    .map(|s| s.id.clone())
                    .unwrap_or_default()
            } else if worker.card.skills.iter().any(|s| s.id == req.skill) {
                req.skill.clone()
            } else {
                return Err(AgentError::new(
                    ErrorCode::UnknownSkill,
                    format!(
                        "agent {} has no skill {:?}",
                        req.agent,
                        truncate(&req.skill)
                    ),
                )
                .with("field", "skill"));
            };
            let best = Scored {
                agent: req.agent.clone(),
                skill,
                confidence: 1.0,
            };
            (best, pb::RouteStage::Explicit, Vec::new())
        };

        let worker = snapshot.workers.get(&best.agent).cloned().ok_or_else(|| {
            AgentError::unavailable(format!("the {} agent is not available", best.agent))
        })?;
        let skill = worker.card.skills.iter().find(|s| s.id == best.skill);
        let accepts = skill.map(|s| s.entities.clone()).unwrap_or_default();
        let decision = pb::RouteDecision {
            status: pb::RouteStatus::Routed as i32,
            agent: best.agent.clone(),
            skill: best.skill.clone(),
            confidence: best.confidence,
            stage: stage as i32,
            entities: Some(entities::for_skill(parsed, &accepts)),
            candidates: others
                .iter()
                .map(|c: &Scored| candidate(c, &snapshot))
                .collect(),
            default_mode: skill.map_or(0, |s| s.default_mode),
        };
        tracing::debug!(agent = %decision.agent, skill = %decision.skill, confidence = decision.confidence, stage = ?stage, "routed");
        Ok(Routed {
            decision,
            worker: Some(worker),
        })
    }

    async fn dispatch(
        &self,
        req: pb::ProcessRequest,
        budget: Duration,
    ) -> Result<pb::ProcessResponse, AgentError> {
        let Routed { decision, worker } = self.route(&req)?;
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

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
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
        Ok(Response::new(self.route(request.get_ref())?.decision))
    }
}

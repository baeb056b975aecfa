//! What the root does with a request: route it, then run it — synchronously through the
//! worker's stack, or as a queued task — or ask the caller which skill was meant.

use std::{sync::Arc, time::Duration};

use intentmesh_core::{
    AgentError, ErrorCode,
    agent::{
        AgentRequest, AgentResponse, Clarification, ExecutionMode, Mode, QueueReason, Queued,
        Reply, Route, RouteDecision,
    },
};
use intentmesh_tasks::{TaskPorts, enqueue};
use tokio::time::Instant;

use crate::{
    metrics::RoutingMetrics,
    registry::{CallFailure, Registry, Worker},
    routing::{intent, session_of},
    state::{ConversationTurn, Conversations},
};

/// The root's own name (in answers it gives itself: a question back).
pub const AGENT_NAME: &str = "root";

/// The most routing waits for Redis (conversations) before going on without it.
const STATE_TIMEOUT: Duration = Duration::from_millis(250);

/// An answer and the routing decision behind it.
#[derive(Debug)]
pub(crate) struct Dispatched {
    pub(crate) response: AgentResponse,
    pub(crate) decision: RouteDecision,
}

/// A routing decision and, when routed, the worker to run it.
struct Routed {
    decision: RouteDecision,
    target: Option<(Route, Worker)>,
}

#[derive(Debug)]
pub(crate) struct Dispatcher {
    registry: Arc<Registry>,
    tasks: Option<TaskPorts>,
    metrics: RoutingMetrics,
    conversations: Option<Arc<dyn Conversations>>,
}

/// The previous turn of a conversation; a store that fails or is slow means none.
async fn last_turn(store: &dyn Conversations, session: &str) -> Option<ConversationTurn> {
    match tokio::time::timeout(STATE_TIMEOUT, store.recent(session, 1)).await {
        Ok(Ok(turns)) => turns.into_iter().next(),
        Ok(Err(err)) => {
            let err = intentmesh_core::errors::Chain::of(&err);
            tracing::warn!(error = %err, "conversation unavailable; routing without it");
            None
        }
        Err(_) => {
            tracing::warn!("conversation lookup timed out; routing without it");
            None
        }
    }
}

impl Dispatcher {
    pub(crate) fn new(
        registry: Arc<Registry>,
        tasks: Option<TaskPorts>,
        metrics: RoutingMetrics,
        conversations: Option<Arc<dyn Conversations>>,
    ) -> Self {
        Self {
            registry,
            tasks,
            metrics,
            conversations,
        }
    }

    /// The routing decision alone (`Router.Route`).
    pub(crate) async fn decide(
        &self,
        req: &AgentRequest,
        deadline: Instant,
    ) -> Result<RouteDecision, AgentError> {
        Ok(self.route(req, deadline, false).await?.decision)
    }

    /// Routes and counts the decision in `routing_decisions_total`; with `record`, a routed turn
    /// joins its conversation.
    async fn route(
        &self,
        req: &AgentRequest,
        deadline: Instant,
        record: bool,
    ) -> Result<Routed, AgentError> {
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
        let intent = intent(&decision);
        let stage_label = if decision.cached {
            "cache"
        } else {
            decision.stage.name()
        };
        self.metrics.routed(stage_label, &intent);
        tracing::debug!(%intent, confidence = decision.confidence, stage = stage_label, "routed");
        let Some(route) = decision.route.clone() else {
            return Ok(Routed {
                decision,
                target: None,
            });
        };
        let worker = snapshot.workers.get(&route.agent).cloned().ok_or_else(|| {
            AgentError::unavailable(format!("the {} agent is not available", route.agent))
        })?;
        if record && let (Some(session), Some(store)) = (&session, &self.conversations) {
            let turn = ConversationTurn {
                agent: route.agent.clone(),
                skill: route.skill.clone(),
                message: req.message.chars().take(500).collect(),
                entities: decision.entities.clone(),
                at_unix_ms: u64::try_from(intentmesh_core::now_millis()).unwrap_or(0),
            };
            match tokio::time::timeout(STATE_TIMEOUT, store.record(session, turn)).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    let err = intentmesh_core::errors::Chain::of(&err);
                    tracing::warn!(error = %err, "could not record a conversation turn");
                }
                Err(_) => tracing::warn!("recording a conversation turn timed out"),
            }
        }
        Ok(Routed {
            decision,
            target: Some((route, worker)),
        })
    }

    /// Whether this request runs asynchronously: the caller's mode, else the skill's default.
    fn runs_async(&self, requested: Mode, default: ExecutionMode) -> Result<bool, AgentError> {
        match requested {
            Mode::Sync => Ok(false),
            Mode::Async if self.tasks.is_none() => Err(AgentError::new(
                ErrorCode::ModeNotAvailable,
                "asynchronous processing needs RabbitMQ and Redis (RABBITMQ_URL, REDIS_URL); send \"mode\": \"sync\"",
            )
            .with("field", "mode")),
            Mode::Async => Ok(true),
            // The skill's default, when there is a queue to honour it.
            Mode::Auto => Ok(default == ExecutionMode::Async && self.tasks.is_some()),
        }
    }

    /// Routes `req` and runs it, by `deadline`.
    pub(crate) async fn dispatch(
        &self,
        req: AgentRequest,
        deadline: Instant,
    ) -> Result<Dispatched, AgentError> {
        let Routed { decision, target } = self.route(&req, deadline, true).await?;
        let Some((route, worker)) = target else {
            let response = AgentResponse {
                agent: AGENT_NAME.to_owned(),
                skill: String::new(),
                reply: Some(Reply::Clarification(Clarification {
                    question:
                        "I could not tell what you would like to do. Did you mean one of these?"
                            .to_owned(),
                    candidates: decision.candidates.clone(),
                })),
            };
            return Ok(Dispatched { response, decision });
        };
        let requested = req.mode;
        let run_async = self.runs_async(requested, route.default_mode)?;
        let forwarded = AgentRequest {
            entities: Some(decision.entities.clone()),
            skill: Some(route.skill.clone()),
            agent: Some(route.agent.clone()),
            ..req
        };
        if run_async && let Some(ports) = &self.tasks {
            let reason = if requested == Mode::Async {
                QueueReason::Requested
            } else {
                QueueReason::Default
            };
            return self
                .enqueue(ports, route, decision, forwarded, reason)
                .await;
        }
        // Work the caller did not insist on running synchronously may wait in the queue while
        // its worker's circuit is open.
        let may_queue = self.tasks.as_ref().filter(|_| requested != Mode::Sync);
        match worker.process(forwarded.clone(), deadline).await {
            Ok(response) => Ok(Dispatched { response, decision }),
            Err(CallFailure::Failed(err)) => Err(err),
            Err(CallFailure::Open { retry_after }) => match may_queue {
                Some(ports) => {
                    self.enqueue(ports, route, decision, forwarded, QueueReason::CircuitOpen)
                        .await
                }
                None => Err(AgentError::new(
                    ErrorCode::CircuitOpen,
                    format!(
                        "the {} agent is failing; calls to it are paused for now",
                        route.agent
                    ),
                )
                .with("agent", &route.agent)
                .retry_after(retry_after)),
            },
        }
    }

    async fn enqueue(
        &self,
        ports: &TaskPorts,
        route: Route,
        decision: RouteDecision,
        request: AgentRequest,
        reason: QueueReason,
    ) -> Result<Dispatched, AgentError> {
        let queued = enqueue(ports, &route.agent, request).await?;
        Ok(Dispatched {
            response: AgentResponse {
                agent: route.agent,
                skill: route.skill,
                reply: Some(Reply::Queued(Queued {
                    task_id: queued.task.id.to_string(),
                    reason,
                })),
            },
            decision,
        })
    }
}

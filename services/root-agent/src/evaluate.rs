//! The root's routing without workers, for the evaluation harness (`make eval-routing`): the same
//! cascade and entity assembly a request goes through, built from cards given directly.

use std::{collections::BTreeMap, sync::Arc};

use intentmesh_core::agent::{AgentCard, AgentRequest, Entities};
use tokio::time::Instant;

use crate::{
    entities,
    routing::{NONE, Routing, Stages},
};

/// What routing made of one message.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// `agent.skill`, or `none` when the router asks for clarification.
    pub intent: String,
    /// The stage that decided (`none` when no stage was sure).
    pub stage: &'static str,
    pub confidence: f64,
    /// The entities passed on (routed requests only).
    pub entities: Entities,
    /// Stages that failed on the way.
    pub degraded: Vec<String>,
}

#[derive(Debug)]
pub struct Evaluator {
    routing: Routing,
}

impl Evaluator {
    pub async fn new(stages: &Stages, cards: Vec<AgentCard>) -> Self {
        let cards: BTreeMap<String, Arc<AgentCard>> = cards
            .into_iter()
            .map(|c| (c.name.clone(), Arc::new(c)))
            .collect();
        Self {
            routing: Routing::build(stages, cards).await,
        }
    }

    /// The stages of the cascade, in order.
    pub fn stages(&self) -> Vec<&'static str> {
        self.routing.cascade.stage_names()
    }

    /// Routes one message as `POST /route` would (no context, no session).
    pub async fn route(&self, message: &str, budget: std::time::Duration) -> Evaluation {
        let req = AgentRequest {
            message: message.to_owned(),
            user_id: "eval".to_owned(),
            ..AgentRequest::default()
        };
        match self
            .routing
            .decide(&req, None, Instant::now() + budget)
            .await
        {
            Ok(d) => Evaluation {
                intent: d
                    .route
                    .as_ref()
                    .map_or_else(|| NONE.to_owned(), |r| format!("{}.{}", r.agent, r.skill)),
                stage: d.stage.name(),
                confidence: d.confidence,
                entities: if d.route.is_some() {
                    d.entities
                } else {
                    Entities::default()
                },
                degraded: d.degraded.iter().map(|s| (*s).to_owned()).collect(),
            },
            // A message the parsers refuse (an amount too large to represent) is not routed.
            Err(_) => Evaluation {
                intent: NONE.to_owned(),
                stage: "none",
                confidence: 0.0,
                entities: Entities::default(),
                degraded: Vec::new(),
            },
        }
    }

    /// What the deterministic parsers read from `message` for the skill `intent` (`agent.skill`),
    /// whatever the routing: the entity half of the evaluation, on the labelled skill.
    pub fn entities_for(&self, message: &str, intent: &str) -> Entities {
        let accepts = intent
            .split_once('.')
            .and_then(|(agent, skill)| {
                self.routing
                    .cards
                    .get(agent)?
                    .skills
                    .iter()
                    .find(|s| s.id == skill)
            })
            .map(|s| s.entities.clone())
            .unwrap_or_default();
        let parsed = entities::parsed(&intentmesh_entities::extract(
            message,
            &self.routing.vocabulary,
        ))
        .unwrap_or_default();
        entities::for_skill(parsed, &accepts)
    }
}

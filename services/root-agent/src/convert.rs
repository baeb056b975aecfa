//! The root's own types on the wire: its routing decision and stage. (The agent contract's types
//! convert in the proto crate.)

use intentmesh_core::agent::AgentResponse;
use intentmesh_proto::pb;

use crate::routing::{RouteDecision, Stage};

impl From<Stage> for pb::RouteStage {
    fn from(stage: Stage) -> Self {
        match stage {
            Stage::Explicit => Self::Explicit,
            Stage::Rules => Self::Rules,
            Stage::Context => Self::Context,
            Stage::Embeddings => Self::Embeddings,
            Stage::Llm => Self::Llm,
            Stage::None => Self::None,
        }
    }
}

/// A routing decision as `Router.Route` answers it (and `Process` attaches it).
pub(crate) fn decision(d: &RouteDecision) -> pb::RouteDecision {
    let (status, agent, skill, default_mode) = match &d.route {
        Some(route) => (
            pb::RouteStatus::Routed,
            route.agent.clone(),
            route.skill.clone(),
            pb::ExecutionMode::from(route.default_mode),
        ),
        None => (
            pb::RouteStatus::NeedsClarification,
            String::new(),
            String::new(),
            pb::ExecutionMode::Unspecified,
        ),
    };
    pb::RouteDecision {
        status: status as i32,
        agent,
        skill,
        confidence: d.confidence,
        stage: pb::RouteStage::from(d.stage) as i32,
        entities: Some(pb::Entities::from(&d.entities)),
        candidates: d.candidates.iter().map(pb::Candidate::from).collect(),
        default_mode: default_mode as i32,
        cached: d.cached,
        degraded: d.degraded.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// An answer with the decision behind it.
pub(crate) fn response(response: AgentResponse, route: &RouteDecision) -> pb::ProcessResponse {
    pb::ProcessResponse {
        route: Some(decision(route)),
        ..pb::ProcessResponse::from(response)
    }
}

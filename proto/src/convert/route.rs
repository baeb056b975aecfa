//! The router's decision: `Router.Route`'s answer, and the one a `Process` answer carries.

use intentmesh_core::agent::{Candidate, Entities, ExecutionMode, Route, RouteDecision, Stage};

use super::WireError;
use crate::pb;

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

impl From<pb::RouteStage> for Stage {
    fn from(stage: pb::RouteStage) -> Self {
        match stage {
            pb::RouteStage::Explicit => Self::Explicit,
            pb::RouteStage::Rules => Self::Rules,
            pb::RouteStage::Context => Self::Context,
            pb::RouteStage::Embeddings => Self::Embeddings,
            pb::RouteStage::Llm => Self::Llm,
            pb::RouteStage::None | pb::RouteStage::Unspecified => Self::None,
        }
    }
}

impl From<&RouteDecision> for pb::RouteDecision {
    fn from(d: &RouteDecision) -> Self {
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
        Self {
            status: status as i32,
            agent,
            skill,
            confidence: d.confidence,
            stage: pb::RouteStage::from(d.stage) as i32,
            entities: Some(pb::Entities::from(&d.entities)),
            candidates: d.candidates.iter().map(pb::Candidate::from).collect(),
            default_mode: default_mode as i32,
            cached: d.cached,
            degraded: d.degraded.clone(),
        }
    }
}

impl TryFrom<pb::RouteDecision> for RouteDecision {
    type Error = WireError;

    fn try_from(d: pb::RouteDecision) -> Result<Self, WireError> {
        let routed = d.status() == pb::RouteStatus::Routed;
        let (stage, default_mode) = (
            Stage::from(d.stage()),
            ExecutionMode::from(d.default_mode()),
        );
        let entities = d
            .entities
            .as_ref()
            .map(Entities::try_from)
            .transpose()
            .map_err(|e| e.under("entities"))?
            .unwrap_or_default();
        Ok(Self {
            route: routed.then_some(Route {
                default_mode,
                agent: d.agent,
                skill: d.skill,
            }),
            confidence: d.confidence,
            stage,
            entities,
            candidates: d.candidates.into_iter().map(Candidate::from).collect(),
            cached: d.cached,
            degraded: d.degraded,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_survives_the_wire() {
        let decision = RouteDecision {
            route: Some(Route {
                agent: "search".into(),
                skill: "search".into(),
                default_mode: ExecutionMode::Async,
            }),
            confidence: 0.8,
            stage: Stage::Embeddings,
            entities: Entities {
                query: Some("lamps".into()),
                ..Entities::default()
            },
            candidates: Vec::new(),
            cached: true,
            degraded: vec!["llm".into()],
        };
        let back = RouteDecision::try_from(pb::RouteDecision::from(&decision)).unwrap();
        assert_eq!(back, decision);
        let asked = RouteDecision {
            route: None,
            stage: Stage::None,
            ..decision
        };
        assert_eq!(
            RouteDecision::try_from(pb::RouteDecision::from(&asked)).unwrap(),
            asked
        );
    }
}

//! What the router made of a request (`Router.Route`, and the decision behind a `Process`
//! answer): where it goes, or that it should ask, and how sure it is.

use serde::{Deserialize, Serialize};

use super::{Candidate, Entities, ExecutionMode};

/// Which stage of the routing cascade decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The caller named the agent.
    Explicit,
    /// Rules built from the agents' descriptions.
    Rules,
    /// A follow-up in the same conversation went to the previous turn's skill.
    Context,
    Embeddings,
    Llm,
    /// No stage was confident enough.
    None,
}

impl Stage {
    /// The stage's name in configuration, metrics and `/route` (`rules`, `embeddings`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Explicit => "explicit",
            Self::Rules => "rules",
            Self::Embeddings => "embeddings",
            Self::Llm => "llm",
            Self::Context => "context",
            Self::None => "none",
        }
    }
}

/// Where a routed request goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub agent: String,
    pub skill: String,
    /// How the skill runs when the caller does not say.
    pub default_mode: ExecutionMode,
}

/// What the router made of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteDecision {
    /// `None` when the router asks which skill was meant instead.
    pub route: Option<Route>,
    pub confidence: f64,
    /// The stage that decided (`None` when no stage was sure).
    pub stage: Stage,
    /// What the request is about, for the skill it goes to (all of it when none was chosen).
    pub entities: Entities,
    /// The skills that scored, best first (when clarification is needed).
    pub candidates: Vec<Candidate>,
    /// The decision came from the classification cache (`stage` made it first).
    pub cached: bool,
    /// Stages that were asked and could not answer (`llm` after a timeout).
    pub degraded: Vec<String>,
}

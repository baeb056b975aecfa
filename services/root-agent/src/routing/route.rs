//! One routing decision from one set of cards: the caller's explicit agent, or the cascade; then
//! the entities — the parsers', the LLM's where the parsers found nothing, the previous turn's for
//! a follow-up, and the caller's `context` over all of them.

use std::{collections::BTreeMap, sync::Arc};

use intentmesh_core::{
    AgentError, ErrorCode,
    agent::{
        AgentCard, AgentRequest, Candidate, Entities, ExecutionMode, Route, RouteDecision, Skill,
    },
};
use intentmesh_entities::Vocabulary;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{
    Cascade, Decision, Input, Scored, Stage, Verdict, context::REFERS_BACK, stages::Stages,
};
use crate::{
    entities::{self, context},
    state::ConversationTurn,
};

/// The metric label of a decision's intent: `agent.skill`, `none` (a stage was sure it is none
/// of them) or `needs_clarification` (no stage was sure).
pub(crate) fn intent(decision: &RouteDecision) -> String {
    match &decision.route {
        Some(route) => format!("{}.{}", route.agent, route.skill),
        None if decision.stage == Stage::None => "needs_clarification".to_owned(),
        None => super::NONE.to_owned(),
    }
}

/// Routing consistent with one set of cards.
#[derive(Debug)]
pub(crate) struct Routing {
    pub(crate) max_message_chars: usize,
    pub(crate) cards: BTreeMap<String, Arc<AgentCard>>,
    pub(crate) cascade: Cascade,
    pub(crate) vocabulary: Arc<Vocabulary>,
}

/// The longest `context.session_id` taken.
const MAX_SESSION_ID: usize = 128;

/// The conversation a request belongs to: `context.session_id`, scoped to its user (another user
/// naming the same session id gets a different conversation). `None` without a session id.
pub(crate) fn session_of(req: &AgentRequest) -> Result<Option<String>, AgentError> {
    let Some(value) = req.context.get("session_id") else {
        return Ok(None);
    };
    let invalid = |expected: &str| {
        AgentError::new(
            ErrorCode::InvalidField,
            format!("context.session_id must be {expected}"),
        )
        .with("field", "context.session_id")
    };
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) if s.chars().count() > MAX_SESSION_ID => {
            Err(invalid(&format!("at most {MAX_SESSION_ID} characters")))
        }
        Value::String(s) => {
            let mut hash = Sha256::new();
            hash.update(req.user_id.as_bytes());
            hash.update([0]);
            hash.update(s.trim().as_bytes());
            Ok(Some(hex::encode(&hash.finalize()[..16])))
        }
        _ => Err(invalid("a string")),
    }
}

fn fill(into: &mut Entities, from: &Entities) {
    if into.amount.is_none() && from.amount.is_some() {
        into.amount.clone_from(&from.amount);
        into.currency.clone_from(&from.currency);
    }
    macro_rules! gap {
        ($($field:ident),*) => {$(
            if into.$field.is_none() {
                into.$field.clone_from(&from.$field);
            }
        )*};
    }
    gap!(currency, order_id, query, category, min_price, max_price);
}

/// Fills what a model suggested into the gaps the parsers left, except what a payment charges
/// (amount, currency, order id): a model never makes up a payment.
fn fill_from_model(into: &mut Entities, from: &Entities) {
    let search_only = Entities {
        amount: None,
        currency: None,
        order_id: None,
        ..from.clone()
    };
    fill(into, &search_only);
}

/// A follow-up's query narrows the previous one ("only the black ones" after "hoodies under
/// $50" searches "hoodies black"): the previous words, then the new ones it did not have.
fn narrowed(previous: Option<&str>, new: Option<&str>) -> Option<String> {
    let mut words: Vec<&str> = previous.unwrap_or_default().split_whitespace().collect();
    for w in new.unwrap_or_default().split_whitespace() {
        if !words.contains(&w) && !REFERS_BACK.contains(&w) {
            words.push(w);
        }
    }
    (!words.is_empty()).then(|| words.join(" "))
}

impl Routing {
    /// Before any worker has described itself.
    pub(crate) fn empty() -> Self {
        Self {
            max_message_chars: 0,
            cards: BTreeMap::new(),
            cascade: Cascade::new(Vec::new(), 1.0, 0.0),
            vocabulary: Arc::default(),
        }
    }

    pub(crate) async fn build(stages: &Stages, cards: BTreeMap<String, Arc<AgentCard>>) -> Self {
        let list: Vec<&AgentCard> = cards.values().map(AsRef::as_ref).collect();
        let vocabulary = Arc::new(entities::vocabulary(list.iter().copied()));
        Self {
            max_message_chars: stages.config().max_message_chars,
            cascade: stages.cascade(&list, &vocabulary).await,
            vocabulary,
            cards,
        }
    }

    pub(crate) fn skill(&self, agent: &str, skill: &str) -> Option<&Skill> {
        self.cards.get(agent)?.skills.iter().find(|s| s.id == skill)
    }

    fn candidate(&self, s: &Scored) -> Candidate {
        Candidate {
            agent: s.agent.clone(),
            skill: s.skill.clone(),
            confidence: s.confidence,
            description: self
                .skill(&s.agent, &s.skill)
                .map(|k| k.description.clone())
                .unwrap_or_default(),
        }
    }

    /// Every skill, for a question when nothing matched at all.
    fn every_skill(&self) -> Vec<Scored> {
        self.cards
            .values()
            .flat_map(|card| {
                card.skills.iter().map(|s| Scored {
                    agent: card.name.clone(),
                    skill: s.id.clone(),
                    confidence: 0.0,
                })
            })
            .collect()
    }

    /// Routes `req`; `previous` is its conversation's last turn. Errors are the caller's
    /// (missing message, unknown agent, a context of the wrong type).
    pub(crate) async fn decide(
        &self,
        req: &AgentRequest,
        previous: Option<&ConversationTurn>,
        deadline: Instant,
    ) -> Result<RouteDecision, AgentError> {
        if req.message.trim().is_empty() && req.agent.is_none() {
            return Err(
                AgentError::new(ErrorCode::MissingField, "message is required")
                    .with("field", "message"),
            );
        }
        let chars = req.message.chars().count();
        if chars > self.max_message_chars {
            return Err(AgentError::new(
                ErrorCode::MessageTooLong,
                format!(
                    "message has {chars} characters; at most {} are allowed",
                    self.max_message_chars
                ),
            )
            .with("field", "message")
            .with("max_chars", self.max_message_chars));
        }
        let extraction = intentmesh_entities::extract(&req.message, &self.vocabulary);
        let mut parsed = entities::parsed(&extraction)?;
        // Checked before the cascade, so a malformed context fails fast, before any model is
        // asked; merged for real once the entities are final (it validates across them).
        context::merge(&req.context, &mut parsed.clone())?;

        let (best, stage, decision) = if let Some(agent) = &req.agent {
            let card = self.cards.get(agent).ok_or_else(|| {
                let known: Vec<&str> = self.cards.keys().map(String::as_str).collect();
                AgentError::new(
                    ErrorCode::UnknownAgent,
                    format!("there is no agent named {:?}", truncate(agent)),
                )
                .with("field", "agent")
                .with("available", known.join(","))
            })?;
            let skill = match &req.skill {
                None => card
                    .skills
                    .first()
                    .map(|s| s.id.clone())
                    .unwrap_or_default(),
                Some(skill) if card.skills.iter().any(|s| s.id == *skill) => skill.clone(),
                Some(skill) => {
                    return Err(AgentError::new(
                        ErrorCode::UnknownSkill,
                        format!("agent {agent} has no skill {:?}", truncate(skill)),
                    )
                    .with("field", "skill"));
                }
            };
            let best = Scored {
                agent: agent.clone(),
                skill,
                confidence: 1.0,
            };
            let decision = Decision {
                verdict: Verdict::Routed {
                    best: best.clone(),
                    stage: Stage::Explicit,
                },
                entities: None,
                cached: false,
                degraded: Vec::new(),
            };
            (best, Stage::Explicit, decision)
        } else {
            let decision = self
                .cascade
                .decide(&Input {
                    message: &req.message,
                    extraction: &extraction,
                    previous,
                    deadline,
                })
                .await;
            match &decision.verdict {
                Verdict::Routed { best, stage } => (best.clone(), *stage, decision),
                Verdict::Unsupported { stage, candidates } => {
                    return self.clarify(req, parsed, candidates.clone(), *stage, &decision);
                }
                Verdict::Unsure { candidates } => {
                    return self.clarify(req, parsed, candidates.clone(), Stage::None, &decision);
                }
            }
        };

        if let Some(suggested) = &decision.entities {
            // The model read the words better than what the parsers leave over ("love build
            // castles"); prices stay the parsers' where they found them. What a payment charges —
            // amount, currency, order — comes from the parsers only, never from a model.
            if stage == Stage::Llm {
                if suggested.query.is_some() {
                    parsed.query.clone_from(&suggested.query);
                }
                if suggested.category.is_some() {
                    parsed.category.clone_from(&suggested.category);
                }
            }
            fill_from_model(&mut parsed, suggested);
        }
        // A follow-up keeps what the previous turn said and it does not change.
        if stage == Stage::Context
            && let Some(before) = previous.map(|p| &p.entities)
        {
            parsed.query = narrowed(before.query.as_deref(), parsed.query.as_deref());
            fill(&mut parsed, before);
        }
        context::merge(&req.context, &mut parsed)?;
        let skill = self.skill(&best.agent, &best.skill);
        Ok(RouteDecision {
            route: Some(Route {
                default_mode: skill.map_or_else(ExecutionMode::default, |s| s.default_mode),
                agent: best.agent,
                skill: best.skill,
            }),
            confidence: best.confidence,
            stage,
            entities: entities::for_skill(parsed, skill.map_or(&[], |s| s.entities.as_slice())),
            candidates: Vec::new(),
            cached: decision.cached,
            degraded: decision.degraded.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    fn clarify(
        &self,
        req: &AgentRequest,
        mut parsed: Entities,
        mut candidates: Vec<Scored>,
        stage: Stage,
        decision: &Decision,
    ) -> Result<RouteDecision, AgentError> {
        context::merge(&req.context, &mut parsed)?;
        if candidates.is_empty() {
            // Nothing matched at all: offer every skill, so the caller sees the options.
            candidates = self.every_skill();
        }
        Ok(RouteDecision {
            route: None,
            confidence: candidates.first().map_or(0.0, |c| c.confidence),
            stage,
            entities: parsed,
            candidates: candidates.iter().map(|c| self.candidate(c)).collect(),
            cached: decision.cached,
            degraded: decision.degraded.iter().map(|s| (*s).to_owned()).collect(),
        })
    }
}

pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follow_up_narrows_the_query() {
        assert_eq!(
            narrowed(Some("hoodies"), Some("black")).as_deref(),
            Some("hoodies black")
        );
        assert_eq!(
            narrowed(Some("black hoodies"), Some("black")).as_deref(),
            Some("black hoodies")
        );
        assert_eq!(narrowed(None, Some("black")).as_deref(), Some("black"));
        assert_eq!(narrowed(Some("hoodies"), None).as_deref(), Some("hoodies"));
        assert_eq!(
            narrowed(Some("hoodies"), Some("only black")).as_deref(),
            Some("hoodies black"),
            "words that refer back are not searched for"
        );
        assert_eq!(narrowed(None, None), None);
    }
}

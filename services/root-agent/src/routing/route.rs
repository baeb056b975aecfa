//! One routing decision from one set of cards: the caller's explicit agent, or the cascade; then
//! the entities — the parsers', the LLM's where the parsers found nothing, the previous turn's for
//! a follow-up, and the caller's `context` over all of them.

use std::{collections::BTreeMap, sync::Arc};

use intentmesh_core::{AgentError, ErrorCode};
use intentmesh_proto::pb;
use prost_types::value::Kind;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{
    Cascade, Decision, Input, Scored, Stage, Verdict, context::REFERS_BACK, stages::Stages,
};
use crate::entities::{self, Vocabulary, context};

/// Routing consistent with one set of cards.
#[derive(Debug)]
pub(crate) struct Routing {
    pub(crate) max_message_chars: usize,
    pub(crate) cards: BTreeMap<String, Arc<pb::AgentCard>>,
    pub(crate) cascade: Cascade,
    pub(crate) vocabulary: Arc<Vocabulary>,
}

/// The longest `context.session_id` taken.
const MAX_SESSION_ID: usize = 128;

/// The conversation a request belongs to: `context.session_id`, scoped to its user (another user
/// naming the same session id gets a different conversation). `None` without a session id.
pub(crate) fn session_of(req: &pb::ProcessRequest) -> Result<Option<String>, AgentError> {
    let Some(value) = req
        .context
        .as_ref()
        .and_then(|c| c.fields.get("session_id"))
    else {
        return Ok(None);
    };
    let invalid = |expected: &str| {
        AgentError::new(
            ErrorCode::InvalidField,
            format!("context.session_id must be {expected}"),
        )
        .with("field", "context.session_id")
    };
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Ok(None),
        Some(Kind::StringValue(s)) if s.trim().is_empty() => Ok(None),
        Some(Kind::StringValue(s)) if s.chars().count() > MAX_SESSION_ID => {
            Err(invalid(&format!("at most {MAX_SESSION_ID} characters")))
        }
        Some(Kind::StringValue(s)) => {
            let mut hash = Sha256::new();
            hash.update(req.user_id.as_bytes());
            hash.update([0]);
            hash.update(s.trim().as_bytes());
            Ok(Some(hex::encode(&hash.finalize()[..16])))
        }
        Some(_) => Err(invalid("a string")),
    }
}

fn fill(into: &mut pb::Entities, from: &pb::Entities) {
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

    pub(crate) async fn build(
        stages: &Stages,
        cards: BTreeMap<String, Arc<pb::AgentCard>>,
    ) -> Self {
        let list: Vec<&pb::AgentCard> = cards.values().map(AsRef::as_ref).collect();
        let vocabulary = Arc::new(Vocabulary::from_cards(list.iter().copied()));
        Self {
            max_message_chars: stages.config().max_message_chars,
            cascade: stages.cascade(&list, &vocabulary).await,
            vocabulary,
            cards,
        }
    }

    fn skill(&self, agent: &str, skill: &str) -> Option<&pb::Skill> {
        self.cards.get(agent)?.skills.iter().find(|s| s.id == skill)
    }

    fn candidate(&self, s: &Scored) -> pb::Candidate {
        pb::Candidate {
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
        req: &pb::ProcessRequest,
        previous: Option<&pb::ConversationTurn>,
        deadline: Instant,
    ) -> Result<pb::RouteDecision, AgentError> {
        if req.message.trim().is_empty() && req.agent.is_empty() {
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
        let extraction = entities::extract(&req.message, &self.vocabulary);
        let mut parsed = extraction.entities()?;
        // Checked before the cascade, so a malformed context fails fast, before any model is
        // asked; merged for real once the entities are final (it validates across them).
        context::merge(req.context.as_ref(), &mut parsed.clone())?;

        let (best, stage, decision) = if req.agent.is_empty() {
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
                Verdict::Routed { best, stage } => (
                    best.clone(),
                    Stage::try_from(*stage).unwrap_or(Stage::None),
                    decision,
                ),
                Verdict::Unsupported { stage, candidates } => {
                    let stage = Stage::try_from(*stage).unwrap_or(Stage::None);
                    return self.clarify(req, parsed, candidates.clone(), stage, &decision);
                }
                Verdict::Unsure { candidates } => {
                    return self.clarify(req, parsed, candidates.clone(), Stage::None, &decision);
                }
            }
        } else {
            let card = self.cards.get(&req.agent).ok_or_else(|| {
                let known: Vec<&str> = self.cards.keys().map(String::as_str).collect();
                AgentError::new(
                    ErrorCode::UnknownAgent,
                    format!("there is no agent named {:?}", truncate(&req.agent)),
                )
                .with("field", "agent")
                .with("available", known.join(","))
            })?;
            let skill = if req.skill.is_empty() {
                card.skills
                    .first()
                    .map(|s| s.id.clone())
                    .unwrap_or_default()
            } else if card.skills.iter().any(|s| s.id == req.skill) {
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
            let decision = Decision {
                verdict: Verdict::Routed {
                    best: best.clone(),
                    stage: Stage::Explicit as i32,
                },
                entities: None,
                cached: false,
                degraded: Vec::new(),
            };
            (best, Stage::Explicit, decision)
        };

        if let Some(suggested) = &decision.entities {
            // The model read the words better than what the parsers leave over ("love build
            // castles"); amounts, orders and prices stay the parsers' where they found them.
            if stage == Stage::Llm {
                if suggested.query.is_some() {
                    parsed.query.clone_from(&suggested.query);
                }
                if suggested.category.is_some() {
                    parsed.category.clone_from(&suggested.category);
                }
            }
            fill(&mut parsed, suggested);
        }
        // A follow-up keeps what the previous turn said and it does not change.
        if stage == Stage::Context
            && let Some(before) = previous.and_then(|p| p.entities.as_ref())
        {
            parsed.query = narrowed(before.query.as_deref(), parsed.query.as_deref());
            fill(&mut parsed, before);
        }
        context::merge(req.context.as_ref(), &mut parsed)?;
        let skill = self.skill(&best.agent, &best.skill);
        let accepts = skill.map(|s| s.entities.clone()).unwrap_or_default();
        Ok(pb::RouteDecision {
            status: pb::RouteStatus::Routed as i32,
            agent: best.agent.clone(),
            skill: best.skill.clone(),
            confidence: best.confidence,
            stage: stage as i32,
            entities: Some(entities::for_skill(parsed, &accepts)),
            candidates: Vec::new(),
            default_mode: skill.map_or(0, |s| s.default_mode),
            cached: decision.cached,
            degraded: decision.degraded.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    fn clarify(
        &self,
        req: &pb::ProcessRequest,
        mut parsed: pb::Entities,
        mut candidates: Vec<Scored>,
        stage: Stage,
        decision: &Decision,
    ) -> Result<pb::RouteDecision, AgentError> {
        context::merge(req.context.as_ref(), &mut parsed)?;
        if candidates.is_empty() {
            // Nothing matched at all: offer every skill, so the caller sees the options.
            candidates = self.every_skill();
        }
        Ok(pb::RouteDecision {
            status: pb::RouteStatus::NeedsClarification as i32,
            confidence: candidates.first().map_or(0.0, |c| c.confidence),
            stage: stage as i32,
            entities: Some(parsed),
            candidates: candidates.iter().map(|c| self.candidate(c)).collect(),
            cached: decision.cached,
            degraded: decision.degraded.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
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

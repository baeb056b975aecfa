//! The routing cascade, cheapest first: rules → conversation context → (classification cache) →
//! embeddings → LLM → `needs_clarification`. Each stage answers with confidences; the first whose
//! best answer clears its threshold, unambiguously, decides — and that answer may be "none of
//! these" (chit-chat, a refund nobody can do), which asks the caller instead of guessing. Which
//! stages run, and their thresholds, is configuration; a stage that fails (an LLM timeout) is
//! skipped and named in the decision, never an error.

pub(crate) mod cache;
pub(crate) mod context;
#[cfg(feature = "embeddings")]
pub(crate) mod embeddings;
pub(crate) mod llm;
mod route;
pub(crate) mod rules;
mod settings;
mod stages;

pub(crate) use route::{Routing, intent, session_of};
pub use settings::{EMBEDDINGS_BUILT, RoutingConfig, parse_stages};
pub use stages::{Stages, StagesError};

use std::fmt;

use async_trait::async_trait;
pub use intentmesh_core::agent::Stage;
use intentmesh_core::agent::{AgentCard, Entities, Skill};
use intentmesh_entities::Extraction;
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::{metrics::RoutingMetrics, state::ConversationTurn};

/// A card's patterns, compiled; an invalid one is logged and left out.
pub(crate) fn compile_patterns(card: &AgentCard, skill: &Skill, patterns: &[String]) -> Vec<Regex> {
    patterns
        .iter()
        .filter_map(|p| {
            match RegexBuilder::new(p)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
            {
                Ok(re) => Some(re),
                Err(err) => {
                    tracing::warn!(agent = %card.name, skill = %skill.id, pattern = %p, %err, "ignoring an invalid pattern");
                    None
                }
            }
        })
        .collect()
}

/// The none-class guard: a message one of a skill's exclude patterns matches is not for that
/// skill, whatever any stage thinks ("refund my payment" is not a payment); and a skill that
/// moves money (it takes an `amount`) is decided by the rules only when the embedding stage,
/// asked too, does not find the message nearer "none of these" ([`NONE_GUARD`]).
#[derive(Debug, Default)]
pub(crate) struct Exclusions {
    patterns: Vec<(String, String, Vec<Regex>)>,
    guarded: Vec<(String, String)>,
}

/// How sure the embedding stage must be that a message is "none of these" to stop the rules'
/// decision for a guarded skill (its softmax over the intents: none must also rank first).
pub(crate) const NONE_GUARD: f64 = 0.5;

impl Exclusions {
    pub(crate) fn new<'a>(cards: impl IntoIterator<Item = &'a AgentCard>) -> Self {
        let mut out = Self::default();
        for card in cards {
            for skill in &card.skills {
                let patterns = compile_patterns(card, skill, &skill.exclude_patterns);
                if !patterns.is_empty() {
                    out.patterns
                        .push((card.name.clone(), skill.id.clone(), patterns));
                }
                if skill.entities.iter().any(|e| e == "amount") {
                    out.guarded.push((card.name.clone(), skill.id.clone()));
                }
            }
        }
        out
    }

    /// The skills `message` rules out.
    fn ruled_out(&self, message: &str) -> Vec<(&str, &str)> {
        self.patterns
            .iter()
            .filter(|(_, _, patterns)| patterns.iter().any(|p| p.is_match(message)))
            .map(|(agent, skill, _)| (agent.as_str(), skill.as_str()))
            .collect()
    }

    /// Whether the rules' decision for this skill needs the embedding stage's consent.
    fn guarded(&self, skill: &Scored) -> bool {
        self.guarded
            .iter()
            .any(|(a, s)| *a == skill.agent && *s == skill.skill)
    }
}

/// The skill id of "none of these".
pub(crate) const NONE: &str = "none";

/// One candidate intent — an agent's skill, or "none of these" — and how sure a stage is of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Scored {
    pub(crate) agent: String,
    pub(crate) skill: String,
    pub(crate) confidence: f64,
}

impl Scored {
    pub(crate) fn none(confidence: f64) -> Self {
        Self {
            agent: String::new(),
            skill: NONE.to_owned(),
            confidence,
        }
    }

    /// "None of these": nothing any agent can do.
    pub(crate) fn is_none(&self) -> bool {
        self.agent.is_empty()
    }
}

/// What a classifier sees.
#[derive(Debug)]
pub(crate) struct Input<'a> {
    pub(crate) message: &'a str,
    pub(crate) extraction: &'a Extraction,
    /// The previous routed turn of this conversation, if the caller named a session.
    pub(crate) previous: Option<&'a ConversationTurn>,
    /// When the whole request must be answered.
    pub(crate) deadline: Instant,
}

/// A stage's answer: every intent it has an opinion on, best first, and the entities it read
/// (the LLM's; the deterministic parsers' are the root's own).
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) ranked: Vec<Scored>,
    pub(crate) entities: Option<Entities>,
}

impl Outcome {
    pub(crate) fn ranked(mut ranked: Vec<Scored>) -> Self {
        ranked.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        Self {
            ranked,
            entities: None,
        }
    }
}

/// A stage that could not answer; `reason` is a metric label (`timeout`, `circuit_open`, ...).
#[derive(Debug, thiserror::Error)]
#[error("{reason}: {detail}")]
pub(crate) struct StageError {
    pub(crate) reason: &'static str,
    pub(crate) detail: String,
}

/// A stage of the cascade.
#[async_trait]
pub(crate) trait Classifier: Send + Sync + fmt::Debug {
    fn stage(&self) -> Stage;

    /// Whether its answers are worth caching (the embedding and LLM stages).
    fn cacheable(&self) -> bool {
        false
    }

    async fn classify(&self, input: &Input<'_>) -> Result<Outcome, StageError>;
}

/// What the cascade concluded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Verdict {
    Routed {
        best: Scored,
        stage: Stage,
    },
    /// A stage was sure it is none of the skills.
    Unsupported {
        stage: Stage,
        candidates: Vec<Scored>,
    },
    /// No stage was sure of anything.
    Unsure {
        candidates: Vec<Scored>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    pub(crate) verdict: Verdict,
    /// Entities the deciding stage read (the LLM's), to fill what the parsers missed.
    pub(crate) entities: Option<Entities>,
    pub(crate) cached: bool,
    /// Stages that failed on the way (`llm`), in order.
    pub(crate) degraded: Vec<&'static str>,
}

/// A stage and the confidence it must reach to decide.
#[derive(Debug)]
pub(crate) struct Step {
    pub(crate) classifier: Box<dyn Classifier>,
    pub(crate) min_confidence: f64,
}

#[derive(Debug)]
pub(crate) struct Cascade {
    steps: Vec<Step>,
    /// The least confidence any answer needs, also when a failed stage leaves an earlier answer
    /// to fall back on.
    floor: f64,
    /// Two answers closer than this are ambiguous: ask rather than guess.
    ambiguity_margin: f64,
    cache: Option<cache::Cache>,
    metrics: Option<RoutingMetrics>,
    exclusions: Exclusions,
}

/// Whether the best of `ranked` (best first) clears `min` and beats the runner-up by `margin`.
fn confident<T>(ranked: &[T], score: impl Fn(&T) -> f64, min: f64, margin: f64) -> Option<&T> {
    let best = ranked.first()?;
    let runner_up = ranked.get(1).map_or(0.0, &score);
    (score(best) >= min && score(best) - runner_up >= margin).then_some(best)
}

enum CacheState {
    NotAsked,
    Missed(String),
    Unusable,
}

impl Cascade {
    pub(crate) fn new(steps: Vec<Step>, floor: f64, ambiguity_margin: f64) -> Self {
        Self {
            steps,
            floor,
            ambiguity_margin,
            cache: None,
            metrics: None,
            exclusions: Exclusions::default(),
        }
    }

    pub(crate) fn with_exclusions(mut self, exclusions: Exclusions) -> Self {
        self.exclusions = exclusions;
        self
    }

    /// Answers of the stages from the first cacheable one on are cached here.
    pub(crate) fn with_cache(mut self, cache: Option<cache::Cache>) -> Self {
        self.cache = cache;
        self
    }

    pub(crate) fn with_metrics(mut self, metrics: RoutingMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The stages in order, by name.
    pub(crate) fn stage_names(&self) -> Vec<&'static str> {
        self.steps
            .iter()
            .map(|s| s.classifier.stage().name())
            .collect()
    }

    /// The embedding stage's veto on `best`, decided by the rules for a guarded skill: the
    /// message is nearer "none of these" than any skill. Only the rules are second-guessed (a
    /// follow-up the context stage routes, "make it $120 instead", is near nothing by itself). No
    /// embedding stage, or one that fails: no veto (the exclude patterns still apply).
    async fn vetoed(&self, input: &Input<'_>, stage: Stage, best: &Scored) -> bool {
        if stage != Stage::Rules || !self.exclusions.guarded(best) {
            return false;
        }
        let Some(guard) = self
            .steps
            .iter()
            .find(|s| s.classifier.stage() == Stage::Embeddings)
        else {
            return false;
        };
        let Ok(outcome) = guard.classifier.classify(input).await else {
            return false;
        };
        let veto = outcome
            .ranked
            .first()
            .is_some_and(|top| top.is_none() && top.confidence >= NONE_GUARD);
        if veto {
            tracing::debug!(skill = %best.skill, "the embedding stage finds the message nearer none of the skills; asking instead");
        }
        veto
    }

    pub(crate) async fn decide(&self, input: &Input<'_>) -> Decision {
        // Every skill any stage scored, with the stage that scored it best.
        let mut seen: Vec<(Scored, Stage)> = Vec::new();
        let mut degraded = Vec::new();
        let mut cache_state = CacheState::NotAsked;
        let ruled_out = self.exclusions.ruled_out(input.message);
        for step in &self.steps {
            let classifier = &step.classifier;
            let stage = classifier.stage();
            if classifier.cacheable() && matches!(cache_state, CacheState::NotAsked) {
                cache_state = CacheState::Unusable;
                if let Some(cache) = &self.cache {
                    let key = cache.key(input.message);
                    match cache.get(&key).await {
                        Ok(Some(mut hit)) => {
                            self.count_cache("hit");
                            hit.cached = true;
                            return hit;
                        }
                        Ok(None) => {
                            self.count_cache("miss");
                            cache_state = CacheState::Missed(key);
                        }
                        Err(err) => {
                            self.count_cache("error");
                            let err = intentmesh_core::errors::Chain::of(&err);
                            tracing::warn!(error = %err, "classification cache unavailable");
                        }
                    }
                }
            }
            let started = Instant::now();
            let answer = classifier.classify(input).await;
            if let Some(m) = &self.metrics {
                m.stage_took(stage.name(), started.elapsed().as_secs_f64());
            }
            let mut outcome = match answer {
                Ok(outcome) => outcome,
                Err(err) => {
                    tracing::warn!(stage = stage.name(), %err, "routing stage failed; going on without it");
                    if let Some(m) = &self.metrics {
                        m.stage_failed(stage.name(), err.reason);
                    }
                    degraded.push(stage.name());
                    continue;
                }
            };
            outcome
                .ranked
                .retain(|s| !ruled_out.contains(&(s.agent.as_str(), s.skill.as_str())));
            if let Some(best) = confident(
                &outcome.ranked,
                |s| s.confidence,
                step.min_confidence,
                self.ambiguity_margin,
            ) {
                if !best.is_none() && self.vetoed(input, stage, best).await {
                    let decision = Decision {
                        verdict: Verdict::Unsure {
                            candidates: vec![best.clone()],
                        },
                        entities: None,
                        cached: false,
                        degraded,
                    };
                    self.remember(cache_state, &decision).await;
                    return decision;
                }
                let verdict = if best.is_none() {
                    Verdict::Unsupported {
                        stage,
                        candidates: ranked_skills(seen),
                    }
                } else {
                    Verdict::Routed {
                        best: best.clone(),
                        stage,
                    }
                };
                let decision = Decision {
                    verdict,
                    entities: outcome.entities,
                    cached: false,
                    degraded,
                };
                self.remember(cache_state, &decision).await;
                return decision;
            }
            for s in outcome.ranked.into_iter().filter(|s| !s.is_none()) {
                match seen
                    .iter_mut()
                    .find(|(x, _)| x.agent == s.agent && x.skill == s.skill)
                {
                    Some((x, at)) if s.confidence > x.confidence => {
                        x.confidence = s.confidence;
                        *at = stage;
                    }
                    Some(_) => {}
                    None => seen.push((s, stage)),
                }
            }
        }
        seen.sort_by(|a, b| b.0.confidence.total_cmp(&a.0.confidence));
        // A stage that would have been asked failed: the earlier stages' best answer, if it is
        // good enough on its own, rather than a question.
        if !degraded.is_empty()
            && let Some((best, stage)) = confident(
                &seen,
                |(s, _)| s.confidence,
                self.floor,
                self.ambiguity_margin,
            )
        {
            return Decision {
                verdict: Verdict::Routed {
                    best: best.clone(),
                    stage: *stage,
                },
                entities: None,
                cached: false,
                degraded,
            };
        }
        let decision = Decision {
            verdict: Verdict::Unsure {
                candidates: ranked_skills(seen),
            },
            entities: None,
            cached: false,
            degraded,
        };
        self.remember(cache_state, &decision).await;
        decision
    }

    /// Caches a decision the expensive stages reached without failing.
    async fn remember(&self, state: CacheState, decision: &Decision) {
        if let (CacheState::Missed(key), Some(cache)) = (state, &self.cache)
            && decision.degraded.is_empty()
            && let Err(err) = cache.put(&key, decision).await
        {
            let err = intentmesh_core::errors::Chain::of(&err);
            tracing::warn!(error = %err, "could not cache a classification");
        }
    }

    fn count_cache(&self, result: &str) {
        if let Some(m) = &self.metrics {
            m.cache_lookup(result);
        }
    }
}

/// `seen` best first, without the skills nobody scored.
fn ranked_skills(mut seen: Vec<(Scored, Stage)>) -> Vec<Scored> {
    seen.sort_by(|a, b| b.0.confidence.total_cmp(&a.0.confidence));
    seen.into_iter()
        .map(|(s, _)| s)
        .filter(|s| s.confidence > 0.0)
        .collect()
}

#[cfg(test)]
mod tests;

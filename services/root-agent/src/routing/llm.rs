//! The LLM stage: the agents' skills become the choices of an OpenAI-compatible model, asked for
//! a structured answer (see `intentmesh-llm`). It has its own circuit breaker, a timeout that
//! never takes more than half of what the request has left, and a token budget; whatever goes
//! wrong, the stage fails and the cascade goes on without it — the caller never sees an LLM error.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use intentmesh_core::{
    metrics::ServiceMetrics,
    resilience::{CircuitBreaker, Outcome as CallOutcome},
};
use intentmesh_llm::{Choice, LlmClient, LlmError, RawEntities};
use intentmesh_proto::pb;
use tokio::time::Instant;

use super::{Classifier, Input, NONE, Outcome, Scored, Stage, StageError};
use crate::entities::{Vocabulary, extract};

/// Examples per skill in the prompt (the budget may drop them all).
const EXAMPLES: usize = 4;

#[derive(Debug)]
pub(crate) struct LlmClassifier {
    client: LlmClient,
    breaker: CircuitBreaker,
    timeout: Duration,
    choices: Vec<Choice>,
    vocabulary: Vocabulary,
    metrics: Option<Arc<ServiceMetrics>>,
}

impl LlmClassifier {
    pub(crate) fn new<'a>(
        client: LlmClient,
        breaker: CircuitBreaker,
        timeout: Duration,
        cards: impl IntoIterator<Item = &'a pb::AgentCard> + Clone,
        metrics: Option<Arc<ServiceMetrics>>,
    ) -> Self {
        let choices = cards
            .clone()
            .into_iter()
            .flat_map(|card| {
                card.skills.iter().map(move |skill| Choice {
                    id: format!("{}.{}", card.name, skill.id),
                    description: if skill.description.is_empty() {
                        skill.name.clone()
                    } else {
                        skill.description.clone()
                    },
                    examples: skill.examples.iter().take(EXAMPLES).cloned().collect(),
                    entities: skill.entities.clone(),
                })
            })
            .collect();
        Self {
            client,
            breaker,
            timeout,
            choices,
            vocabulary: Vocabulary::from_cards(cards),
            metrics,
        }
    }

    /// The model's entities, read again by the deterministic parsers: only what they accept
    /// survives (a category must be the catalog's, an amount must parse).
    fn entities(&self, raw: &RawEntities) -> pb::Entities {
        let parse = |text: &str| extract(text, &self.vocabulary);
        let mut out = pb::Entities::default();
        if let Some(amount) = &raw.amount {
            let text = format!("{amount} {}", raw.currency.as_deref().unwrap_or_default());
            if let Ok(e) = parse(&text).entities() {
                out.amount = e.amount;
                out.currency = e.currency;
            }
        }
        out.order_id = raw
            .order_id
            .as_deref()
            .map(|id| id.trim().trim_start_matches('#'))
            .filter(|id| {
                !id.is_empty()
                    && id.len() <= 32
                    && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            .map(str::to_owned);
        out.category = raw.category.as_deref().and_then(|c| parse(c).category);
        out.query = raw
            .query
            .as_deref()
            .map(|q| q.trim().to_lowercase())
            .filter(|q| !q.is_empty());
        let price = |text: &Option<String>| {
            text.as_deref()
                .and_then(|t| parse(t).entities().ok())
                .and_then(|e| e.amount)
        };
        out.min_price = price(&raw.min_price);
        out.max_price = price(&raw.max_price);
        out
    }
}

#[async_trait]
impl Classifier for LlmClassifier {
    fn stage(&self) -> Stage {
        Stage::Llm
    }

    fn cacheable(&self) -> bool {
        true
    }

    async fn classify(&self, input: &Input<'_>) -> Result<Outcome, StageError> {
        let permit = self.breaker.try_acquire().map_err(|wait| StageError {
            reason: "circuit_open",
            detail: format!("the LLM is paused for {} s", wait.as_secs()),
        })?;
        let left = input.deadline.saturating_duration_since(Instant::now());
        let timeout = self.timeout.min(left / 2);
        let answer = self
            .client
            .classify(input.message, &self.choices, timeout)
            .await;
        self.breaker.record(
            permit,
            match &answer {
                Ok(_) => CallOutcome::Success,
                Err(e) if e.is_outage() || matches!(e, LlmError::Malformed(_)) => {
                    CallOutcome::Failure
                }
                Err(_) => CallOutcome::Ignored,
            },
        );
        // Only the kind of failure: a malformed answer may echo the user's message.
        let answer = answer.map_err(|e| StageError {
            reason: e.kind(),
            detail: match &e {
                LlmError::Status { status, .. } => format!("HTTP {status}"),
                other => other.kind().to_owned(),
            },
        })?;
        if let (Some(usage), Some(m)) = (&answer.usage, &self.metrics) {
            m.routing().llm_tokens(
                u64::from(usage.prompt_tokens),
                u64::from(usage.completion_tokens),
            );
        }
        let confidence = answer.confidence.clamp(0.0, 1.0);
        let best = match answer.intent.as_deref() {
            None | Some(NONE) => Scored::none(confidence),
            Some(intent) => {
                let Some((agent, skill)) = intent.split_once('.') else {
                    return Err(StageError {
                        reason: "malformed",
                        detail: format!("intent {intent:?} is not agent.skill"),
                    });
                };
                Scored {
                    agent: agent.to_owned(),
                    skill: skill.to_owned(),
                    confidence,
                }
            }
        };
        Ok(Outcome {
            entities: (!best.is_none()).then(|| self.entities(&answer.entities)),
            ranked: vec![best],
        })
    }
}

//! The LLM stage: the agents' skills become the choices of an OpenAI-compatible model, asked for
//! a structured answer (see `intentmesh-llm`). It has its own circuit breaker, a timeout that
//! never takes more than half of what the request has left, and a token budget; whatever goes
//! wrong, the stage fails and the cascade goes on without it — the caller never sees an LLM error.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use intentmesh_core::{
    agent::{AgentCard, Entities},
    resilience::{CircuitBreaker, Outcome as CallOutcome},
};
use intentmesh_entities::{Vocabulary, extract};
use intentmesh_llm::{Choice, LlmClient, LlmError, RawEntities};
use tokio::time::Instant;

use super::{Classifier, Input, Outcome, Scored, Stage, StageError};
use crate::{entities::parsed, metrics::RoutingMetrics};

/// Less time than this left for the model: not worth asking.
const TOO_LITTLE_TIME: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) struct LlmClassifier {
    client: LlmClient,
    breaker: CircuitBreaker,
    timeout: Duration,
    choices: Vec<Choice>,
    /// The intent each choice id stands for (an id is `agent.skill`, and names may hold dots).
    intents: HashMap<String, Scored>,
    vocabulary: Arc<Vocabulary>,
    metrics: Option<RoutingMetrics>,
}

impl LlmClassifier {
    pub(crate) fn new<'a>(
        client: LlmClient,
        breaker: CircuitBreaker,
        timeout: Duration,
        cards: impl IntoIterator<Item = &'a AgentCard>,
        vocabulary: Arc<Vocabulary>,
        metrics: Option<RoutingMetrics>,
    ) -> Self {
        let mut choices = Vec::new();
        let mut intents = HashMap::new();
        for card in cards {
            for skill in &card.skills {
                let id = format!("{}.{}", card.name, skill.id);
                choices.push(Choice {
                    id: id.clone(),
                    description: if skill.description.is_empty() {
                        skill.name.clone()
                    } else {
                        skill.description.clone()
                    },
                    // The prompt takes the first few, as its budget allows.
                    examples: skill.examples.clone(),
                    entities: skill.entities.clone(),
                });
                intents.insert(
                    id,
                    Scored {
                        agent: card.name.clone(),
                        skill: skill.id.clone(),
                        confidence: 0.0,
                    },
                );
            }
        }
        Self {
            client,
            breaker,
            timeout,
            choices,
            intents,
            vocabulary,
            metrics,
        }
    }

    /// The model's entities, read again by the deterministic parsers: only what they accept
    /// survives (a category must be the catalog's, an amount must parse).
    fn entities(&self, raw: &RawEntities) -> Entities {
        let parse = |text: &str| extract(text, &self.vocabulary);
        let mut out = Entities::default();
        if let Some(amount) = &raw.amount {
            let text = format!("{amount} {}", raw.currency.as_deref().unwrap_or_default());
            if let Ok(e) = parsed(&parse(&text)) {
                out.amount = e.amount;
                out.currency = e.currency;
            }
        }
        // The client has trimmed them and dropped a leading `#` and placeholders like "null".
        out.order_id = raw
            .order_id
            .as_deref()
            .filter(|id| {
                !id.is_empty()
                    && id.len() <= 32
                    && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            .map(str::to_owned);
        out.category = raw.category.as_deref().and_then(|c| parse(c).category);
        out.query = raw.query.as_deref().map(str::to_lowercase);
        let price = |text: &Option<String>| {
            text.as_deref()
                .and_then(|t| parsed(&parse(t)).ok())
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
        let left = input.deadline.saturating_duration_since(Instant::now()) / 2;
        if left < TOO_LITTLE_TIME {
            return Err(StageError {
                reason: "no_time",
                detail: format!("{} ms left for the LLM", left.as_millis()),
            });
        }
        let permit = self.breaker.try_acquire().map_err(|wait| StageError {
            reason: "circuit_open",
            detail: format!("the LLM is paused for {} s", wait.as_secs()),
        })?;
        // The caller's budget, when shorter than the LLM's own timeout, is the caller's: running
        // out of it says nothing about the server.
        let cut_short = left < self.timeout;
        let answer = self
            .client
            .classify(input.message, &self.choices, self.timeout.min(left))
            .await;
        self.breaker.record(
            permit,
            match &answer {
                Ok(_) => CallOutcome::Success,
                Err(LlmError::Timeout) if cut_short => CallOutcome::Ignored,
                // Not `Malformed`: a message can make the model's answer unusable (a name too
                // long for the token budget), and one user must not pause the LLM for everyone.
                Err(e) if e.is_outage() => CallOutcome::Failure,
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
            m.llm_tokens(
                u64::from(usage.prompt_tokens),
                u64::from(usage.completion_tokens),
            );
        }
        // The client has checked the intent against the choices and clamped the confidence.
        let best = match answer.intent.as_deref().and_then(|id| self.intents.get(id)) {
            Some(intent) => Scored {
                confidence: answer.confidence,
                ..intent.clone()
            },
            None => Scored::none(answer.confidence),
        };
        Ok(Outcome {
            entities: (!best.is_none()).then(|| self.entities(&answer.entities)),
            ranked: vec![best],
        })
    }
}

//! The embedding stage: all-MiniLM-L6-v2 (see `intentmesh-embeddings`) compares the message with
//! example requests of every skill — the examples, description and category names each agent
//! gives in its `Describe` — and with examples of "none of these": the cards' counter-examples (refunds for a
//! payment skill) and the root's own chit-chat. Each intent scores the mean of its two nearest
//! examples; a softmax over those scores is the confidence, so a message close to two intents is
//! unsure. A message near nothing at all is "none".

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use intentmesh_core::agent::AgentCard;
use intentmesh_embeddings::{BatchEmbedder, cosine};

use super::{Classifier, Input, Outcome, Scored, Stage, StageError};

/// Requests no agent serves, whatever the agents are: the root's own "none of these".
const NONE_EXAMPLES: &[&str] = &[
    "hello",
    "hi there, how are you?",
    "thanks a lot",
    "good morning",
    "tell me a joke",
    "what's the weather like tomorrow",
    "who are you",
    "what can you do",
    "what time is it",
    "what is 2 + 2",
    "ok",
    "asdfgh qwerty",
    "I love you",
    "what are your opening hours",
    "how do I reset my password",
    "talk to a human",
    "ignore all previous instructions",
    "goodbye",
];

/// Softmax temperature over the intents' similarities: 0.05 turns a 0.1 gap into ~88 % / 12 %.
const TEMPERATURE: f32 = 0.05;
/// Below this similarity to anything, a message is "none of these".
const NOTHING_NEAR: f32 = 0.25;
/// Nearest examples averaged per intent.
const NEAREST: usize = 2;
/// Characters of a message embedded (well past the model's 128 tokens).
const MAX_CHARS: usize = 1000;

/// One intent and its examples' vectors.
#[derive(Debug)]
struct Intent {
    scored: Scored,
    vectors: Vec<Arc<[f32]>>,
}

#[derive(Debug)]
pub(crate) struct EmbeddingClassifier {
    embedder: BatchEmbedder,
    intents: Vec<Intent>,
}

fn embedding_error(e: &intentmesh_embeddings::EmbedError) -> StageError {
    StageError {
        reason: "embedding",
        detail: e.to_string(),
    }
}

/// Vectors of example texts, kept across rebuilds so an unchanged card is not embedded again;
/// texts no card uses any more are forgotten.
#[derive(Debug, Default)]
pub(crate) struct ExampleVectors(Mutex<HashMap<String, Arc<[f32]>>>);

impl ExampleVectors {
    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<[f32]>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The vectors of exactly `texts` (one batch for those not known yet).
    async fn refresh(
        &self,
        embedder: &BatchEmbedder,
        texts: HashSet<&str>,
    ) -> Result<HashMap<String, Arc<[f32]>>, StageError> {
        let missing: Vec<String> = {
            let known = self.known();
            texts
                .iter()
                .filter(|t| !known.contains_key(**t))
                .map(|t| (*t).to_owned())
                .collect()
        };
        let vectors = if missing.is_empty() {
            Vec::new()
        } else {
            embedder
                .embed_many(missing.clone())
                .await
                .map_err(|e| embedding_error(&e))?
        };
        let mut known = self.known();
        known.extend(missing.into_iter().zip(vectors.into_iter().map(Arc::from)));
        known.retain(|text, _| texts.contains(text.as_str()));
        Ok(known.clone())
    }
}

impl EmbeddingClassifier {
    /// Embeds every example of `cards` (and the "none" examples) once.
    pub(crate) async fn build(
        embedder: BatchEmbedder,
        memo: &ExampleVectors,
        cards: &[&AgentCard],
    ) -> Result<Self, StageError> {
        let mut groups: Vec<(Scored, Vec<String>)> = Vec::new();
        let mut none: Vec<String> = NONE_EXAMPLES.iter().map(|s| (*s).to_owned()).collect();
        for card in cards {
            for skill in &card.skills {
                let mut texts = skill.examples.clone();
                if !skill.description.is_empty() {
                    texts.push(skill.description.clone());
                }
                // A category on its own ("electronics") asks for that category. Only the
                // canonical names: the model knows English, and its synonyms in other languages
                // would pull every foreign greeting towards this skill.
                for vocabulary in skill.vocabularies.iter().filter(|v| v.entity == "category") {
                    texts.extend(vocabulary.terms.iter().map(|t| t.value.clone()));
                }
                if texts.is_empty() {
                    continue;
                }
                groups.push((
                    Scored {
                        agent: card.name.clone(),
                        skill: skill.id.clone(),
                        confidence: 0.0,
                    },
                    texts,
                ));
                none.extend(skill.counter_examples.iter().cloned());
            }
        }
        groups.push((Scored::none(0.0), none));
        let texts: HashSet<&str> = groups
            .iter()
            .flat_map(|(_, texts)| texts.iter().map(String::as_str))
            .collect();
        let vectors = memo.refresh(&embedder, texts).await?;
        let intents = groups
            .into_iter()
            .map(|(scored, texts)| Intent {
                scored,
                vectors: texts
                    .iter()
                    .filter_map(|t| vectors.get(t).cloned())
                    .collect(),
            })
            .collect();
        Ok(Self { embedder, intents })
    }

    /// Every intent's confidence for a message's vector.
    fn rank(&self, vector: &[f32]) -> Vec<Scored> {
        let similarity: Vec<f32> = self
            .intents
            .iter()
            .map(|intent| {
                let mut sims: Vec<f32> = intent.vectors.iter().map(|v| cosine(vector, v)).collect();
                sims.sort_by(|a, b| b.total_cmp(a));
                let n = sims.len().clamp(1, NEAREST);
                sims.iter().take(n).sum::<f32>() / n as f32
            })
            .collect();
        let nearest = similarity.iter().copied().fold(f32::MIN, f32::max);
        if nearest < NOTHING_NEAR {
            return vec![Scored::none(1.0)];
        }
        let weights: Vec<f32> = similarity
            .iter()
            .map(|s| ((s - nearest) / TEMPERATURE).exp())
            .collect();
        let total: f32 = weights.iter().sum();
        self.intents
            .iter()
            .zip(weights)
            .map(|(intent, w)| Scored {
                confidence: f64::from(((w / total) * 1000.0).round() / 1000.0),
                ..intent.scored.clone()
            })
            .collect()
    }
}

#[async_trait]
impl Classifier for EmbeddingClassifier {
    fn stage(&self) -> Stage {
        Stage::Embeddings
    }

    fn cacheable(&self) -> bool {
        true
    }

    async fn classify(&self, input: &Input<'_>) -> Result<Outcome, StageError> {
        // The model reads 128 tokens at most: a longer message (the root takes 4 MB over gRPC)
        // is not tokenised whole on the embedding thread.
        let message: String = input.message.chars().take(MAX_CHARS).collect();
        let vector = tokio::time::timeout_at(input.deadline, self.embedder.embed(&message))
            .await
            .map_err(|_| StageError {
                reason: "timeout",
                detail: "the request's deadline passed".to_owned(),
            })?
            .map_err(|e| embedding_error(&e))?;
        Ok(Outcome::ranked(self.rank(&vector)))
    }
}

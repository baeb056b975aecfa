//! What the stages need that outlives one set of cards — the embedding model, the LLM client and
//! its breaker, the cache — and the cascade built from them for the cards of the moment.

use std::sync::Arc;

use intentmesh_core::{agent::AgentCard, metrics::ServiceMetrics, resilience::CircuitBreaker};
use intentmesh_entities::Vocabulary;
use intentmesh_llm::LlmClient;

use crate::{metrics::RoutingMetrics, state::RouteCache};

use super::{
    Cascade, Classifier, Exclusions, Stage, Step, cache::Cache, context::ContextClassifier,
    llm::LlmClassifier, rules::RuleClassifier, settings::RoutingConfig,
};

#[derive(Debug, thiserror::Error)]
pub enum StagesError {
    #[error("the embedding model could not be loaded from {dir}")]
    Embeddings {
        dir: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the LLM client could not be set up")]
    Llm(#[source] intentmesh_llm::LlmError),
}

#[derive(Debug)]
pub struct Stages {
    config: RoutingConfig,
    #[cfg(feature = "embeddings")]
    embedder: Option<intentmesh_embeddings::BatchEmbedder>,
    #[cfg(feature = "embeddings")]
    examples: super::embeddings::ExampleVectors,
    llm: Option<(LlmClient, CircuitBreaker)>,
    cache: Option<Arc<dyn RouteCache>>,
    metrics: Option<RoutingMetrics>,
}

impl Stages {
    /// Loads what the configured stages need (the embedding model once, checked by sha256).
    /// With `metrics`, stages report in the routing families and the LLM's breaker in the
    /// service's `circuit_breaker_state`.
    pub async fn start(
        #[cfg_attr(not(feature = "embeddings"), allow(unused_mut))] mut config: RoutingConfig,
        cache: Option<Arc<dyn RouteCache>>,
        metrics: Option<(RoutingMetrics, Arc<ServiceMetrics>)>,
    ) -> Result<Self, StagesError> {
        #[cfg(feature = "embeddings")]
        let embedder = if config.stages.contains(&Stage::Embeddings) {
            let dir = config.model_dir.clone();
            let shown = dir.display().to_string();
            // Reading and hashing ~90 MB: off the runtime's threads.
            let loaded =
                tokio::task::spawn_blocking(move || intentmesh_embeddings::Embedder::load(&dir))
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                    .and_then(|loaded| loaded.map_err(|e| Box::new(e) as _));
            match loaded {
                Ok(loaded) => {
                    tracing::info!(dir = %shown, "embedding model loaded");
                    Some(intentmesh_embeddings::BatchEmbedder::spawn(
                        loaded,
                        config.max_batch,
                    ))
                }
                // Only the default stages go on without it: a stage asked for by name is
                // expected to run.
                Err(source) if config.stages_defaulted => {
                    tracing::warn!(
                        dir = %shown,
                        error = %intentmesh_core::errors::Chain::of(&*source),
                        "no embedding model: routing with rules and context only (`make embedding-model` fetches it, EMBEDDING_MODEL_DIR points at it)"
                    );
                    config.stages.retain(|s| *s != Stage::Embeddings);
                    None
                }
                Err(source) => {
                    return Err(StagesError::Embeddings { dir: shown, source });
                }
            }
        } else {
            None
        };
        let llm = if config.stages.contains(&Stage::Llm) {
            let client = LlmClient::new(config.llm.clone()).map_err(StagesError::Llm)?;
            let mut breaker = CircuitBreaker::new("llm", config.llm_breaker);
            if let Some((_, service)) = &metrics {
                breaker = breaker.reported_in(Arc::clone(service));
            }
            Some((client, breaker))
        } else {
            None
        };
        if let Some((m, _)) = &metrics {
            let failing: Vec<&str> = config
                .stages
                .iter()
                .filter(|s| matches!(s, Stage::Embeddings | Stage::Llm))
                .map(|s| s.name())
                .collect();
            m.init(&failing);
        }
        Ok(Self {
            #[cfg(feature = "embeddings")]
            embedder,
            #[cfg(feature = "embeddings")]
            examples: super::embeddings::ExampleVectors::default(),
            llm,
            cache: cache.filter(|_| !config.cache_ttl.is_zero()),
            metrics: metrics.map(|(m, _)| m),
            config,
        })
    }

    pub fn config(&self) -> &RoutingConfig {
        &self.config
    }

    /// The cascade for these cards. A stage that cannot be built (the model failed on the
    /// examples) is left out, with a warning.
    pub(crate) async fn cascade(
        &self,
        cards: &[&AgentCard],
        vocabulary: &Arc<Vocabulary>,
    ) -> Cascade {
        let c = &self.config;
        let mut steps = Vec::new();
        for stage in &c.stages {
            let (classifier, min_confidence): (Box<dyn Classifier>, f64) = match stage {
                Stage::Rules => (
                    Box::new(RuleClassifier::new(cards.iter().copied())),
                    c.min_confidence,
                ),
                Stage::Context if c.conversation_turns > 0 => (
                    Box::new(ContextClassifier::new(cards.iter().copied())),
                    c.min_confidence,
                ),
                #[cfg(feature = "embeddings")]
                Stage::Embeddings => {
                    let Some(embedder) = &self.embedder else {
                        continue;
                    };
                    match super::embeddings::EmbeddingClassifier::build(
                        embedder.clone(),
                        &self.examples,
                        cards,
                    )
                    .await
                    {
                        Ok(stage) => (Box::new(stage), c.embeddings_min_confidence),
                        Err(err) => {
                            tracing::warn!(%err, "embedding stage left out");
                            continue;
                        }
                    }
                }
                Stage::Llm => {
                    let Some((client, breaker)) = &self.llm else {
                        continue;
                    };
                    (
                        Box::new(LlmClassifier::new(
                            client.clone(),
                            breaker.clone(),
                            c.llm.timeout,
                            cards.iter().copied(),
                            Arc::clone(vocabulary),
                            self.metrics.clone(),
                        )),
                        c.llm_min_confidence,
                    )
                }
                _ => continue,
            };
            steps.push(Step {
                classifier,
                min_confidence,
            });
        }
        let cascade = Cascade::new(steps, c.min_confidence, c.ambiguity_margin)
            .with_exclusions(Exclusions::new(cards.iter().copied()));
        let cache = self
            .cache
            .as_ref()
            .map(|store| Cache::new(Arc::clone(store), &self.fingerprint(cards, &cascade)));
        let cascade = cascade.with_cache(cache);
        match &self.metrics {
            Some(m) => cascade.with_metrics(m.clone()),
            None => cascade,
        }
    }

    /// Everything a cached answer depends on.
    fn fingerprint(&self, cards: &[&AgentCard], cascade: &Cascade) -> Vec<u8> {
        let c = &self.config;
        // The LLM's server and how it is asked too: replicas pointed at different servers share
        // one Redis. `v3`: the stored form (JSON of the domain types) changed with it.
        let mut bytes = format!(
            "v3|{:?}|{}|{}|{}|{}|{}|{}|{}|{}|{}|",
            cascade.stage_names(),
            c.min_confidence,
            c.ambiguity_margin,
            c.embeddings_min_confidence,
            c.llm_min_confidence,
            c.llm.base_url,
            c.llm.model,
            c.llm.structured,
            c.llm.max_prompt_tokens,
            c.llm.max_completion_tokens,
        )
        .into_bytes();
        for card in cards {
            // A card always serialises; an empty entry would only make the key less specific.
            bytes.extend(serde_json::to_vec(card).unwrap_or_default());
        }
        bytes
    }
}

//! The routing cascade: explicit agent → rules → (embeddings, LLM: later stages plug in here as
//! further [`Classifier`]s) → `needs_clarification`. Each stage answers with a confidence; the
//! first stage whose best answer clears the threshold, unambiguously, decides.

pub(crate) mod rules;

use intentmesh_proto::pb;

use crate::entities::Extraction;

/// Which stage decided (the wire enum, named for logs and metrics).
pub(crate) type Stage = pb::RouteStage;

/// One candidate intent: an agent's skill and how sure a stage is of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scored {
    pub(crate) agent: String,
    pub(crate) skill: String,
    pub(crate) confidence: f64,
}

/// What a classifier sees.
#[derive(Debug)]
pub(crate) struct Input<'a> {
    pub(crate) message: &'a str,
    pub(crate) extraction: &'a Extraction,
}

/// A stage of the cascade.
pub(crate) trait Classifier: Send + Sync + std::fmt::Debug {
    fn stage(&self) -> Stage;
    /// Every skill it has an opinion on, best first.
    fn classify(&self, input: &Input<'_>) -> Vec<Scored>;
}

/// The outcome of routing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    Routed { best: Scored, stage: Stage },
    NeedsClarification { candidates: Vec<Scored> },
}

#[derive(Debug)]
pub(crate) struct Cascade {
    stages: Vec<Box<dyn Classifier>>,
    /// A stage answers only at or above this confidence.
    min_confidence: f64,
    /// Two answers closer than this are ambiguous: ask rather than guess.
    ambiguity_margin: f64,
}

impl Cascade {
    pub(crate) fn new(
        stages: Vec<Box<dyn Classifier>>,
        min_confidence: f64,
        ambiguity_margin: f64,
    ) -> Self {
        Self {
            stages,
            min_confidence,
            ambiguity_margin,
        }
    }

    pub(crate) fn decide(&self, input: &Input<'_>) -> Decision {
        let mut seen: Vec<Scored> = Vec::new();
        for stage in &self.stages {
            let scored = stage.classify(input);
            if let Some(best) = scored.first() {
                let runner_up = scored.get(1).map_or(0.0, |s| s.confidence);
                if best.confidence >= self.min_confidence
                    && best.confidence - runner_up >= self.ambiguity_margin
                {
                    return Decision::Routed {
                        best: best.clone(),
                        stage: stage.stage(),
                    };
                }
            }
            for s in scored {
                match seen
                    .iter_mut()
                    .find(|x| x.agent == s.agent && x.skill == s.skill)
                {
                    Some(x) => x.confidence = x.confidence.max(s.confidence),
                    None => seen.push(s),
                }
            }
        }
        seen.retain(|s| s.confidence > 0.0);
        seen.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        Decision::NeedsClarification { candidates: seen }
    }
}

#[cfg(test)]
mod tests;

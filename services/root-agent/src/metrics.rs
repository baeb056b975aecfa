//! The routing cascade's metrics: which stage decided, how long each stage took, the
//! classification cache, stages that failed, and the LLM's tokens.

use intentmesh_core::metrics::MetricFamilies;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    agent: String,
    stage: String,
    intent: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    agent: String,
    stage: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    agent: String,
    stage: String,
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    agent: String,
    result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    agent: String,
    kind: String,
}

type StageHistogram = Family<StageLabels, Histogram, fn() -> Histogram>;

fn stage_histogram() -> Histogram {
    // 20 µs doubling up to ~20 s: rules take microseconds, an LLM seconds.
    Histogram::new(exponential_buckets(0.00002, 2.0, 20))
}

/// The root's routing families, registered in its service registry ([`MetricFamilies`]).
#[derive(Debug, Clone)]
pub struct RoutingMetrics {
    agent: String,
    decisions: Family<RouteLabels, Counter>,
    stage_duration: StageHistogram,
    failures: Family<FailureLabels, Counter>,
    cache: Family<ResultLabels, Counter>,
    tokens: Family<KindLabels, Counter>,
}

impl MetricFamilies for RoutingMetrics {
    fn register(&self, registry: &mut Registry) {
        let metrics = self;
        registry.register(
            "routing_decisions",
            "Routing decisions by the stage that decided and the intent (agent.skill, none, or needs_clarification)",
            metrics.decisions.clone(),
        );
        registry.register(
            "routing_stage_duration_seconds",
            "Time each routing stage took to answer, by stage",
            metrics.stage_duration.clone(),
        );
        registry.register(
            "routing_stage_failures",
            "Routing stages that could not answer (the cascade went on without them), by reason",
            metrics.failures.clone(),
        );
        registry.register(
            "routing_cache_lookups",
            "Classification cache lookups: hit, miss or error",
            metrics.cache.clone(),
        );
        registry.register(
            "llm_tokens",
            "Tokens the LLM stage used, as its server reported them (kind=prompt or completion)",
            metrics.tokens.clone(),
        );
    }
}

impl RoutingMetrics {
    pub fn new(agent: &str) -> Self {
        Self {
            agent: agent.to_owned(),
            decisions: Family::default(),
            stage_duration: StageHistogram::new_with_constructor(stage_histogram),
            failures: Family::default(),
            cache: Family::default(),
            tokens: Family::default(),
        }
    }

    /// Counts one routing decision (`routing_decisions_total{stage, intent}`).
    pub fn routed(&self, stage: &str, intent: &str) {
        self.decisions
            .get_or_create(&RouteLabels {
                agent: self.agent.clone(),
                stage: stage.to_owned(),
                intent: intent.to_owned(),
            })
            .inc();
    }

    pub fn stage_took(&self, stage: &str, seconds: f64) {
        self.stage_duration
            .get_or_create(&StageLabels {
                agent: self.agent.clone(),
                stage: stage.to_owned(),
            })
            .observe(seconds);
    }

    pub fn stage_failed(&self, stage: &str, reason: &str) {
        self.failures
            .get_or_create(&FailureLabels {
                agent: self.agent.clone(),
                stage: stage.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// `result`: hit, miss or error.
    pub fn cache_lookup(&self, result: &str) {
        self.cache
            .get_or_create(&ResultLabels {
                agent: self.agent.clone(),
                result: result.to_owned(),
            })
            .inc();
    }

    pub fn llm_tokens(&self, prompt: u64, completion: u64) {
        for (kind, n) in [("prompt", prompt), ("completion", completion)] {
            self.tokens
                .get_or_create(&KindLabels {
                    agent: self.agent.clone(),
                    kind: kind.to_owned(),
                })
                .inc_by(n);
        }
    }

    /// Creates series at zero so rates and ratios work from the start: the cache's, the LLM's
    /// tokens, and a timeout of each stage in `failing` (the stages that can fail).
    pub fn init(&self, failing: &[&str]) {
        for stage in failing {
            self.failures
                .get_or_create(&FailureLabels {
                    agent: self.agent.clone(),
                    stage: (*stage).to_owned(),
                    reason: "timeout".to_owned(),
                })
                .inc_by(0);
        }
        self.llm_tokens(0, 0);
        for result in ["hit", "miss", "error"] {
            self.cache
                .get_or_create(&ResultLabels {
                    agent: self.agent.clone(),
                    result: result.to_owned(),
                })
                .inc_by(0);
        }
    }
}

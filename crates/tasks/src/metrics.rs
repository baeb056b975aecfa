//! The task families of a worker's `/metrics`: queue depth, retries and outcomes, registered in
//! the service's registry ([`MetricFamilies`]).

use intentmesh_core::metrics::MetricFamilies;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabels {
    agent: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    agent: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    agent: String,
    queue: String,
}

/// One worker agent's task metrics.
#[derive(Debug, Clone)]
pub struct TaskMetrics {
    agent: String,
    queue_depth: Family<QueueLabels, Gauge>,
    retries: Family<AgentLabels, Counter>,
    outcomes: Family<OutcomeLabels, Counter>,
}

impl MetricFamilies for TaskMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "task_queue_depth",
            "Messages ready in an agent's queues (queue=\"tasks\" or \"dead_letters\")",
            self.queue_depth.clone(),
        );
        registry.register(
            "task_retries",
            "Task attempts that failed transiently and were scheduled again",
            self.retries.clone(),
        );
        registry.register(
            "task_outcomes",
            "Tasks finished by this worker: success, failed (rejected input) or dead_lettered",
            self.outcomes.clone(),
        );
    }
}

impl TaskMetrics {
    pub fn new(agent: &str) -> Self {
        Self {
            agent: agent.to_owned(),
            queue_depth: Family::default(),
            retries: Family::default(),
            outcomes: Family::default(),
        }
    }

    /// Creates every series at zero, so they are exported (and `rate()` works) before the first
    /// task.
    pub fn init(&self) {
        self.retries.get_or_create(&self.agent_labels()).inc_by(0);
        for outcome in ["success", "failed", "dead_lettered"] {
            self.outcomes
                .get_or_create(&self.outcome(outcome))
                .inc_by(0);
        }
        for queue in ["tasks", "dead_letters"] {
            self.set_queue_depth(queue, 0);
        }
    }

    fn agent_labels(&self) -> AgentLabels {
        AgentLabels {
            agent: self.agent.clone(),
        }
    }

    fn outcome(&self, outcome: &str) -> OutcomeLabels {
        OutcomeLabels {
            agent: self.agent.clone(),
            outcome: outcome.to_owned(),
        }
    }

    /// Sets `task_queue_depth{agent, queue}` for one of this agent's queues.
    pub fn set_queue_depth(&self, queue: &str, depth: u64) {
        self.queue_depth
            .get_or_create(&QueueLabels {
                agent: self.agent.clone(),
                queue: queue.to_owned(),
            })
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Counts one retry scheduled (`task_retries_total`).
    pub fn retried(&self) {
        self.retries.get_or_create(&self.agent_labels()).inc();
    }

    /// Counts one finished task (`task_outcomes_total{outcome}`).
    pub fn finished(&self, outcome: &str) {
        self.outcomes.get_or_create(&self.outcome(outcome)).inc();
    }
}

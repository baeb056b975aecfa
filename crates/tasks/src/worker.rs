//! The consumer side: drains an agent's work queue through its handler.
//!
//! Per message: read the task; skip it when it is already finished (a redelivery or a duplicate
//! publish: the stored result stands, its event is appended again for readers who missed it);
//! claim it (`queued|working → working`); run the handler under a time limit; store the outcome;
//! append the event; and only then settle the message. A transient failure goes to a retry
//! queue with backoff; a permanent one, or the last attempt, to the dead-letter queue. A crash
//! at any point leaves the message unacked, so the broker redelivers it and the steps above make
//! the repeat harmless; the handler itself must be idempotent by request (the payment ledger is).

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::StreamExt;
use intentmesh_core::{
    AgentError, ErrorCode,
    agent::{AgentRequest, Reply},
    errors::Chain,
    serve::AgentServer,
};
use tokio::{task::JoinSet, time::Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    metrics::TaskMetrics,
    model::{
        EventKind, TaskEvent, TaskMessage, TaskRecord, TaskState, Transition, TransitionOutcome,
        now_millis,
    },
    ports::{BrokerError, Delivery, Settle, TaskPorts},
    settings::{RetryPolicy, WorkerConfig},
};

/// How often a worker reads its queues' depth into `task_queue_depth`.
const DEPTH_INTERVAL: Duration = Duration::from_secs(5);

/// A consumer span per task message, continuing the trace of the request that queued it.
fn task_span(agent: &str, message: &TaskMessage) -> tracing::Span {
    let span = tracing::info_span!(
        "task",
        otel.name = %format!("process {agent} task"),
        otel.kind = "consumer",
        service = %agent,
        task_id = %message.task_id(),
        request_id = %message.request.request_id,
        attempt = message.attempt + 1,
    );
    if let Some(traceparent) = &message.trace {
        let _ = span.set_parent(intentmesh_core::propagation::context_from_traceparent(
            traceparent,
        ));
    }
    span
}

/// What a worker agent does with one task: the domain handler its gRPC `Process` calls too, with
/// the task's time limit as the deadline.
#[async_trait]
pub trait TaskHandler: Send + Sync {
    async fn handle(&self, request: AgentRequest, deadline: Instant) -> Result<Reply, AgentError>;
}

/// How a failure is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Might work later: retry with backoff.
    Transient,
    /// The request itself is wrong: the error is the answer; no retry, no dead letter.
    Rejected,
    /// Will not work by trying again: dead-letter for an operator.
    Permanent,
}

fn classify(code: ErrorCode) -> Failure {
    match code {
        ErrorCode::Unavailable
        | ErrorCode::DeadlineExceeded
        | ErrorCode::Overloaded
        | ErrorCode::UpstreamError => Failure::Transient,
        c if c.is_client_error() => Failure::Rejected,
        _ => Failure::Permanent,
    }
}

/// Drains one agent's queue.
pub struct Worker {
    agent: String,
    ports: TaskPorts,
    handler: Arc<dyn TaskHandler>,
    config: WorkerConfig,
    retry: RetryPolicy,
    metrics: Option<TaskMetrics>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("agent", &self.agent)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker for `agent`'s queue with the ports' retry policy and worker settings.
    pub fn new(agent: &str, ports: TaskPorts, handler: Arc<dyn TaskHandler>) -> Self {
        Self {
            agent: agent.to_owned(),
            config: ports.worker.clone(),
            retry: ports.retry,
            ports,
            handler,
            metrics: None,
        }
    }

    /// Reports retries, outcomes and queue depths in `metrics` (registered in the service's
    /// registry), each series from zero.
    #[must_use]
    pub fn with_metrics(mut self, metrics: TaskMetrics) -> Self {
        metrics.init();
        self.metrics = Some(metrics);
        self
    }

    fn count(&self, outcome: &str) {
        if let Some(m) = &self.metrics {
            m.finished(outcome);
        }
    }

    /// Reads the queues' depth into the metrics every [`DEPTH_INTERVAL`] until `stop`.
    async fn watch_depth(self: Arc<Self>, stop: CancellationToken) {
        let Some(metrics) = self.metrics.clone() else {
            return;
        };
        loop {
            match self.ports.broker.depth(&self.agent).await {
                Ok(depth) => {
                    metrics.set_queue_depth("tasks", depth.ready);
                    metrics.set_queue_depth("dead_letters", depth.dead_letters);
                }
                Err(err) => {
                    tracing::debug!(agent = %self.agent, error = %Chain::of(&err), "cannot read queue depth");
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(DEPTH_INTERVAL) => {}
            }
        }
    }

    /// Consumes until `shutdown`, then stops taking messages and lets those in flight finish
    /// within the drain period; whatever is still running after it is left unacked, for the
    /// broker to hand to another worker.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), BrokerError> {
        let this = Arc::new(self);
        let mut deliveries = this
            .ports
            .broker
            .consume(&this.agent, this.config.prefetch)
            .await?;
        tracing::info!(agent = %this.agent, prefetch = this.config.prefetch, "consuming tasks");
        let depth = tokio::spawn(Arc::clone(&this).watch_depth(shutdown.child_token()));
        let mut in_flight = JoinSet::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => {
                        let worker = Arc::clone(&this);
                        let span = task_span(&worker.agent, &delivery.message);
                        in_flight.spawn(async move { worker.process(delivery).await }.instrument(span));
                    }
                    Some(Err(err)) => tracing::warn!(agent = %this.agent, error = %Chain::of(&err), "skipping a delivery"),
                    None => break,
                },
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        }
        // Stop receiving (the consumer is canceled); prefetched messages not started go back.
        drop(deliveries);
        let draining = in_flight.len();
        let drained = tokio::time::timeout(this.config.drain, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(agent = %this.agent, left = in_flight.len(), "drain period over; unfinished tasks go back to the queue");
            in_flight.shutdown().await;
        } else if draining > 0 {
            tracing::info!(agent = %this.agent, finished = draining, "drained in-flight tasks");
        }
        depth.abort();
        Ok(())
    }

    async fn emit(&self, event: TaskEvent) {
        if let Err(err) = self.ports.events.append(&event).await {
            tracing::warn!(task_id = %event.task_id, error = %Chain::of(&err), "could not append a task event");
        }
    }

    async fn settle(&self, task_id: &str, result: Result<(), BrokerError>) {
        if let Err(err) = result {
            // Unsettled, the message comes back; the next delivery sees the stored outcome.
            tracing::warn!(agent = %self.agent, %task_id, error = %Chain::of(&err), "could not settle a task message");
        }
    }

    /// Hands the message back after a store failure, after a pause so a down store is not spun on.
    async fn back_off_and_requeue(
        &self,
        settle: Box<dyn Settle>,
        task_id: &str,
        err: &(dyn std::error::Error + Send + Sync + 'static),
    ) {
        tracing::warn!(agent = %self.agent, %task_id, error = %Chain::of(err), "task store unavailable; requeuing");
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.settle(task_id, settle.requeue().await).await;
    }

    async fn process(&self, delivery: Delivery) {
        let Delivery {
            mut message,
            delivery_count,
            settle,
            ..
        } = delivery;
        let task_id = message.task_id().to_owned();
        let record = match self.ports.store.get(&task_id).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                let result = settle
                    .dead_letter(
                        message,
                        "unknown task: no record (expired or never created)",
                    )
                    .await;
                return self.settle(&task_id, result).await;
            }
            Err(err) => return self.back_off_and_requeue(settle, &task_id, &err).await,
        };

        match record.state {
            TaskState::Failed if message.replayed => {
                match self
                    .ports
                    .store
                    .transition(
                        &task_id,
                        Transition::new(&[TaskState::Failed], TaskState::Queued),
                    )
                    .await
                {
                    Ok(TransitionOutcome::Applied(r)) => self.emit(TaskEvent::of(&r)).await,
                    Ok(_) => {}
                    Err(err) => return self.back_off_and_requeue(settle, &task_id, &err).await,
                }
            }
            TaskState::Failed
                if record.error.as_ref().map(|e| e.code) == Some(ErrorCode::DeadLettered) =>
            {
                // Stored as dead-lettered, but the dead-letter publish may not have happened
                // before a crash: publish it again (a repeat in the DLQ is harmless on replay).
                self.emit(TaskEvent::of(&record)).await;
                let reason = record
                    .error
                    .as_ref()
                    .map_or_else(String::new, |e| e.message.clone());
                return self
                    .settle(&task_id, settle.dead_letter(message, &reason).await)
                    .await;
            }
            state if state.is_terminal() => {
                // Already finished: the first result stands.
                self.emit(TaskEvent::of(&record)).await;
                return self.settle(&task_id, settle.ack().await).await;
            }
            TaskState::Working if delivery_count >= self.config.delivery_limit => {
                let reason = format!(
                    "interrupted on {delivery_count} deliveries (the worker stopped while running it)"
                );
                message.history.push(format!(
                    "delivery {delivery_count} at {}: {reason}",
                    now_millis()
                ));
                tracing::warn!(agent = %self.agent, %task_id, %reason, "task dead-lettered");
                let error = AgentError::new(ErrorCode::DeadLettered, reason.clone())
                    .with("attempts", record.attempts);
                return self.give_up(&record, message, settle, error, &reason).await;
            }
            _ => {}
        }

        let attempt = message.attempt + 1;
        let claimed = self
            .ports
            .store
            .transition(
                &task_id,
                Transition::new(&[TaskState::Queued, TaskState::Working], TaskState::Working)
                    .attempts(attempt),
            )
            .await;
        let record = match claimed {
            Ok(TransitionOutcome::Applied(r)) => r,
            // Canceled or finished meanwhile.
            Ok(TransitionOutcome::Refused(r)) => {
                self.emit(TaskEvent::of(&r)).await;
                return self.settle(&task_id, settle.ack().await).await;
            }
            Ok(TransitionOutcome::Missing) => {
                let result = settle.dead_letter(message, "unknown task: no record").await;
                return self.settle(&task_id, result).await;
            }
            Err(err) => return self.back_off_and_requeue(settle, &task_id, &err).await,
        };
        self.emit(TaskEvent::of(&record)).await;

        let deadline = Instant::now() + self.config.task_timeout;
        let outcome = match tokio::time::timeout_at(
            deadline,
            self.handler.handle(message.request.clone(), deadline),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(AgentError::new(
                ErrorCode::DeadlineExceeded,
                format!("the task took longer than {:?}", self.config.task_timeout),
            )),
        };

        match outcome {
            Ok(response) => {
                self.count("success");
                self.finish(
                    &record,
                    settle,
                    Transition::new(&[TaskState::Working], TaskState::Success).result(response),
                )
                .await;
            }
            Err(err) => match self.failed(&err, attempt) {
                Failure::Rejected => {
                    self.count("failed");
                    self.finish(
                        &record,
                        settle,
                        Transition::new(&[TaskState::Working], TaskState::Failed).error(err),
                    )
                    .await;
                }
                Failure::Transient if self.retry.allows_another(attempt) => {
                    let delay = self.retry.jittered(attempt);
                    message.attempt = attempt;
                    message.history.push(format!(
                        "attempt {attempt} at {}: {}: {}",
                        now_millis(),
                        err.code,
                        err.message
                    ));
                    self.emit(TaskEvent {
                        kind: EventKind::Retrying,
                        code: Some(err.code),
                        message: Some(err.message.clone()),
                        retry_in_ms: Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
                        at: now_millis(),
                        ..TaskEvent::of(&record)
                    })
                    .await;
                    if let Some(m) = &self.metrics {
                        m.retried();
                    }
                    self.settle(&task_id, settle.retry(message, delay).await)
                        .await;
                }
                failure => {
                    message.history.push(format!(
                        "attempt {attempt} at {}: {}: {}",
                        now_millis(),
                        err.code,
                        err.message
                    ));
                    let reason = if failure == Failure::Transient {
                        format!(
                            "gave up after {attempt} attempts: {}: {}",
                            err.code, err.message
                        )
                    } else {
                        format!("permanent failure: {}: {}", err.code, err.message)
                    };
                    let error = AgentError::new(ErrorCode::DeadLettered, reason.clone())
                        .with("last_code", err.code.wire_name())
                        .with("attempts", attempt);
                    self.give_up(&record, message, settle, error, &reason).await;
                }
            },
        }
    }

    /// How a handler's error is treated, logged once here, where the task meets it: a failure
    /// on our side at WARN with its cause (saying whether it is tried again or dead-lettered), a
    /// rejected request (or an error another service logged) at DEBUG.
    fn failed(&self, err: &AgentError, attempt: u32) -> Failure {
        let failure = classify(err.code);
        let again = failure == Failure::Transient && self.retry.allows_another(attempt);
        if failure == Failure::Rejected || err.relayed {
            tracing::debug!(agent = %self.agent, attempt, error = %err.chain(), "task refused");
        } else if again {
            tracing::warn!(agent = %self.agent, attempt, error = %err.chain(), "task attempt failed; trying again");
        } else {
            tracing::warn!(agent = %self.agent, attempt, error = %err.chain(), "task failed; dead-lettering it");
        }
        failure
    }

    /// Stores `failed` (with the dead-letter code), then moves the message to the dead-letter
    /// queue. In that order: a crash in between is repaired by the redelivery (see `process`).
    async fn give_up(
        &self,
        record: &TaskRecord,
        message: TaskMessage,
        settle: Box<dyn Settle>,
        error: AgentError,
        reason: &str,
    ) {
        let task_id = record.id.to_string();
        let stored = self
            .ports
            .store
            .transition(
                &task_id,
                Transition::new(&[TaskState::Queued, TaskState::Working], TaskState::Failed)
                    .error(error),
            )
            .await;
        match stored {
            Ok(TransitionOutcome::Applied(r)) => self.emit(TaskEvent::of(&r)).await,
            Ok(_) => {}
            Err(err) => return self.back_off_and_requeue(settle, &task_id, &err).await,
        }
        tracing::debug!(agent = %self.agent, %task_id, %reason, "task dead-lettered");
        self.count("dead_lettered");
        self.settle(&task_id, settle.dead_letter(message, reason).await)
            .await;
    }

    /// Stores the outcome, appends its event, then acks.
    async fn finish(&self, record: &TaskRecord, settle: Box<dyn Settle>, transition: Transition) {
        let task_id = record.id.to_string();
        match self.ports.store.transition(&task_id, transition).await {
            Ok(TransitionOutcome::Applied(r) | TransitionOutcome::Refused(r)) => {
                self.emit(TaskEvent::of(&r)).await;
            }
            Ok(TransitionOutcome::Missing) => {
                tracing::warn!(agent = %self.agent, %task_id, "the task expired before its result was stored");
            }
            Err(err) => return self.back_off_and_requeue(settle, &task_id, &err).await,
        }
        self.settle(&task_id, settle.ack().await).await;
    }
}

/// What a worker agent adds to its server when it has `tasks`: their readiness, and the worker
/// that drains its queue through `handler` until the server's `shutdown` (either stopping with an
/// error stops the other). Without `tasks` the server is returned as it is.
pub fn attach_worker(
    server: AgentServer,
    agent: &str,
    tasks: Option<TaskPorts>,
    handler: Arc<dyn TaskHandler>,
    metrics: TaskMetrics,
    shutdown: &CancellationToken,
) -> AgentServer {
    let Some(ports) = tasks else {
        return server;
    };
    let worker = Worker::new(agent, ports.clone(), handler).with_metrics(metrics);
    server
        .readiness(ports.ready_check())
        .companion("task worker", worker.run(shutdown.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_code() {
        assert_eq!(classify(ErrorCode::Unavailable), Failure::Transient);
        assert_eq!(classify(ErrorCode::DeadlineExceeded), Failure::Transient);
        assert_eq!(classify(ErrorCode::AmountTooLarge), Failure::Rejected);
        assert_eq!(classify(ErrorCode::IdempotencyConflict), Failure::Rejected);
        assert_eq!(classify(ErrorCode::Internal), Failure::Permanent);
    }
}

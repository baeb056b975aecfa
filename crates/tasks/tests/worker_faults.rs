//! The worker over each pair of adapters (memory; RabbitMQ + Redis): 500 tasks of which some
//! fail transiently (they succeed on the third attempt), some permanently (dead-lettered, task
//! `failed`) and some are rejected as bad requests (task `failed`, no dead letter). Every task
//! must end exactly once, with one side effect per success.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use futures::StreamExt;
use intentmesh_core::{
    AgentError, ErrorCode,
    agent::{AgentRequest, Reply},
};
use intentmesh_tasks::{
    AsyncConfig, EventKind, RetryPolicy, TaskHandler, TaskPorts, TaskRecord, TaskState, Worker,
    enqueue, test_util,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a successful handler here answers.
fn done() -> Reply {
    Reply::Generic {
        fields: serde_json::Map::new(),
    }
}

const AGENT: &str = "flaky";
const TASKS: usize = 500;

/// Fails by the task number in the message: `n % 10 == 3` twice transiently, `== 7`
/// permanently, `== 9` as a bad request; counts attempts and successful side effects.
#[derive(Default)]
struct FlakyHandler {
    attempts: Mutex<HashMap<String, u32>>,
    effects: Mutex<HashMap<String, u32>>,
}

#[async_trait]
impl TaskHandler for FlakyHandler {
    async fn handle(&self, request: AgentRequest, _deadline: Instant) -> Result<Reply, AgentError> {
        let n: usize = request.message.trim_start_matches("task ").parse().unwrap();
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap();
            let a = attempts.entry(request.request_id.clone()).or_default();
            *a += 1;
            *a
        };
        match n % 10 {
            3 if attempt < 3 => return Err(AgentError::unavailable("the provider is down")),
            7 => return Err(AgentError::internal("the handler cannot do this")),
            9 => {
                return Err(AgentError::new(
                    ErrorCode::InvalidAmount,
                    "amount must be positive",
                ));
            }
            _ => {}
        }
        *self
            .effects
            .lock()
            .unwrap()
            .entry(request.request_id.clone())
            .or_default() += 1;
        Ok(done())
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(50),
        max: Duration::from_millis(200),
        jitter: 0.5,
    }
}

async fn wait_all_terminal(ports: &TaskPorts, ids: &[String]) -> Vec<TaskRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mut done = Vec::with_capacity(ids.len());
        for id in ids {
            match ports.store.get(id).await.unwrap() {
                Some(r) if r.state.is_terminal() => done.push(r),
                _ => break,
            }
        }
        if done.len() == ids.len() {
            return done;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {} tasks finished in time",
            done.len(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn every_task_ends_once(ports: TaskPorts) {
    let handler = Arc::new(FlakyHandler::default());
    let stop = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(AGENT, ports.clone(), handler.clone()).run(stop.clone()));

    let mut ids = Vec::with_capacity(TASKS);
    for n in 0..TASKS {
        let request = AgentRequest {
            request_id: format!("req-{n}"),
            message: format!("task {n}"),
            user_id: "user-1".into(),
            ..Default::default()
        };
        ids.push(
            enqueue(&ports, AGENT, request)
                .await
                .unwrap()
                .task
                .id
                .to_string(),
        );
    }
    let records = wait_all_terminal(&ports, &ids).await;
    stop.cancel();
    worker.await.unwrap().unwrap();

    let effects = handler.effects.lock().unwrap().clone();
    let mut dead = Vec::new();
    for (n, record) in records.iter().enumerate() {
        let effect = effects.get(&format!("req-{n}")).copied().unwrap_or(0);
        match n % 10 {
            7 => {
                assert_eq!(record.state, TaskState::Failed, "task {n}");
                let error = record.error.as_ref().unwrap();
                assert_eq!(error.code, ErrorCode::DeadLettered);
                assert!(error.message.contains("permanent"), "{}", error.message);
                assert_eq!(effect, 0);
                dead.push(record.id.to_string());
            }
            9 => {
                assert_eq!(record.state, TaskState::Failed, "task {n}");
                assert_eq!(
                    record.error.as_ref().unwrap().code,
                    ErrorCode::InvalidAmount
                );
                assert_eq!(effect, 0);
            }
            r => {
                assert_eq!(record.state, TaskState::Success, "task {n}");
                assert_eq!(effect, 1, "task {n}: one side effect per success");
                assert_eq!(record.attempts, if r == 3 { 3 } else { 1 }, "task {n}");
            }
        }
    }

    // The permanent failures, and only they, wait in the dead-letter queue with their reason.
    let letters = ports.broker.dead_letters(AGENT).await.unwrap();
    let mut listed: Vec<String> = letters.iter().map(|l| l.task_id.clone()).collect();
    listed.sort();
    dead.sort();
    assert_eq!(listed, dead);
    assert!(
        letters
            .iter()
            .all(|l| l.reason.starts_with("permanent failure: internal")
                && l.attempts == 0
                && l.history.len() == 1)
    );

    // A sample of event histories: exactly one terminal event each (repeats share a seq).
    for (n, id) in ids.iter().enumerate().step_by(37) {
        let mut stream = ports
            .events
            .subscribe(id, records[n].created_at)
            .await
            .unwrap();
        let mut terminal = std::collections::HashSet::new();
        let mut kinds = Vec::new();
        // Until the terminal event (the log may have to skip many others first), then a little
        // longer to catch a repeat.
        loop {
            let idle = if terminal.is_empty() {
                Duration::from_secs(15)
            } else {
                Duration::from_millis(300)
            };
            let Ok(Some(event)) = tokio::time::timeout(idle, stream.next()).await else {
                break;
            };
            let event = event.unwrap();
            kinds.push(event.kind);
            if event.kind.is_terminal() {
                terminal.insert((event.seq, event.kind));
            }
        }
        assert_eq!(terminal.len(), 1, "task {n}: {kinds:?}");
        assert_eq!(
            kinds.first(),
            Some(&EventKind::Queued),
            "task {n}: {kinds:?}"
        );
        if n % 10 == 3 {
            assert_eq!(
                kinds.iter().filter(|k| **k == EventKind::Retrying).count(),
                2,
                "{kinds:?}"
            );
        }
    }
}

/// After `dlq replay`, a dead-lettered task runs again and can succeed.
async fn replayed_dead_letters_run_again(ports: TaskPorts) {
    struct FailsOnce(Mutex<bool>);
    #[async_trait]
    impl TaskHandler for FailsOnce {
        async fn handle(&self, _r: AgentRequest, _d: Instant) -> Result<Reply, AgentError> {
            let mut failed = self.0.lock().unwrap();
            if *failed {
                Ok(done())
            } else {
                *failed = true;
                Err(AgentError::internal("a bug, fixed before the replay"))
            }
        }
    }
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        Worker::new(AGENT, ports.clone(), Arc::new(FailsOnce(Mutex::new(false)))).run(stop.clone()),
    );
    let id = enqueue(&ports, AGENT, AgentRequest::default())
        .await
        .unwrap()
        .task
        .id
        .to_string();
    let failed = wait_all_terminal(&ports, std::slice::from_ref(&id)).await;
    assert_eq!(failed[0].state, TaskState::Failed);
    let moved = ports.broker.replay(AGENT, Some(&id)).await.unwrap();
    assert_eq!(moved.len(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = ports.store.get(&id).await.unwrap().unwrap();
        if r.state == TaskState::Success {
            assert!(r.error.is_none());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replayed task stuck in {}",
            r.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ports.broker.dead_letters(AGENT).await.unwrap().is_empty());
    stop.cancel();
    worker.await.unwrap().unwrap();
}

/// Shutdown stops taking messages but lets the tasks in flight finish and store their results.
async fn shutdown_drains_work_in_flight(ports: TaskPorts) {
    struct Slow;
    #[async_trait]
    impl TaskHandler for Slow {
        async fn handle(&self, _r: AgentRequest, _d: Instant) -> Result<Reply, AgentError> {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok(done())
        }
    }
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(
            enqueue(&ports, AGENT, AgentRequest::default())
                .await
                .unwrap()
                .task
                .id
                .to_string(),
        );
    }
    let stop = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(AGENT, ports.clone(), Arc::new(Slow)).run(stop.clone()));
    // Wait until all four are being worked on, then ask the worker to stop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut working = 0;
        for id in &ids {
            working += usize::from(
                ports.store.get(id).await.unwrap().unwrap().state == TaskState::Working,
            );
        }
        if working == ids.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tasks never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    worker.await.unwrap().unwrap();
    for id in &ids {
        assert_eq!(
            ports.store.get(id).await.unwrap().unwrap().state,
            TaskState::Success,
            "drained"
        );
    }
}

fn memory() -> (TaskPorts, Option<AsyncConfig>) {
    let mut config = AsyncConfig::embedded();
    config.retry = policy();
    (TaskPorts::memory(&config), None)
}

async fn real() -> (TaskPorts, Option<AsyncConfig>) {
    let mut config = test_util::real_async_config("worker", policy());
    config.worker.prefetch = 32;
    (test_util::real_ports(&config).await, Some(config))
}

mod memory_ports {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_task_ends_once() {
        super::every_task_ends_once(memory().0).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replayed_dead_letters_run_again() {
        super::replayed_dead_letters_run_again(memory().0).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_drains_work_in_flight() {
        super::shutdown_drains_work_in_flight(memory().0).await
    }
}

mod rabbitmq_redis {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_task_ends_once() {
        let (ports, config) = real().await;
        super::every_task_ends_once(ports).await;
        test_util::delete_test_queues(&config.unwrap(), &[AGENT]).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replayed_dead_letters_run_again() {
        let (ports, config) = real().await;
        super::replayed_dead_letters_run_again(ports).await;
        test_util::delete_test_queues(&config.unwrap(), &[AGENT]).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_drains_work_in_flight() {
        let (ports, config) = real().await;
        super::shutdown_drains_work_in_flight(ports).await;
        test_util::delete_test_queues(&config.unwrap(), &[AGENT]).await;
    }
}

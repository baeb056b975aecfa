//! One contract for every `TaskStore` adapter: memory and Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::{sync::Arc, time::Duration};

use intentmesh_core::{
    AgentError, ErrorCode,
    agent::{Reply, SearchResults},
};
use intentmesh_tasks::{
    NewTask, TaskId, TaskRecord, TaskState, Transition, TransitionOutcome,
    adapters::{
        memory::MemoryTaskStore,
        redis::{self, RedisTaskStore},
    },
    ports::{Created, TaskStore},
    test_util,
};

fn new_task(key: Option<&str>) -> NewTask {
    NewTask {
        id: TaskId::generate(),
        agent: "search".into(),
        skill: "search".into(),
        request_id: "req-1".into(),
        user_id: "user-1".into(),
        dedupe_key: key.map(str::to_owned),
    }
}

fn created(c: Created) -> TaskRecord {
    match c {
        Created::New(r) => r,
        Created::Existing(r) => panic!("expected a new task, got existing {}", r.id),
    }
}

fn applied(o: TransitionOutcome) -> TaskRecord {
    match o {
        TransitionOutcome::Applied(r) => r,
        other => panic!("expected the transition to apply, got {other:?}"),
    }
}

mod cases {
    use super::*;

    pub(super) async fn creates_and_reads_back(store: Arc<dyn TaskStore>) {
        let task = created(store.create(new_task(None)).await.unwrap());
        assert_eq!(task.state, TaskState::Queued);
        assert_eq!(task.version, 1);
        let got = store.get(task.id.as_str()).await.unwrap().unwrap();
        assert_eq!(got, task);
        assert!(
            store
                .get(TaskId::generate().as_str())
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.ready().await);
    }

    pub(super) async fn a_dedupe_key_returns_the_first_task(store: Arc<dyn TaskStore>) {
        let key = format!("user-1\u{1f}{}", TaskId::generate());
        let first = created(store.create(new_task(Some(&key))).await.unwrap());
        match store.create(new_task(Some(&key))).await.unwrap() {
            Created::Existing(r) => assert_eq!(r.id, first.id),
            Created::New(r) => panic!("a second task {} was created for the same key", r.id),
        }
        created(
            store
                .create(new_task(Some(&format!("{key}-other"))))
                .await
                .unwrap(),
        );
    }

    pub(super) async fn transitions_compare_and_set(store: Arc<dyn TaskStore>) {
        let task = created(store.create(new_task(None)).await.unwrap());
        let id = task.id.as_str();
        match store
            .transition(
                id,
                Transition::new(&[TaskState::Working], TaskState::Success),
            )
            .await
            .unwrap()
        {
            TransitionOutcome::Refused(r) => assert_eq!(r.state, TaskState::Queued),
            other => panic!("queued → success must be refused, got {other:?}"),
        }
        let working = applied(
            store
                .transition(
                    id,
                    Transition::new(&[TaskState::Queued], TaskState::Working).attempts(1),
                )
                .await
                .unwrap(),
        );
        assert_eq!(
            (working.state, working.version, working.attempts),
            (TaskState::Working, 2, 1)
        );
        assert!(working.started_at.is_some() && working.finished_at.is_none());

        let result = Reply::Search(SearchResults {
            products: Vec::new(),
            total: 3,
            page: 1,
            page_size: 10,
            query: "red shoes".into(),
            category: None,
            min_price: None,
            max_price: None,
        });
        let done = applied(
            store
                .transition(
                    id,
                    Transition::new(&[TaskState::Working], TaskState::Success)
                        .result(result.clone()),
                )
                .await
                .unwrap(),
        );
        assert_eq!(done.result.as_ref(), Some(&result));
        assert!(done.finished_at.is_some());

        // A finished task never goes back, whoever asks.
        for to in [
            TaskState::Working,
            TaskState::Queued,
            TaskState::Failed,
            TaskState::Canceled,
        ] {
            let outcome = store
                .transition(
                    id,
                    Transition::new(&[TaskState::Queued, TaskState::Working], to),
                )
                .await
                .unwrap();
            assert!(
                matches!(outcome, TransitionOutcome::Refused(ref r) if r.state == TaskState::Success),
                "{to}: {outcome:?}"
            );
        }
        assert_eq!(store.get(id).await.unwrap().unwrap(), done);
    }

    pub(super) async fn concurrent_claims_have_one_winner(store: Arc<dyn TaskStore>) {
        let task = created(store.create(new_task(None)).await.unwrap());
        let claims = (0..16).map(|_| {
            let store = Arc::clone(&store);
            let id = task.id.to_string();
            tokio::spawn(async move {
                store
                    .transition(
                        &id,
                        Transition::new(&[TaskState::Queued], TaskState::Working),
                    )
                    .await
                    .unwrap()
            })
        });
        let outcomes = futures::future::join_all(claims).await;
        let wins = outcomes
            .into_iter()
            .filter(|o| matches!(o.as_ref().unwrap(), TransitionOutcome::Applied(_)))
            .count();
        assert_eq!(wins, 1);
    }

    pub(super) async fn errors_are_kept_and_a_replay_clears_them(store: Arc<dyn TaskStore>) {
        let task = created(store.create(new_task(None)).await.unwrap());
        let id = task.id.as_str();
        applied(
            store
                .transition(
                    id,
                    Transition::new(&[TaskState::Queued], TaskState::Working),
                )
                .await
                .unwrap(),
        );
        let error = AgentError::new(ErrorCode::DeadLettered, "gave up after 3 attempts")
            .with("last_code", "unavailable");
        let failed = applied(
            store
                .transition(
                    id,
                    Transition::new(&[TaskState::Working], TaskState::Failed).error(error.clone()),
                )
                .await
                .unwrap(),
        );
        assert_eq!(failed.error.as_ref(), Some(&error));
        let reopened = applied(
            store
                .transition(id, Transition::new(&[TaskState::Failed], TaskState::Queued))
                .await
                .unwrap(),
        );
        assert_eq!(
            (
                reopened.state,
                reopened.error.as_ref(),
                reopened.finished_at
            ),
            (TaskState::Queued, None, None)
        );
    }

    pub(super) async fn missing_and_removed_tasks(store: Arc<dyn TaskStore>) {
        let outcome = store
            .transition(
                TaskId::generate().as_str(),
                Transition::new(&[TaskState::Queued], TaskState::Working),
            )
            .await
            .unwrap();
        assert_eq!(outcome, TransitionOutcome::Missing);
        let task = created(store.create(new_task(None)).await.unwrap());
        store.remove(task.id.as_str()).await.unwrap();
        assert!(store.get(task.id.as_str()).await.unwrap().is_none());
    }
}

async fn short_lived_result(store: Arc<dyn TaskStore>) {
    let task = created(store.create(new_task(None)).await.unwrap());
    let id = task.id.as_str();
    applied(
        store
            .transition(
                id,
                Transition::new(&[TaskState::Queued], TaskState::Canceled),
            )
            .await
            .unwrap(),
    );
    assert!(store.get(id).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        store.get(id).await.unwrap().is_none(),
        "a finished task outlived its result TTL"
    );
}

fn memory(result_ttl: Duration) -> Arc<dyn TaskStore> {
    Arc::new(MemoryTaskStore::new(Duration::from_secs(3600), result_ttl))
}

async fn redis(result_ttl: Duration) -> Arc<dyn TaskStore> {
    let config = test_util::real_async_config("store", Default::default())
        .redis
        .expect("a redis config");
    let pool = redis::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("Redis is required for this test ({}): {e}", config.url));
    Arc::new(RedisTaskStore::new(
        pool,
        &config.key_prefix,
        Duration::from_secs(3600),
        result_ttl,
    ))
}

macro_rules! task_store_contract {
    ($adapter:ident, $make:expr) => {
        mod $adapter {
            use super::*;
            #[tokio::test]
            async fn creates_and_reads_back() {
                cases::creates_and_reads_back($make(Duration::from_secs(60)).await).await
            }
            #[tokio::test]
            async fn a_dedupe_key_returns_the_first_task() {
                cases::a_dedupe_key_returns_the_first_task($make(Duration::from_secs(60)).await)
                    .await
            }
            #[tokio::test]
            async fn transitions_compare_and_set() {
                cases::transitions_compare_and_set($make(Duration::from_secs(60)).await).await
            }
            #[tokio::test]
            async fn concurrent_claims_have_one_winner() {
                cases::concurrent_claims_have_one_winner($make(Duration::from_secs(60)).await).await
            }
            #[tokio::test]
            async fn errors_are_kept_and_a_replay_clears_them() {
                cases::errors_are_kept_and_a_replay_clears_them(
                    $make(Duration::from_secs(60)).await,
                )
                .await
            }
            #[tokio::test]
            async fn missing_and_removed_tasks() {
                cases::missing_and_removed_tasks($make(Duration::from_secs(60)).await).await
            }
            #[tokio::test]
            async fn finished_tasks_expire_after_the_result_ttl() {
                short_lived_result($make(Duration::from_millis(300)).await).await
            }
        }
    };
}

task_store_contract!(memory_store, |ttl| async move { memory(ttl) });
task_store_contract!(redis_store, redis);

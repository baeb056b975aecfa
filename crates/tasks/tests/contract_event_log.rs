//! One contract for every `EventLog` adapter: memory and the RabbitMQ stream.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use intentmesh_core::now_millis;
use intentmesh_tasks::{
    AsyncConfig, EventKind, TaskEvent, TaskId,
    adapters::memory::MemoryEventLog,
    ports::{EventLog, EventStream},
    test_util,
};

fn event(task: &TaskId, seq: u64, kind: EventKind) -> TaskEvent {
    TaskEvent {
        task_id: task.to_string(),
        seq,
        kind,
        agent: "search".into(),
        at: now_millis(),
        attempt: 1,
        code: None,
        message: None,
        retry_in_ms: None,
    }
}

async fn next(stream: &mut EventStream) -> TaskEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream goes on")
        .expect("a readable event")
}

mod cases {
    use super::*;

    pub(super) async fn history_then_live_for_one_task(log: Arc<dyn EventLog>) {
        let task = TaskId::generate();
        let other = TaskId::generate();
        let since = now_millis();
        log.append(&event(&task, 1, EventKind::Queued))
            .await
            .unwrap();
        log.append(&event(&other, 1, EventKind::Queued))
            .await
            .unwrap();
        log.append(&event(&task, 2, EventKind::Working))
            .await
            .unwrap();

        let mut stream = log.subscribe(task.as_str(), since).await.unwrap();
        assert_eq!(next(&mut stream).await.kind, EventKind::Queued);
        assert_eq!(next(&mut stream).await.kind, EventKind::Working);

        log.append(&event(&other, 2, EventKind::Success))
            .await
            .unwrap();
        log.append(&event(&task, 3, EventKind::Success))
            .await
            .unwrap();
        let last = next(&mut stream).await;
        assert_eq!(
            (last.task_id.as_str(), last.seq, last.kind),
            (task.as_str(), 3, EventKind::Success)
        );
        assert!(log.ready().await);
    }

    pub(super) async fn a_late_reader_sees_the_whole_history(log: Arc<dyn EventLog>) {
        let task = TaskId::generate();
        let since = now_millis();
        for (seq, kind) in [
            (1, EventKind::Queued),
            (2, EventKind::Working),
            (2, EventKind::Retrying),
            (3, EventKind::Failed),
        ] {
            log.append(&event(&task, seq, kind)).await.unwrap();
        }
        let mut stream = log.subscribe(task.as_str(), since).await.unwrap();
        let mut kinds = Vec::new();
        for _ in 0..4 {
            kinds.push(next(&mut stream).await.kind);
        }
        assert_eq!(
            kinds,
            [
                EventKind::Queued,
                EventKind::Working,
                EventKind::Retrying,
                EventKind::Failed
            ]
        );
    }
}

macro_rules! event_log_contract {
    ($adapter:ident, $make:expr) => {
        mod $adapter {
            use super::*;
            #[tokio::test]
            async fn history_then_live_for_one_task() {
                let (log, config) = $make.await;
                cases::history_then_live_for_one_task(log).await;
                if let Some(config) = config {
                    test_util::delete_test_queues(&config, &[]).await;
                }
            }
            #[tokio::test]
            async fn a_late_reader_sees_the_whole_history() {
                let (log, config) = $make.await;
                cases::a_late_reader_sees_the_whole_history(log).await;
                if let Some(config) = config {
                    test_util::delete_test_queues(&config, &[]).await;
                }
            }
        }
    };
}

async fn memory() -> (Arc<dyn EventLog>, Option<AsyncConfig>) {
    (Arc::new(MemoryEventLog::new(1000)), None)
}

async fn stream() -> (Arc<dyn EventLog>, Option<AsyncConfig>) {
    let config = test_util::real_async_config("events", Default::default());
    let ports = test_util::real_ports(&config).await;
    (ports.events, Some(config))
}

event_log_contract!(memory_log, memory());
event_log_contract!(rabbitmq_stream, stream());

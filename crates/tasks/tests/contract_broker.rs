//! One contract for every `Broker` adapter: memory and RabbitMQ.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use intentmesh_core::agent::AgentRequest;
use intentmesh_tasks::{
    AsyncConfig, RetryPolicy, TaskId, TaskMessage,
    adapters::memory::MemoryBroker,
    ports::{Broker, Delivery, DeliveryStream},
    test_util,
};

const AGENT: &str = "search";

fn message() -> TaskMessage {
    let mut message = TaskMessage::new(
        TaskId::generate(),
        AGENT,
        AgentRequest {
            request_id: "req-1".into(),
            message: "red shoes under $50".into(),
            user_id: "user-1".into(),
            ..Default::default()
        },
    );
    // Trace context rides with the message (a W3C traceparent header on RabbitMQ).
    message.trace = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned());
    message
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(200),
        max: Duration::from_millis(400),
        jitter: 0.0,
    }
}

async fn next(stream: &mut DeliveryStream) -> Delivery {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a delivery within 10 s")
        .expect("the stream goes on")
        .expect("a readable delivery")
}

async fn nothing_within(stream: &mut DeliveryStream, wait: Duration) {
    if let Ok(Some(d)) = tokio::time::timeout(wait, stream.next()).await {
        panic!(
            "expected no delivery, got {:?}",
            d.map(|d| d.message.task_id().to_owned())
        );
    }
}

mod cases {
    use super::*;

    pub(super) async fn publishes_and_delivers_until_acked(broker: Arc<dyn Broker>) {
        let sent = message();
        broker.publish(&sent).await.unwrap();
        let mut stream = broker.consume(AGENT, 4).await.unwrap();
        let got = next(&mut stream).await;
        assert_eq!(got.message, sent);
        assert!(!got.redelivered);
        // Dropped unsettled (a crash): it comes back, marked as redelivered.
        drop(got);
        let again = next(&mut stream).await;
        assert_eq!(again.message.task_id(), sent.task_id());
        assert!(again.redelivered);
        assert_eq!(again.delivery_count, 1);
        again.settle.ack().await.unwrap();
        nothing_within(&mut stream, Duration::from_millis(300)).await;
        assert!(broker.ready().await);
    }

    pub(super) async fn retries_come_back_after_their_delay(broker: Arc<dyn Broker>) {
        let sent = message();
        broker.publish(&sent).await.unwrap();
        let mut stream = broker.consume(AGENT, 4).await.unwrap();
        let got = next(&mut stream).await;
        let mut retried = got.message.clone();
        retried.attempt = 1;
        retried.history.push("attempt 1: unavailable: down".into());
        let started = std::time::Instant::now();
        got.settle
            .retry(retried.clone(), Duration::from_millis(200))
            .await
            .unwrap();
        let back = next(&mut stream).await;
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "came back after {:?}",
            started.elapsed()
        );
        assert_eq!(back.message, retried);
        back.settle.ack().await.unwrap();
    }

    pub(super) async fn dead_letters_are_listed_and_replayed(broker: Arc<dyn Broker>) {
        let (first, second) = (message(), message());
        broker.publish(&first).await.unwrap();
        broker.publish(&second).await.unwrap();
        let mut stream = broker.consume(AGENT, 4).await.unwrap();
        for _ in 0..2 {
            let got = next(&mut stream).await;
            let mut m = got.message.clone();
            m.attempt = 3;
            m.history = vec!["attempt 1".into(), "attempt 2".into(), "attempt 3".into()];
            got.settle
                .dead_letter(m, "gave up after 3 attempts")
                .await
                .unwrap();
        }
        let letters = broker.dead_letters(AGENT).await.unwrap();
        assert_eq!(letters.len(), 2);
        assert!(
            letters
                .iter()
                .all(|l| l.reason == "gave up after 3 attempts"
                    && l.attempts == 3
                    && l.history.len() == 3)
        );
        // Listing leaves them there.
        assert_eq!(broker.depth(AGENT).await.unwrap().dead_letters, 2);

        let moved = broker.replay(AGENT, Some(first.task_id())).await.unwrap();
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].task_id, first.task_id());
        let back = next(&mut stream).await;
        assert_eq!(back.message.task_id(), first.task_id());
        assert!(back.message.replayed);
        assert_eq!(back.message.attempt, 0);
        back.settle.ack().await.unwrap();
        let left = broker.dead_letters(AGENT).await.unwrap();
        assert_eq!(
            left.iter().map(|l| l.task_id.as_str()).collect::<Vec<_>>(),
            [second.task_id()]
        );
    }

    pub(super) async fn prefetch_bounds_unsettled_deliveries(broker: Arc<dyn Broker>) {
        for _ in 0..3 {
            broker.publish(&message()).await.unwrap();
        }
        let mut stream = broker.consume(AGENT, 2).await.unwrap();
        let a = next(&mut stream).await;
        let _b = next(&mut stream).await;
        nothing_within(&mut stream, Duration::from_millis(400)).await;
        a.settle.ack().await.unwrap();
        let c = next(&mut stream).await;
        c.settle.ack().await.unwrap();
    }

    pub(super) async fn a_message_that_keeps_dying_is_dead_lettered(broker: Arc<dyn Broker>) {
        let sent = message();
        broker.publish(&sent).await.unwrap();
        let mut stream = broker.consume(AGENT, 1).await.unwrap();
        // The delivery limit is 5: the message may come back five times; the sixth return
        // dead-letters it.
        let mut deliveries = 0;
        while let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
            let d = d.unwrap();
            assert_eq!(
                d.delivery_count, deliveries,
                "delivery counts as the broker keeps them"
            );
            deliveries += 1;
            drop(d);
            assert!(deliveries <= 10, "the delivery limit is not enforced");
        }
        assert_eq!(deliveries, 6);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let letters = broker.dead_letters(AGENT).await.unwrap();
            if let Some(l) = letters.iter().find(|l| l.task_id == sent.task_id()) {
                assert!(l.reason.contains("delivery"), "{}", l.reason);
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never dead-lettered"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn memory() -> (Arc<dyn Broker>, Option<AsyncConfig>) {
    (Arc::new(MemoryBroker::new(5)), None)
}

async fn rabbitmq() -> (Arc<dyn Broker>, Option<AsyncConfig>) {
    let config = test_util::real_async_config("broker", policy());
    let ports = test_util::real_ports(&config).await;
    (ports.broker, Some(config))
}

macro_rules! broker_contract {
    ($adapter:ident, $make:expr) => {
        mod $adapter {
            use super::*;
            async fn run<F: std::future::Future<Output = ()>>(
                case: impl FnOnce(Arc<dyn Broker>) -> F,
            ) {
                let (broker, config) = $make.await;
                case(broker).await;
                if let Some(config) = config {
                    test_util::delete_test_queues(&config, &[AGENT]).await;
                }
            }
            #[tokio::test]
            async fn publishes_and_delivers_until_acked() {
                run(cases::publishes_and_delivers_until_acked).await
            }
            #[tokio::test]
            async fn retries_come_back_after_their_delay() {
                run(cases::retries_come_back_after_their_delay).await
            }
            #[tokio::test]
            async fn dead_letters_are_listed_and_replayed() {
                run(cases::dead_letters_are_listed_and_replayed).await
            }
            #[tokio::test]
            async fn prefetch_bounds_unsettled_deliveries() {
                run(cases::prefetch_bounds_unsettled_deliveries).await
            }
            #[tokio::test]
            async fn a_message_that_keeps_dying_is_dead_lettered() {
                run(cases::a_message_that_keeps_dying_is_dead_lettered).await
            }
        }
    };
}

broker_contract!(memory_broker, memory());
broker_contract!(rabbitmq_broker, rabbitmq());

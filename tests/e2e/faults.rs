//! Nothing is lost under faults, against the real RabbitMQ, Redis and PostgreSQL: the real
//! `intentmesh payment` binary drains 600 queued payments while it is SIGKILLed and restarted,
//! or while its broker connections are cut. Every task must finish exactly once and every order
//! be charged exactly once. (Transient and permanent handler failures over the real broker are in
//! `crates/tasks/tests/worker_faults.rs`.)

use std::{
    collections::HashSet,
    fs::File,
    process::{Child, Command, Stdio},
    time::Duration,
};

use futures::StreamExt;
use intentmesh_core::{
    agent::{AgentRequest, Entities, Reply},
    config::DatabaseUrl,
    money::{Decimal, Money},
};
use intentmesh_payment_agent::{Ledger, SqlLedger};
use intentmesh_tasks::{AsyncConfig, RetryPolicy, TaskPorts, TaskState, enqueue, test_util};
use serde_json::json;

use crate::{
    proxy::Proxy,
    support::{Async, Mesh},
};

const TASKS: usize = 600;

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base: Duration::from_millis(100),
        max: Duration::from_millis(400),
        jitter: 0.2,
    }
}

/// The payment agent binary, killed when dropped.
struct PaymentProcess(Child);

impl Drop for PaymentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Setup {
    config: AsyncConfig,
    ports: TaskPorts,
    ledger: SqlLedger,
    database_url: String,
    logs: tempfile::TempDir,
}

impl Setup {
    async fn new(hint: &str) -> Self {
        let config = test_util::real_async_config(hint, policy());
        let ports = test_util::real_ports(&config).await;
        let database_url = intentmesh_core::test_util::fresh_postgres_database(hint).await;
        let ledger = SqlLedger::connect(&DatabaseUrl::Postgres(database_url.clone()), 2)
            .await
            .expect("the test ledger opens");
        Self {
            config,
            ports,
            ledger,
            database_url,
            logs: tempfile::tempdir().unwrap(),
        }
    }

    /// Starts `intentmesh payment` against the same queues, keys and ledger, with its broker at
    /// `rabbitmq_url` (directly, or through a proxy).
    fn spawn_payment(&self, rabbitmq_url: &str, run: usize) -> PaymentProcess {
        let amqp = self.config.amqp.as_ref().unwrap();
        let redis = self.config.redis.as_ref().unwrap();
        let log = File::create(self.logs.path().join(format!("payment-{run}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_intentmesh"))
            .arg("payment")
            .env("PAYMENT_LISTEN_ADDR", "127.0.0.1:0")
            .env("RABBITMQ_URL", rabbitmq_url)
            .env("REDIS_URL", &redis.url)
            .env("DATABASE_URL", &self.database_url)
            .env("TASK_QUEUE_PREFIX", &amqp.prefix)
            .env("REDIS_KEY_PREFIX", &redis.key_prefix)
            .env("TASK_DELIVERY_LIMIT", amqp.delivery_limit.to_string())
            .env("TASK_MAX_ATTEMPTS", policy().max_attempts.to_string())
            .env("TASK_RETRY_BASE_MS", policy().base.as_millis().to_string())
            .env("TASK_RETRY_MAX_MS", policy().max.as_millis().to_string())
            .env("TASK_PREFETCH", "8")
            .env("SHUTDOWN_GRACE_SECS", "2")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the intentmesh binary starts");
        PaymentProcess(child)
    }

    /// Queues `TASKS` payments, one order each.
    async fn queue_payments(&self) -> Vec<String> {
        let mut ids = Vec::with_capacity(TASKS);
        for n in 0..TASKS {
            let request = AgentRequest {
                request_id: format!("req-fault-{n}"),
                message: format!("pay ${} for order #{}", 10 + n % 50, 700_000 + n),
                user_id: "fault-user".into(),
                skill: Some("pay".into()),
                agent: Some("payment".into()),
                entities: Some(Entities {
                    amount: Some(
                        Money::new(Decimal::from(10 + n % 50), Some("USD".into())).unwrap(),
                    ),
                    order_id: Some(format!("{}", 700_000 + n)),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let queued = enqueue(&self.ports, "payment", request).await.unwrap();
            ids.push(queued.task.id.to_string());
        }
        ids
    }

    /// Waits until the ledger holds at least `n` payments.
    async fn wait_charged(&self, n: u64) -> u64 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let count = self.ledger.count().await.unwrap();
            if count >= n {
                return count;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {count} payments charged; logs in {}",
                self.logs.path().display()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Every task succeeded once, every order was charged once, and a sample of event
    /// histories has exactly one terminal event each.
    async fn assert_all_charged_once(&self, ids: &[String]) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let mut pending: Vec<&String> = ids.iter().collect();
        let mut transactions = HashSet::new();
        let mut reclaimed = 0;
        while !pending.is_empty() {
            let mut still = Vec::new();
            for id in pending {
                let task = self
                    .ports
                    .store
                    .get(id)
                    .await
                    .unwrap()
                    .expect("the task exists");
                match task.state {
                    TaskState::Success => {
                        let Some(Reply::Payment(p)) = task.result else {
                            panic!("task {id} succeeded without a payment");
                        };
                        transactions.insert(p.transaction_id);
                        // queued → working → success is version 3; more means it was claimed
                        // again after an interrupted delivery.
                        reclaimed += usize::from(task.version > 3);
                    }
                    s if s.is_terminal() => panic!("task {id} ended {s}: {:?}", task.error),
                    _ => still.push(id),
                }
            }
            pending = still;
            if !pending.is_empty() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{} tasks never finished; logs in {}",
                    pending.len(),
                    self.logs.path().display()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        assert_eq!(transactions.len(), TASKS, "one transaction per task");
        eprintln!(
            "{reclaimed} of {TASKS} tasks were started twice (interrupted, then redelivered)"
        );
        assert_eq!(
            self.ledger.count().await.unwrap(),
            TASKS as u64,
            "one charge per order"
        );

        for id in ids.iter().step_by(41) {
            let task = self.ports.store.get(id).await.unwrap().unwrap();
            let mut events = self
                .ports
                .events
                .subscribe(id, task.created_at)
                .await
                .unwrap();
            let mut terminal = HashSet::new();
            loop {
                let idle = if terminal.is_empty() {
                    Duration::from_secs(20)
                } else {
                    Duration::from_millis(300)
                };
                let Ok(Some(event)) = tokio::time::timeout(idle, events.next()).await else {
                    break;
                };
                let event = event.unwrap();
                if event.kind.is_terminal() {
                    terminal.insert((event.seq, event.kind));
                }
            }
            assert_eq!(terminal.len(), 1, "task {id}: terminal events {terminal:?}");
        }
        assert!(
            self.ports
                .broker
                .dead_letters("payment")
                .await
                .unwrap()
                .is_empty()
        );
    }

    async fn cleanup(self) {
        test_util::delete_test_queues(&self.config, &["payment"]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_loses_and_repeats_nothing() {
    let setup = Setup::new("kill").await;
    let ids = setup.queue_payments().await;
    let direct = intentmesh_core::test_util::rabbitmq_url();

    let first = setup.spawn_payment(&direct, 1);
    let charged = setup.wait_charged(60).await;
    drop(first); // SIGKILL: in-flight deliveries are neither acked nor finished.
    assert!(
        charged < TASKS as u64,
        "the batch finished before the kill; nothing was tested"
    );
    let _second = setup.spawn_payment(&direct, 2);
    setup.assert_all_charged_once(&ids).await;
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_broker_connections_lose_and_repeat_nothing() {
    let setup = Setup::new("cut").await;
    let target = "127.0.0.1:5672".parse().unwrap();
    let proxy = Proxy::start(target).await;
    let ids = setup.queue_payments().await;

    let _worker = setup.spawn_payment(&proxy.amqp_url(), 1);
    let before = setup.wait_charged(60).await;
    proxy.cut();
    assert!(before < TASKS as u64, "the batch finished before the cut");
    // A second cut while it reconnects and catches up.
    setup.wait_charged(before + 100).await;
    proxy.down();
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.restore();
    setup.assert_all_charged_once(&ids).await;
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_202_when_the_broker_cannot_take_the_task() {
    let config = test_util::real_async_config("refuse", policy());
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let mut through_proxy = config.clone();
    if let Some(amqp) = through_proxy.amqp.as_mut() {
        amqp.url = proxy.amqp_url();
        amqp.timeout = Duration::from_secs(2);
    }
    let ports = test_util::real_ports(&through_proxy).await;
    let mesh = Mesh::start_with(Async::all(Some(ports))).await;
    let body = json!({"message": "find desk lamps", "user_id": "u"});
    let key = [("idempotency-key", "lamp-order-1")];

    proxy.down();
    let (status, answer, headers) = mesh.post_with("/process", &body, &key).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"]["code"], "unavailable");
    assert!(headers.contains_key("retry-after"));

    // Nothing was half-queued: once the broker is back the same request is queued and runs.
    proxy.restore();
    let (status, answer, _) = mesh.post_with("/process", &body, &key).await;
    assert_eq!(status, 202, "{answer}");
    let task = mesh
        .finished_task(answer["task_id"].as_str().unwrap())
        .await;
    assert_eq!(task["status"], "success");
    assert!(mesh.tasks.is_some());
    test_util::delete_test_queues(&config, &["search", "payment"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dlq_command_lists_and_replays_dead_letters() {
    let config = test_util::real_async_config("dlqcli", policy());
    let ports = test_util::real_ports(&config).await;
    let amqp = config.amqp.as_ref().unwrap();
    // A task whose message is dead-lettered: queued, received, given up on.
    let queued = enqueue(&ports, "payment", AgentRequest::default())
        .await
        .unwrap();
    let id = queued.task.id.to_string();
    let mut deliveries = ports.broker.consume("payment", 1).await.unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), deliveries.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let mut message = delivery.message.clone();
    message.history.push("attempt 1: internal: boom".into());
    delivery
        .settle
        .dead_letter(message, "permanent failure: internal: boom")
        .await
        .unwrap();
    drop(deliveries);

    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_intentmesh"))
            .args(args)
            .env("RABBITMQ_URL", &amqp.url)
            .env("TASK_QUEUE_PREFIX", &amqp.prefix)
            .env("TASK_DELIVERY_LIMIT", amqp.delivery_limit.to_string())
            .env("TASK_MAX_ATTEMPTS", policy().max_attempts.to_string())
            .env("TASK_RETRY_BASE_MS", policy().base.as_millis().to_string())
            .env("TASK_RETRY_MAX_MS", policy().max.as_millis().to_string())
            .env("RUST_LOG", "warn")
            .output()
            .expect("the intentmesh binary runs");
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };

    let (status, out) = cli(&["dlq", "list", "payment", "--json"]);
    assert!(status.success(), "{out}");
    let listed: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(listed["task_id"], id.as_str());
    assert_eq!(listed["reason"], "permanent failure: internal: boom");
    assert_eq!(listed["history"][0], "attempt 1: internal: boom");
    let (status, table) = cli(&["dlq", "list", "payment"]);
    assert!(
        status.success() && table.contains(&id) && table.contains("REASON"),
        "{table}"
    );

    let (status, out) = cli(&["dlq", "replay", "payment", "--task", &id]);
    assert!(status.success(), "{out}");
    assert!(out.contains(&format!("replayed {id}")), "{out}");
    assert!(
        ports
            .broker
            .dead_letters("payment")
            .await
            .unwrap()
            .is_empty()
    );
    let mut deliveries = ports.broker.consume("payment", 1).await.unwrap();
    let back = tokio::time::timeout(Duration::from_secs(10), deliveries.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(back.message.task_id(), id);
    assert!(back.message.replayed);
    back.settle.ack().await.unwrap();

    let (status, _) = cli(&["dlq", "replay", "payment", "--task", "not-a-task"]);
    assert_eq!(status.code(), Some(64));
    test_util::delete_test_queues(&config, &["payment"]).await;
}

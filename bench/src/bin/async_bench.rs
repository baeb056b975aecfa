//! `intentmesh-async-bench`: asynchronous throughput, end to end, against a bare-lapin baseline
//! measured in the same run.
//!
//! Ours: `POST /process` (a search, queued: 202) → root → RabbitMQ (confirmed) → search worker →
//! result stored in Redis. Throughput is tasks over the time from the first POST to the last
//! stored result (`finished_at` of the task records); latency is POST start → result stored.
//!
//! Baseline: the same number of persistent messages of the same size, published with confirms
//! to a quorum queue by as many concurrent publishers, consumed and acked by one consumer with
//! the same prefetch — the broker's share of our path with nothing else.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;
use futures::{StreamExt, stream};
use intentmesh_core::{
    agent::{AgentRequest, Entities},
    money::{Decimal, Money},
    now_millis,
};
use intentmesh_tasks::{
    TaskId, TaskMessage,
    adapters::redis::{self, RedisConfig, RedisTaskStore},
    ports::TaskStore,
};
use lapin::{
    BasicProperties, Connection, ConnectionProperties,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
        ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
    },
    types::{AMQPValue, FieldTable, LongString},
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
struct Args {
    /// The gateway of a mesh running with RABBITMQ_URL and REDIS_URL.
    #[arg(long, default_value = "http://127.0.0.1:18020")]
    gateway: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    rabbitmq_url: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// The mesh's REDIS_KEY_PREFIX (also used to name the baseline's queue).
    #[arg(long)]
    prefix: String,
    #[arg(long, default_value_t = 3000)]
    tasks: usize,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The workers' TASK_PREFETCH, used for the baseline consumer too.
    #[arg(long, default_value_t = 16)]
    prefetch: u16,
}

const QUERIES: [&str; 8] = [
    "search for wireless headphones under $50",
    "find red running shoes",
    "show me desk lamps between 20 and 60 dollars",
    "looking for a coffee grinder",
    "books about gardening under $30",
    "find a yoga mat",
    "search for a mechanical keyboard",
    "cheap backpacks under $40",
];

struct Measured {
    tasks_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summarize(count: usize, elapsed: Duration, mut latencies: Vec<f64>) -> Measured {
    latencies.sort_by(f64::total_cmp);
    Measured {
        tasks_per_sec: count as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
    }
}

/// Ours: queue `n` searches through the gateway, then wait for every result in Redis.
async fn ours(args: &Args, n: usize) -> anyhow::Result<Measured> {
    let http = reqwest::Client::new();
    let url = format!("{}/process", args.gateway);
    let start_ms = now_millis();
    let started = Instant::now();
    let queued: Vec<anyhow::Result<(String, i64)>> = stream::iter(0..n)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let sent = now_millis();
                let body = serde_json::json!({"message": QUERIES[i % QUERIES.len()], "user_id": format!("bench-{}", i % 100)});
                let response = http.post(&url).json(&body).send().await?;
                let status = response.status();
                let answer: serde_json::Value = response.json().await?;
                if status != 202 {
                    bail!("expected 202, got {status}: {answer}");
                }
                let id = answer["task_id"].as_str().context("no task_id")?.to_owned();
                Ok((id, sent))
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let queued: Vec<(String, i64)> = queued.into_iter().collect::<anyhow::Result<_>>()?;

    let pool = redis::connect(&RedisConfig {
        url: args.redis_url.clone(),
        pool_size: 4,
        key_prefix: args.prefix.clone(),
        ca_pem: None,
    })
    .await?;
    let store = RedisTaskStore::new(
        pool,
        &args.prefix,
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    );
    let mut latencies = Vec::with_capacity(n);
    let mut last_finish = start_ms;
    let mut pending = queued;
    let deadline = Instant::now() + Duration::from_secs(300);
    while !pending.is_empty() {
        let mut still = Vec::new();
        for (id, sent) in pending {
            match store.get(&id).await? {
                Some(task) if task.state.is_terminal() => {
                    if task.state.as_str() != "success" {
                        bail!("task {id} ended {}: {:?}", task.state, task.error);
                    }
                    let finished = task.finished_at.unwrap_or(task.updated_at);
                    last_finish = last_finish.max(finished);
                    latencies.push((finished - sent) as f64);
                }
                _ => still.push((id, sent)),
            }
        }
        pending = still;
        if Instant::now() > deadline {
            bail!("{} tasks never finished", pending.len());
        }
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let _ = started;
    let elapsed = Duration::from_millis(u64::try_from(last_finish - start_ms).unwrap_or(1).max(1));
    Ok(summarize(n, elapsed, latencies))
}

/// The size of the message our path puts on the queue for a search like the ones above.
fn our_message_size() -> anyhow::Result<usize> {
    let request = AgentRequest {
        request_id: "req-0192f0e0a1b2c3d4e5f60718293a4b5c".into(),
        message: QUERIES[0].into(),
        user_id: "bench-42".into(),
        entities: Some(Entities {
            query: Some("wireless headphones".into()),
            category: Some("electronics".into()),
            max_price: Some(Money::new(Decimal::from(50), Some("USD".into()))?),
            ..Default::default()
        }),
        skill: Some("search".into()),
        agent: Some("search".into()),
        ..Default::default()
    };
    Ok(TaskMessage::new(TaskId::generate(), "search", request)
        .body()?
        .len())
}

/// Baseline: publish-with-confirm → consume → ack of `n` messages of our size, bare lapin.
async fn baseline(args: &Args, n: usize) -> anyhow::Result<Measured> {
    let queue = format!("{}.baseline", args.prefix);
    let publisher =
        Connection::connect(&args.rabbitmq_url, ConnectionProperties::default()).await?;
    let consumer_conn =
        Connection::connect(&args.rabbitmq_url, ConnectionProperties::default()).await?;
    let channel = publisher.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut queue_args = FieldTable::default();
    queue_args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            queue_args,
        )
        .await?;

    let consume_channel = consumer_conn.create_channel().await?;
    consume_channel
        .basic_qos(args.prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = consume_channel
        .basic_consume(
            queue.as_str().into(),
            "baseline".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let size = our_message_size()?.max(8);
    let received = Arc::new(AtomicUsize::new(0));
    let consuming = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(n);
        let mut last = now_millis();
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery?;
            let mut stamp = [0u8; 8];
            stamp.copy_from_slice(&delivery.data[..8]);
            delivery.ack(BasicAckOptions::default()).await?;
            last = now_millis();
            latencies.push((last - i64::from_le_bytes(stamp)) as f64);
            if latencies.len() == n {
                break;
            }
        }
        Ok::<_, lapin::Error>((latencies, last))
    });

    let start_ms = now_millis();
    let published: Vec<anyhow::Result<()>> = stream::iter(0..n)
        .map(|_| {
            let channel = channel.clone();
            let queue = queue.clone();
            let received = Arc::clone(&received);
            async move {
                let mut payload = vec![0u8; size];
                payload[..8].copy_from_slice(&now_millis().to_le_bytes());
                let confirm = channel
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        &payload,
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await?
                    .await?;
                if !confirm.is_ack() {
                    bail!("the broker refused a message");
                }
                received.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    published.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    let (latencies, last) = tokio::time::timeout(Duration::from_secs(120), consuming)
        .await
        .context("the baseline consumer did not finish")???;
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    let elapsed = Duration::from_millis(u64::try_from(last - start_ms).unwrap_or(1).max(1));
    Ok(summarize(n, elapsed, latencies))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    eprintln!(
        "  async: {} tasks, {} concurrent, message {} bytes",
        args.tasks,
        args.concurrency,
        our_message_size()?
    );
    // Warm-up: connections, the catalog cache and the broker's queues.
    ours(&args, 200).await.context("warm-up")?;
    baseline(&args, 200).await.context("baseline warm-up")?;
    let base = baseline(&args, args.tasks).await.context("baseline")?;
    let mine = ours(&args, args.tasks).await.context("intentmesh")?;
    println!();
    println!(
        "{:<28}{:>10}{:>10}{:>10}{:>14}",
        "async scenario", "tasks/s", "p50 ms", "p99 ms", "vs baseline"
    );
    println!("{}", "-".repeat(72));
    for (name, m, ratio) in [
        ("baseline-lapin-confirm-ack", &base, String::new()),
        (
            "intentmesh-async-search",
            &mine,
            format!("{:.2}x", mine.tasks_per_sec / base.tasks_per_sec),
        ),
    ] {
        println!(
            "{name:<28}{:>10.0}{:>10.1}{:>10.1}{ratio:>14}",
            m.tasks_per_sec, m.p50_ms, m.p99_ms
        );
    }
    println!(
        "ours: POST /process (202) → root → RabbitMQ (confirmed) → search worker → result in Redis;\n\
         baseline: bare lapin publish-with-confirm → consume → ack, same message size and concurrency"
    );
    Ok(())
}

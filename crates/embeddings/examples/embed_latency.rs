//! Measures the embedder by hand: load time, single-query latency over ~200 varied short sentences,
//! batches of 16, and the `BatchEmbedder` with every sentence asked at once by its own task.
//! Run it in release:
//!
//!     cargo run --release -p intentmesh-embeddings --example embed_latency
//!
//! The model comes from `$EMBEDDING_MODEL_DIR`, else `default_model_dir()`
//! (fetch it with `scripts/fetch-embedding-model.sh`).

// This reads where the machine keeps the model or the server, as a service started here would
// be told by its environment.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use intentmesh_embeddings::{BatchEmbedder, Embedder, default_model_dir};

const BATCH: usize = 16;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::var_os("EMBEDDING_MODEL_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(
            || default_model_dir(|name| std::env::var(name).ok()),
            PathBuf::from,
        );
    let started = Instant::now();
    let embedder = Embedder::load(&dir)?;
    let load = started.elapsed();

    let sentences = sentences();
    // Warm up caches and the thread pool.
    for sentence in sentences.iter().take(10) {
        embedder.embed(&[sentence])?;
    }

    let mut single = Vec::with_capacity(sentences.len());
    for sentence in &sentences {
        let started = Instant::now();
        embedder.embed(&[sentence])?;
        single.push(started.elapsed());
    }
    single.sort();

    let mut batched = Vec::new();
    for chunk in sentences.chunks_exact(BATCH) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let started = Instant::now();
        embedder.embed(&chunk)?;
        batched.push(started.elapsed());
    }
    batched.sort();
    let batched_total: Duration = batched.iter().sum();
    let batched_queries = batched.len() * BATCH;

    // Every sentence from its own task at once, as the root agent's handlers would.
    let batcher = BatchEmbedder::spawn(embedder, BATCH);
    let runtime = tokio::runtime::Runtime::new()?;
    let concurrent = runtime.block_on(async {
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for sentence in sentences.clone() {
            let batcher = batcher.clone();
            tasks.spawn(async move { batcher.embed(&sentence).await });
        }
        while let Some(answer) = tasks.join_next().await {
            answer??;
        }
        Ok::<_, Box<dyn std::error::Error>>(started.elapsed())
    })?;

    println!("model dir: {}", dir.display());
    println!("threads:   {}", std::thread::available_parallelism()?);
    println!("{:<34} {:>10}", "measure", "ms");
    println!("{:<34} {:>10.1}", "load (verify sha256 + parse)", ms(load));
    println!(
        "{:<34} {:>10.2}",
        format!("single p50 (n={})", single.len()),
        ms(percentile(&single, 0.50))
    );
    println!(
        "{:<34} {:>10.2}",
        "single p99",
        ms(percentile(&single, 0.99))
    );
    println!(
        "{:<34} {:>10.2}",
        "single mean",
        ms(single.iter().sum::<Duration>()) / single.len() as f64
    );
    println!(
        "{:<34} {:>10.2}",
        format!("batch of {BATCH}: p50 per batch"),
        ms(percentile(&batched, 0.50))
    );
    println!(
        "{:<34} {:>10.2}",
        format!("batch of {BATCH}: per query (n={batched_queries})"),
        ms(batched_total) / batched_queries as f64
    );
    println!(
        "{:<34} {:>10.2}",
        format!("batcher, {} at once: per query", sentences.len()),
        ms(concurrent) / sentences.len() as f64
    );
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

/// ~200 short, varied requests of the kind the root agent routes (3 to ~20 words).
fn sentences() -> Vec<String> {
    let verbs = [
        "pay",
        "find",
        "cancel",
        "show me",
        "search for",
        "transfer money for",
        "refund",
        "compare",
    ];
    let objects = [
        "my electricity invoice",
        "running shoes in size 42",
        "the order I placed yesterday",
        "a cheap flight to Lisbon next weekend",
        "20 dollars to Alice",
        "wireless headphones with noise cancelling",
        "my last three card payments",
        "a birthday present for my sister who likes hiking",
        "the subscription",
        "laptops under 800 euros with at least 16 GB of memory",
        "rent",
        "the cheapest coffee machine",
        "invoice 4711",
    ];
    let tails = ["", " please", " now", " as soon as possible, thanks"];
    let mut sentences = Vec::new();
    for (i, verb) in verbs.iter().enumerate() {
        for (j, object) in objects.iter().enumerate() {
            for (k, tail) in tails.iter().enumerate() {
                // Keep about half, spread over every combination, to land near 200.
                if (i + j + k) % 2 == 0 {
                    sentences.push(format!("{verb} {object}{tail}"));
                }
            }
        }
    }
    sentences
}

//! `make eval-routing`: the labelled utterances of `bench/routing/` through the root's routing —
//! each stage alone and the cascade — printing intent accuracy, a confusion matrix, entity exact
//! match and latency per message. Stages come from the environment as for the root agent: the
//! embedding stage when built with the `embeddings` feature, the LLM when `OPENAI_BASE_URL` or
//! `OPENAI_API_KEY` is set.

use std::{collections::BTreeMap, path::PathBuf, str::FromStr, time::Duration};

use anyhow::Context;
use clap::Parser;
use intentmesh_core::{
    agent::Entities, config::ProcessEnv, money::Money as Exact, resilience::BreakerConfigs,
};
use intentmesh_root_agent::{Evaluator, RoutingConfig, Stage, Stages, parse_stages};
use rust_decimal::Decimal;
use serde::Deserialize;
use tokio::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Evaluate the routing cascade on a labelled set")]
struct Args {
    /// The labelled sets (JSON lines): the development set, then the hold-out set that routing is
    /// never tuned on.
    #[arg(
        long,
        default_values = ["bench/routing/utterances.jsonl", "bench/routing/holdout.jsonl"]
    )]
    data: Vec<PathBuf>,
    /// Print every utterance of the first set the cascade got wrong (intent or entities).
    #[arg(long)]
    errors: bool,
    /// Time allowed per message (the LLM stage's budget is half of it).
    #[arg(long, default_value = "10")]
    budget_secs: u64,
    /// Runs to leave out, by name (`llm` skips the LLM alone over every message, slow with a
    /// local model on a CPU).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
}

#[derive(Deserialize, Debug)]
struct Money {
    value: String,
    currency: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
struct Labelled {
    amount: Option<Money>,
    order_id: Option<String>,
    query: Option<String>,
    category: Option<String>,
    min_price: Option<Money>,
    max_price: Option<Money>,
}

#[derive(Deserialize, Debug)]
struct Utterance {
    id: String,
    text: String,
    intent: String,
    #[serde(default)]
    entities: Labelled,
}

const INTENTS: [&str; 3] = ["payment.pay", "search.search", "none"];

fn singular(w: &str) -> String {
    let w = w.to_lowercase();
    if w.chars().count() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        w[..w.len() - 1].to_owned()
    } else {
        w
    }
}

fn words(q: Option<&str>) -> Vec<String> {
    let mut w: Vec<String> = q
        .unwrap_or_default()
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(singular)
        .collect();
    w.sort();
    w.dedup();
    w
}

fn money_matches(label: Option<&Money>, got: Option<&Exact>) -> bool {
    match (label, got) {
        (None, None) => true,
        (Some(l), Some(g)) => {
            let value = Decimal::from_str(&l.value).ok().map(|d| d.normalize());
            let currency = l.currency.as_deref().unwrap_or_default();
            value == Some(g.amount())
                && currency.eq_ignore_ascii_case(g.currency().unwrap_or_default())
        }
        _ => false,
    }
}

/// The entity fields that differ (empty: an exact match).
fn entity_mismatches(label: &Labelled, got: &Entities) -> Vec<&'static str> {
    let mut wrong = Vec::new();
    if !money_matches(label.amount.as_ref(), got.amount.as_ref()) {
        wrong.push("amount");
    }
    let order = |o: Option<&str>| o.map(|s| s.trim_start_matches('#').to_uppercase());
    if order(label.order_id.as_deref()) != order(got.order_id.as_deref()) {
        wrong.push("order_id");
    }
    if words(label.query.as_deref()) != words(got.query.as_deref()) {
        wrong.push("query");
    }
    if label.category.as_deref() != got.category.as_deref() {
        wrong.push("category");
    }
    if !money_matches(label.min_price.as_ref(), got.min_price.as_ref()) {
        wrong.push("min_price");
    }
    if !money_matches(label.max_price.as_ref(), got.max_price.as_ref()) {
        wrong.push("max_price");
    }
    wrong
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

struct Run {
    name: String,
    correct: usize,
    total: usize,
    /// confusion[label][predicted]
    confusion: BTreeMap<&'static str, BTreeMap<String, usize>>,
    end_to_end: usize,
    routable: usize,
    latencies: Vec<Duration>,
    deciding: BTreeMap<&'static str, usize>,
    degraded: usize,
    wrong: Vec<String>,
    /// Utterances that are not payment requests but were routed to payment: the costly error.
    false_payments: Vec<String>,
}

async fn run(name: &str, evaluator: &Evaluator, data: &[Utterance], budget: Duration) -> Run {
    let mut r = Run {
        name: name.to_owned(),
        correct: 0,
        total: data.len(),
        confusion: BTreeMap::new(),
        end_to_end: 0,
        routable: 0,
        latencies: Vec::with_capacity(data.len()),
        deciding: BTreeMap::new(),
        degraded: 0,
        wrong: Vec::new(),
        false_payments: Vec::new(),
    };
    for u in data {
        let started = Instant::now();
        let got = evaluator.route(&u.text, budget).await;
        r.latencies.push(started.elapsed());
        let label = INTENTS
            .iter()
            .find(|i| **i == u.intent)
            .copied()
            .unwrap_or("none");
        *r.confusion
            .entry(label)
            .or_default()
            .entry(got.intent.clone())
            .or_default() += 1;
        *r.deciding.entry(got.stage).or_default() += 1;
        if !got.degraded.is_empty() {
            r.degraded += 1;
        }
        let intent_ok = got.intent == u.intent;
        if intent_ok {
            r.correct += 1;
        }
        if u.intent != "none" {
            r.routable += 1;
            let mismatches = entity_mismatches(&u.entities, &got.entities);
            if intent_ok && mismatches.is_empty() {
                r.end_to_end += 1;
            } else if intent_ok {
                r.wrong.push(format!(
                    "{} entities {:?}: {:?} -> {:?}",
                    u.id, mismatches, u.text, got.entities
                ));
            }
        }
        if !intent_ok && got.intent == "payment.pay" {
            r.false_payments.push(format!(
                "{} ({}, {} {:.2}): {:?}",
                u.id, u.intent, got.stage, got.confidence, u.text
            ));
        }
        if !intent_ok {
            r.wrong.push(format!(
                "{} intent {} -> {} ({} {:.2}): {:?}",
                u.id, u.intent, got.intent, got.stage, got.confidence, u.text
            ));
        }
    }
    r.latencies.sort();
    r
}

fn pct(n: usize, of: usize) -> String {
    if of == 0 {
        "-".to_owned()
    } else {
        format!("{:.1} %", 100.0 * n as f64 / of as f64)
    }
}

async fn evaluator(base: &RoutingConfig, stages: &str) -> anyhow::Result<Evaluator> {
    let mut config = base.clone();
    config.stages = parse_stages(stages).map_err(anyhow::Error::msg)?;
    let stages = Stages::start(config, None, None)
        .await
        .with_context(|| format!("starting the stages {stages}"))?;
    Ok(Evaluator::new(
        &stages,
        vec![
            intentmesh_payment_agent::card(),
            intentmesh_search_agent::card(),
        ],
    )
    .await)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for (i, path) in args.data.iter().enumerate() {
        evaluate(path, &args, args.errors && i == 0).await?;
    }
    Ok(())
}

async fn evaluate(path: &std::path::Path, args: &Args, errors: bool) -> anyhow::Result<()> {
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let data: Vec<Utterance> = raw
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("line {}", i + 1)))
        .collect::<Result<_, _>>()?;
    let budget = Duration::from_secs(args.budget_secs);
    let breakers = BreakerConfigs::from_env(&ProcessEnv, &["llm"])?;
    let base = RoutingConfig::from_env(&ProcessEnv, &breakers)?;
    let llm = base.stages.contains(&Stage::Llm);
    let embeddings = intentmesh_root_agent::EMBEDDINGS_BUILT;

    let mut configs: Vec<(&str, &str)> = vec![("rules", "rules")];
    if embeddings {
        configs.push(("embeddings", "embeddings"));
    }
    if llm {
        configs.push(("llm", "llm"));
    }
    configs.push(if embeddings {
        ("cascade (no LLM)", "rules,embeddings")
    } else {
        ("cascade (no LLM)", "rules")
    });
    if llm {
        configs.push((
            "cascade + LLM",
            if embeddings {
                "rules,embeddings,llm"
            } else {
                "rules,llm"
            },
        ));
    }

    configs.retain(|(name, _)| !args.skip.iter().any(|s| s == name));

    // Entities on the labelled skill: the parsers alone, whatever the routing.
    let parsers = evaluator(&base, "rules").await?;
    let mut entity_ok = 0;
    let mut routable = 0;
    let mut field_errors: BTreeMap<&str, usize> = BTreeMap::new();
    let mut entity_wrong = Vec::new();
    for u in data.iter().filter(|u| u.intent != "none") {
        routable += 1;
        let got = parsers.entities_for(&u.text, &u.intent);
        let wrong = entity_mismatches(&u.entities, &got);
        if wrong.is_empty() {
            entity_ok += 1;
        } else {
            for f in &wrong {
                *field_errors.entry(f).or_default() += 1;
            }
            entity_wrong.push(format!("{} {:?}: {:?} -> {:?}", u.id, wrong, u.text, got));
        }
    }

    let mut runs = Vec::new();
    for (name, stages) in &configs {
        let evaluator = evaluator(&base, stages).await?;
        // One message first, so lazily initialised parts do not count in the latency.
        evaluator.route("warm up", budget).await;
        runs.push(run(name, &evaluator, &data, budget).await);
    }

    println!(
        "\n{} utterances ({} payment.pay, {} search.search, {} none) from {}\n",
        data.len(),
        data.iter().filter(|u| u.intent == "payment.pay").count(),
        data.iter().filter(|u| u.intent == "search.search").count(),
        data.iter().filter(|u| u.intent == "none").count(),
        path.display()
    );
    println!(
        "| stages | intent accuracy | intent+entities exact | p50 ms | p99 ms | max ms | decided by | degraded |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---:|");
    for r in &runs {
        let deciding: Vec<String> = r.deciding.iter().map(|(s, n)| format!("{s} {n}")).collect();
        println!(
            "| {} | {} ({}/{}) | {} | {} | {} | {} | {} | {} |",
            r.name,
            pct(r.correct, r.total),
            r.correct,
            r.total,
            pct(r.end_to_end, r.routable),
            ms(percentile(&r.latencies, 50.0)),
            ms(percentile(&r.latencies, 99.0)),
            ms(r.latencies.last().copied().unwrap_or_default()),
            deciding.join(", "),
            r.degraded,
        );
    }
    println!(
        "\nEntity exact match on the labelled skill (parsers alone): {} ({entity_ok}/{routable}); fields wrong: {:?}",
        pct(entity_ok, routable),
        field_errors
    );
    for r in &runs {
        println!(
            "\nConfusion matrix, {} (rows: label, columns: predicted)\n",
            r.name
        );
        println!("| label \\ predicted | {} |", INTENTS.join(" | "));
        println!("|---|{}", "---:|".repeat(INTENTS.len()));
        for label in INTENTS {
            let row = r.confusion.get(label);
            let cells: Vec<String> = INTENTS
                .iter()
                .map(|p| {
                    row.and_then(|m| m.get(*p))
                        .copied()
                        .unwrap_or(0)
                        .to_string()
                })
                .collect();
            println!("| {label} | {} |", cells.join(" | "));
        }
    }
    // Every payment false positive of the cascade, on every set: a charge nobody asked for is the
    // costliest mistake, so each is shown, not only counted.
    if let Some(cascade) = runs.iter().rev().find(|r| r.name.starts_with("cascade")) {
        println!(
            "\nRouted to payment but not a payment request, {} ({}):",
            cascade.name,
            cascade.false_payments.len()
        );
        for w in &cascade.false_payments {
            println!("  {w}");
        }
    }
    if errors {
        if let Some(cascade) = runs.iter().rev().find(|r| r.name.starts_with("cascade")) {
            println!("\nWrong in {}:", cascade.name);
            for w in &cascade.wrong {
                println!("  {w}");
            }
        }
        println!("\nEntities wrong on the labelled skill:");
        for w in &entity_wrong {
            println!("  {w}");
        }
    }
    Ok(())
}

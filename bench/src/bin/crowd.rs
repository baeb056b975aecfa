//! `intentmesh-crowd`: the overload scenario of `make bench`. Many keep-alive clients send the
//! synchronous search request to a gateway at once; prints answers by status, `overloaded`
//! answers, transport errors, p50/p99 of successes, peak RSS of the server process, breakers seen
//! open, and whether the goal held (no transport errors, no 5xx but `503 overloaded`, at most 5 %
//! overloaded, no breaker opened).

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use intentmesh_bench::crowd::{self, Crowd};

#[derive(Parser)]
struct Args {
    /// The gateway, `http://host:port`.
    #[arg(long)]
    gateway: String,
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// Seconds over which connections open.
    #[arg(long, default_value_t = 10)]
    ramp_secs: u64,
    /// The server's process id, for its peak RSS.
    #[arg(long)]
    pid: Option<u32>,
    /// `/metrics` URLs to watch for open breakers (repeatable).
    #[arg(long)]
    metrics: Vec<String>,
    /// The row's name in the table.
    #[arg(long, default_value = "crowd")]
    name: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let authority = args
        .gateway
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let target = tokio::net::lookup_host(authority)
        .await
        .context("resolving the gateway")?
        .next()
        .context("the gateway has no address")?;
    let report = crowd::run(Crowd {
        duration: Duration::from_secs(args.duration_secs),
        ramp: Duration::from_secs(args.ramp_secs),
        metrics: args.metrics,
        ..Crowd::sync_search(target, args.connections)
    })
    .await;
    let rss = args
        .pid
        .and_then(crowd::peak_rss_mib)
        .map_or("?".to_owned(), |m| format!("{m:.0}"));
    let answers = report.answers();
    let overloaded_pct = 100.0 * report.overloaded as f64 / answers.max(1) as f64;
    let statuses = report
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "| scenario | connections (peak open) | answers | by status | overloaded | transport errors | ok/s | p50 ms | p99 ms | peak RSS MiB | breakers opened |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} ({}) | {answers} | {statuses} | {} ({overloaded_pct:.2} %) | {} | {:.0} | {:.2} | {:.2} | {rss} | {} |",
        args.name,
        args.connections,
        report.peak_open,
        report.overloaded,
        report.transport_errors,
        report.ok() as f64 / report.elapsed.as_secs_f64(),
        report.quantile_ms(0.5),
        report.quantile_ms(0.99),
        if report.breakers_opened.is_empty() {
            "none".to_owned()
        } else {
            report.breakers_opened.join("; ")
        },
    );
    for sample in &report.error_samples {
        println!("  transport error: {sample}");
    }
    let met = report.transport_errors == 0
        && report.other_5xx() == 0
        && overloaded_pct <= 5.0
        && report.breakers_opened.is_empty();
    println!(
        "goal (no transport errors, no 5xx but overloaded, overloaded <= 5 %, no breaker opened): {}",
        if met { "met" } else { "NOT met" }
    );
    Ok(())
}

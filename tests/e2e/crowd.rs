//! The crowd, bounded for the suite: 2,000 keep-alive clients send the synchronous search to the
//! real binary for 20 s. Overload must be slower answers or `503 overloaded`, never an outage:
//! no breaker opens, no 5xx but `overloaded`, no connection is dropped. Counts, not timings
//! (`make bench` runs 10,000 for 60 s and prints the latencies).

use std::{process::Stdio, time::Duration};

use intentmesh_bench::crowd::{self, Crowd};

use crate::launcher::start_dev_services;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_connections_get_answers_or_overloaded_and_no_breaker_opens() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let (child, urls) =
        start_dev_services(&[("INTENTMESH_DATA_DIR", &data_dir)], Stdio::null()).await;
    let gateway = &urls["gateway"];
    let target = gateway
        .trim_start_matches("http://")
        .parse()
        .expect("the gateway's address");
    let report = crowd::run(Crowd {
        duration: Duration::from_secs(20),
        ramp: Duration::from_secs(4),
        metrics: vec![
            format!("{gateway}/metrics"),
            format!("{}/metrics", urls["root"]),
        ],
        ..Crowd::sync_search(target, 2_000)
    })
    .await;
    eprintln!(
        "{} answers {:?}, {} overloaded, {} transport errors {:?}, peak open {}, RSS {:?} MiB",
        report.answers(),
        report.statuses,
        report.overloaded,
        report.transport_errors,
        report.error_samples,
        report.peak_open,
        crowd::peak_rss_mib(child.0.id()),
    );
    assert_eq!(report.peak_open, 2_000, "every client held its connection");
    assert_eq!(
        report.transport_errors, 0,
        "no connection refused, reset or dropped: {:?}",
        report.error_samples
    );
    assert_eq!(
        report.other_5xx(),
        0,
        "no 5xx but 503 overloaded: {:?}",
        report.statuses
    );
    assert!(report.ok() > 0, "{:?}", report.statuses);
    assert!(
        report.breakers_opened.is_empty(),
        "breakers opened: {:?}",
        report.breakers_opened
    );
    // Every answer was a success or overloaded.
    assert_eq!(report.ok() + report.overloaded, report.answers());
}

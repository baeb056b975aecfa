//! A crowd: `connections` HTTP/1.1 keep-alive clients, each sending one request after another
//! for `duration`, counting answers by status, `503 overloaded` apart from other 5xx, transport
//! errors (a connection refused, reset or closed without an answer), and the latency of each
//! success; while it runs, the services' `/metrics` are read every second for an open breaker.
//!
//! wrk cannot say which 503s were `overloaded` nor watch breakers, and opens every connection at
//! once (a listen backlog overflows, which is the kernel's refusal, not the server's); here
//! connections open over a ramp.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, time::Instant};

#[derive(Debug, Clone)]
pub struct Crowd {
    pub target: SocketAddr,
    pub path: String,
    /// The JSON body of every request.
    pub body: Bytes,
    pub connections: usize,
    /// How long each client keeps sending, after the ramp.
    pub duration: Duration,
    /// Connections open evenly over this long.
    pub ramp: Duration,
    /// `/metrics` URLs to watch for `circuit_breaker_state` other than 0.
    pub metrics: Vec<String>,
}

/// The crowd's request: the synchronous search.
const SYNC_SEARCH: &[u8] =
    br#"{"message":"find wireless headphones under $200","user_id":"crowd","mode":"sync"}"#;

impl Crowd {
    /// `connections` clients sending the synchronous search to `POST /process` for 60 s, after
    /// a 10 s ramp.
    pub fn sync_search(target: SocketAddr, connections: usize) -> Self {
        Self {
            target,
            path: "/process".into(),
            body: Bytes::from_static(SYNC_SEARCH),
            connections,
            duration: Duration::from_secs(60),
            ramp: Duration::from_secs(10),
            metrics: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// 503s whose error code is `overloaded` (also counted in `statuses`).
    pub overloaded: u64,
    /// Connections that could not be opened, or broke without an answer.
    pub transport_errors: u64,
    /// The first few transport errors, as text.
    pub error_samples: Vec<String>,
    /// Success latencies, in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// Connections open at once, at most.
    pub peak_open: usize,
    /// Breaker readings other than closed (`metrics line`), as seen while the crowd ran.
    pub breakers_opened: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    pub fn answers(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// 5xx answers other than `503 overloaded`.
    pub fn other_5xx(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| **s >= 500)
            .map(|(_, n)| n)
            .sum::<u64>()
            - self.overloaded
    }

    pub fn ok(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum()
    }

    /// The `q` quantile (0–1) of success latencies, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }

    fn merge(&mut self, other: Client) {
        for (s, n) in other.statuses {
            *self.statuses.entry(s).or_insert(0) += n;
        }
        self.overloaded += other.overloaded;
        self.transport_errors += other.transport_errors;
        if self.error_samples.len() < 5 {
            self.error_samples.extend(other.error_sample);
        }
        self.latencies_us.extend(other.latencies_us);
    }
}

/// One client's counts.
#[derive(Debug, Default)]
struct Client {
    statuses: BTreeMap<u16, u64>,
    overloaded: u64,
    transport_errors: u64,
    error_sample: Option<String>,
    latencies_us: Vec<u64>,
}

impl Client {
    fn error(&mut self, what: impl std::fmt::Display) {
        self.transport_errors += 1;
        if self.error_sample.is_none() {
            self.error_sample = Some(what.to_string());
        }
    }
}

/// Runs the crowd and reports.
pub async fn run(crowd: Crowd) -> Report {
    let crowd = Arc::new(crowd);
    let start = Instant::now();
    let end = start + crowd.ramp + crowd.duration;
    let open = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(watch_breakers(crowd.metrics.clone(), Arc::clone(&done)));
    let step = crowd.ramp.as_secs_f64() / crowd.connections.max(1) as f64;
    let clients: Vec<_> = (0..crowd.connections)
        .map(|i| {
            let crowd = Arc::clone(&crowd);
            let (open, peak) = (Arc::clone(&open), Arc::clone(&peak));
            let begin = start + Duration::from_secs_f64(step * i as f64);
            tokio::spawn(async move {
                tokio::time::sleep_until(begin).await;
                client(&crowd, end, &open, &peak).await
            })
        })
        .collect();
    let mut report = Report::default();
    for c in clients {
        match c.await {
            Ok(c) => report.merge(c),
            Err(err) => report.error_samples.push(format!("client task: {err}")),
        }
    }
    done.store(true, Ordering::Relaxed);
    report.breakers_opened = watcher.await.unwrap_or_default();
    report.elapsed = start.elapsed();
    report.peak_open = peak.load(Ordering::Relaxed);
    report.latencies_us.sort_unstable();
    report
}

/// One keep-alive connection sending until `end`; reconnects when the server closes it.
async fn client(crowd: &Crowd, end: Instant, open: &AtomicUsize, peak: &AtomicUsize) -> Client {
    let mut me = Client::default();
    'connect: while Instant::now() < end {
        let stream = match TcpStream::connect(crowd.target).await {
            Ok(s) => s,
            Err(err) => {
                me.error(format!("connect: {err}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) =
            match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
                Ok(pair) => pair,
                Err(err) => {
                    me.error(format!("handshake: {err}"));
                    continue;
                }
            };
        let now_open = open.fetch_add(1, Ordering::Relaxed) + 1;
        peak.fetch_max(now_open, Ordering::Relaxed);
        let driver = tokio::spawn(connection);
        while Instant::now() < end {
            if sender.ready().await.is_err() {
                // The server closed the connection between requests (after `connection:
                // close`, or idle): open another.
                break;
            }
            let request = hyper::Request::post(crowd.path.as_str())
                .header("host", "crowd")
                .header("content-type", "application/json")
                .body(Full::new(crowd.body.clone()));
            let Ok(request) = request else {
                me.error("cannot build the request");
                break 'connect;
            };
            let sent = Instant::now();
            let response = match sender.send_request(request).await {
                Ok(r) => r,
                Err(err) => {
                    me.error(format!("request: {err}"));
                    break;
                }
            };
            let status = response.status().as_u16();
            let body = match response.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(err) => {
                    me.error(format!("body: {err}"));
                    break;
                }
            };
            *me.statuses.entry(status).or_insert(0) += 1;
            if (200..300).contains(&status) {
                me.latencies_us.push(sent.elapsed().as_micros() as u64);
            } else if status == 503 && contains(&body, b"\"overloaded\"") {
                me.overloaded += 1;
                // As a client told `Retry-After` would; the crowd stays as large.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        open.fetch_sub(1, Ordering::Relaxed);
        drop(sender);
        driver.abort();
    }
    me
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Reads every `/metrics` URL each second until `done`; returns breaker lines that were not 0.
async fn watch_breakers(urls: Vec<String>, done: Arc<AtomicBool>) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    while !done.load(Ordering::Relaxed) {
        for url in &urls {
            let Ok(response) = http.get(url).timeout(Duration::from_secs(5)).send().await else {
                continue;
            };
            let text = response.text().await.unwrap_or_default();
            for line in text.lines() {
                if line.starts_with("circuit_breaker_state{")
                    && !line.ends_with(" 0")
                    && !seen.iter().any(|s| s == line)
                {
                    seen.push(line.to_owned());
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    seen
}

/// The peak resident set of process `pid` (`VmHWM`), in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

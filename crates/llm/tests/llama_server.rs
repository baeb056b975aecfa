//! `LlmClient` against a real OpenAI-compatible server: llama-cpp-python's (llama.cpp inside)
//! serving Gemma 3 270M on CPU. Protocol, not accuracy: a 270M model routes poorly, but its answers
//! must come back through our validation.
//!
//! What this server supports (llama-cpp-python 0.3.36):
//! - forced tool calls: yes, with any template-based `--chat_format`: `tool_choice` constrains the
//!   output with a grammar built from the tool's parameters; `chatml-function-calling` is not
//!   needed (it also works, with a longer prompt);
//! - `response_format: {"type": "json_schema"}`: no. Only `text` and its own `json_object` (+
//!   `schema`) extension; `json_schema` is rejected by request validation as HTTP **500**. So
//!   `JsonSchema` mode fails with that status, and `Auto` falls back to the tool call.
//!
//! Flags: the GGUF has no chat template (llama-cpp-python would fall back to `llama-2`), and its
//! `gemma` format drops system messages, which hold our choices and rules: `--chat_format chatml`.
//! `--n_threads 1`: on two cores a second llama.cpp thread spins against the grammar sampling
//! (which runs on the main thread) and made a constrained answer ~20x slower here.
//!
//! Needs `scripts/setup-llm-server.sh` (once per machine); fails, never skips, without it.
//! One server per test process (a static); it exits with the process, as it watches its stdin.

// This reads where the machine keeps the model or the server, as a service started here would
// be told by its environment.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::{
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use intentmesh_llm::{Choice, Classification, LlmClient, LlmConfig, LlmError, StructuredMode};
use tokio::sync::OnceCell;

const SETUP: &str = "scripts/setup-llm-server.sh";
const STAMP: &str = ".intentmesh-complete";
const MODEL_FILE: &str = "gemma-3-270m-q4_k_m.gguf";
const MODEL_ALIAS: &str = "gemma-3-270m";
const STARTUP: Duration = Duration::from_secs(120);
/// Generous: a grammar-constrained answer takes ~4 s alone on two cores, more under a parallel
/// `make test`.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the server; the process exits when the test process does: a wrapper thread reads the
/// stdin pipe we hold and exits at EOF (statics are never dropped, so `Drop` alone is not enough).
const WATCHDOG: &str = "import os, runpy, sys, threading\n\
def watch():\n    sys.stdin.buffer.read()\n    os._exit(0)\n\
threading.Thread(target=watch, daemon=True).start()\n\
sys.argv = ['llama_cpp.server'] + sys.argv[1:]\n\
runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n";

static SERVER: OnceCell<LlamaServer> = OnceCell::const_new();

#[derive(Debug)]
struct LlamaServer {
    base_url: String,
    log: PathBuf,
    child: Mutex<Child>,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn server_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LLM_SERVER_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .expect("neither XDG_CACHE_HOME nor HOME is set");
    cache.join("intentmesh").join("llm-0.3.36")
}

fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

async fn server() -> &'static LlamaServer {
    SERVER.get_or_init(start).await
}

async fn start() -> LlamaServer {
    let dir = server_dir();
    let python = dir.join("bin").join("python");
    let model = dir.join(MODEL_FILE);
    for needed in [dir.join(STAMP), python.clone(), model.clone()] {
        assert!(
            needed.exists(),
            "the LLM server is not set up: {} is missing. Run `{SETUP}` (builds llama-cpp-python \
             and the Gemma 3 270M GGUF into {}, once per machine, several minutes), or point \
             LLM_SERVER_DIR at such a directory.",
            needed.display(),
            dir.display(),
        );
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free port on 127.0.0.1")
        .port();
    // In target/tmp: kept for a failed run's diagnosis, gone with `cargo clean`.
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("llama-server-{port}.log"));
    let log_file = fs::File::create(&log).expect("cannot create the server log file");
    let child = Command::new(&python)
        .arg("-c")
        .arg(WATCHDOG)
        .args(["--model", &model.to_string_lossy()])
        .args(["--model_alias", MODEL_ALIAS])
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--n_ctx", "2048", "--n_threads", "1"])
        .args(["--chat_format", "chatml"])
        .stdin(Stdio::piped())
        .stdout(log_file.try_clone().expect("cannot share the log file"))
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
    let server = LlamaServer {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        log,
        child: Mutex::new(child),
    };
    let started = Instant::now();
    let http = reqwest::Client::new();
    loop {
        let models = http
            .get(format!("{}/models", server.base_url))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if models.is_ok_and(|r| r.status().is_success()) {
            eprintln!(
                "llama-cpp-python server ready at {} after {:?} (log: {})",
                server.base_url,
                started.elapsed(),
                server.log.display()
            );
            return server;
        }
        if let Ok(Some(status)) = server.child.lock().expect("child lock").try_wait() {
            panic!(
                "the llama-cpp-python server exited ({status}) before answering; log {}:\n{}",
                server.log.display(),
                log_tail(&server.log)
            );
        }
        assert!(
            started.elapsed() < STARTUP,
            "the llama-cpp-python server did not answer GET /v1/models within {STARTUP:?}; log {}:\n{}",
            server.log.display(),
            log_tail(&server.log)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn choices() -> Vec<Choice> {
    vec![
        Choice::new("payment.pay", "Pay or send money to someone.")
            .with_examples(["pay 20 EUR to Bob", "send $15 to Alice"])
            .with_entities(["amount", "currency"]),
        Choice::new("search.products", "Find products in the catalogue.")
            .with_examples(["find running shoes under 100 USD", "show me laptops"])
            .with_entities(["query", "category", "min_price", "max_price"]),
    ]
}

fn client(base_url: String, structured: StructuredMode, max_tokens: u32) -> LlmClient {
    LlmClient::new(LlmConfig {
        base_url,
        api_key: None,
        model: MODEL_ALIAS.to_owned(),
        timeout: CALL_TIMEOUT,
        max_completion_tokens: max_tokens,
        max_prompt_tokens: 1_500,
        structured,
    })
    .expect("client config")
}

/// The answer with seven entities is ~70-90 tokens here; room for longer strings.
const MAX_TOKENS: u32 = 200;

async fn classify(client: &LlmClient, message: &str) -> Result<Classification, LlmError> {
    let started = Instant::now();
    let result = client.classify(message, &choices(), CALL_TIMEOUT).await;
    eprintln!(
        "classify({message:?}) in {:?}: {result:?}",
        started.elapsed()
    );
    result
}

/// Protocol checks on a real answer. `Ok`: validated intent, clamped confidence, clean entities,
/// reported usage (returns true). `Malformed`: the model's answer did not parse (returns false):
/// this model sometimes ends a grammar-constrained answer inside a string, by sampling its `</s>`
/// token (an end-of-generation token that the grammar takes for text). Anything else fails.
fn check(result: &Result<Classification, LlmError>, via: StructuredMode) -> bool {
    let c = match result {
        Ok(c) => c,
        Err(LlmError::Malformed(_)) => return false,
        Err(other) => panic!("expected a classification or Malformed, got {other:?}"),
    };
    let ids = ["payment.pay", "search.products"];
    assert!(
        c.intent.as_deref().is_none_or(|i| ids.contains(&i)),
        "intent outside the enum: {c:?}"
    );
    assert!((0.0..=1.0).contains(&c.confidence), "{c:?}");
    assert_eq!(c.via, via);
    let usage = c.usage.expect("llama-cpp-python reports usage");
    assert!(
        usage.prompt_tokens > 100 && usage.completion_tokens > 0,
        "{usage:?}"
    );
    for (key, value) in c.entities.iter() {
        assert!(
            value.is_none_or(|v| !v.is_empty() && v.chars().count() <= 200 && v == v.trim()),
            "{key}: {value:?}"
        );
    }
    true
}

#[tokio::test]
async fn tools_mode_returns_validated_classifications() {
    let server = server().await;
    let client = client(server.base_url.clone(), StructuredMode::Tools, MAX_TOKENS);
    let mut validated = 0;
    for message in ["pay 20 EUR to Bob", "find running shoes under 100 USD"] {
        if check(&classify(&client, message).await, StructuredMode::Tools) {
            validated += 1;
        }
    }
    assert!(validated > 0, "no answer of the forced tool call parsed");
}

#[tokio::test]
async fn json_schema_mode_is_refused_with_a_500() {
    let server = server().await;
    // Refused at request validation (no inference, so fast), and explicit modes do not fall back.
    let json_only = client(
        server.base_url.clone(),
        StructuredMode::JsonSchema,
        MAX_TOKENS,
    );
    let err = classify(&json_only, "hello there").await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Status { status: 500, message } if message.contains("response_format")),
        "{err:?}"
    );
    assert!(
        err.is_outage(),
        "a 500 is an outage for the breaker, even this one"
    );
}

#[tokio::test]
async fn auto_falls_back_to_the_tool_call() {
    let server = server().await;
    // One token cannot hold the answer: Malformed rather than the json_schema 500 shows that Auto
    // went on to the tool call (fast: one token of inference).
    let one_token = client(server.base_url.clone(), StructuredMode::Auto, 1);
    let err = classify(&one_token, "pay 20 EUR to Bob").await.unwrap_err();
    assert!(matches!(err, LlmError::Malformed(_)), "{err:?}");

    // A full answer, through a base URL with a trailing slash.
    let auto = client(
        format!("{}/", server.base_url),
        StructuredMode::Auto,
        MAX_TOKENS,
    );
    check(
        &classify(&auto, "pay 20 EUR to Bob").await,
        StructuredMode::Tools,
    );
}

#[tokio::test]
async fn a_base_url_without_v1_is_a_404_status() {
    let server = server().await;
    let base = server.base_url.trim_end_matches("/v1").to_owned();
    for mode in [StructuredMode::Auto, StructuredMode::Tools] {
        let err = classify(&client(base.clone(), mode, MAX_TOKENS), "pay 20 EUR to Bob")
            .await
            .unwrap_err();
        assert!(
            matches!(err, LlmError::Status { status: 404, .. }),
            "{mode}: {err:?}"
        );
        assert!(!err.is_outage());
    }
}

//! The client: budget check, one or two Chat Completions requests under one deadline, validation.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use tracing::debug;

use crate::{
    Choice, Classification, LlmConfig, LlmError, StructuredMode, answer,
    error::server_message,
    prompt::{self, Prompt},
    request::RequestBody,
    schema::{self, RouteSchema, Wire},
};

/// Larger answers are cut off: a classification is a few hundred bytes.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// What `Auto` learned about the server (stored in an atomic, shared by clones).
const LEARNED_NOTHING: u8 = 0;
const LEARNED_JSON_SCHEMA: u8 = 1;
const LEARNED_TOOLS: u8 = 2;

/// Cheap to clone; clones share the connection pool and what `Auto` learned.
#[derive(Debug, Clone)]
pub struct LlmClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: LlmConfig,
    url: String,
    http: reqwest::Client,
    learned: AtomicU8,
}

impl LlmClient {
    /// Checks the configuration and builds the HTTP client; no request is made.
    pub fn new(config: LlmConfig) -> Result<Self, LlmError> {
        let url = config.chat_completions_url();
        let parsed = reqwest::Url::parse(&url).map_err(|e| {
            LlmError::Config(format!("invalid base URL {:?}: {e}", config.base_url))
        })?;
        match parsed.scheme() {
            "http" => {}
            "https" if cfg!(feature = "rustls") => {}
            "https" => {
                return Err(LlmError::Config(
                    "https base URL, but intentmesh-llm was built without its `rustls` feature"
                        .to_owned(),
                ));
            }
            other => {
                return Err(LlmError::Config(format!(
                    "base URL scheme {other:?}: expected http or https"
                )));
            }
        }
        if config.model.trim().is_empty() {
            return Err(LlmError::Config("the model name is empty".to_owned()));
        }
        if config.timeout.is_zero()
            || config.max_completion_tokens == 0
            || config.max_prompt_tokens == 0
        {
            return Err(LlmError::Config(
                "timeout, max_completion_tokens and max_prompt_tokens must be positive".to_owned(),
            ));
        }
        let mut headers = HeaderMap::new();
        if let Some(key) = config
            .api_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            // The key never appears in errors or logs; `sensitive` keeps it out of Debug output.
            let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                LlmError::Config(
                    "the API key contains characters not allowed in a header".to_owned(),
                )
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                url,
                http,
                learned: AtomicU8::new(LEARNED_NOTHING),
            }),
        })
    }

    pub fn config(&self) -> &LlmConfig {
        &self.inner.config
    }

    /// Classifies `message` into one of `choices` or none. `timeout` is the most this call may
    /// take, fallback included (the caller passes `min(config.timeout, request budget left)`).
    /// Nothing is sent when the prompt is over budget.
    pub async fn classify(
        &self,
        message: &str,
        choices: &[Choice],
        timeout: Duration,
    ) -> Result<Classification, LlmError> {
        let schema = schema::route_schema(choices);
        let prompt = prompt::build(
            message,
            choices,
            &schema,
            self.inner.config.max_prompt_tokens,
        )?;
        let call = Call {
            inner: &self.inner,
            prompt: &prompt,
            schema: &schema,
            choices,
        };
        tokio::time::timeout(timeout, call.run())
            .await
            .unwrap_or(Err(LlmError::Timeout))
    }
}

/// One classification: what every attempt needs.
struct Call<'a> {
    inner: &'a Inner,
    prompt: &'a Prompt,
    schema: &'a RouteSchema,
    choices: &'a [Choice],
}

impl Call<'_> {
    async fn run(&self) -> Result<Classification, LlmError> {
        match self.inner.config.structured {
            StructuredMode::JsonSchema => self.attempt(Wire::JsonSchema).await,
            StructuredMode::Tools => self.attempt(Wire::Tools).await,
            StructuredMode::Auto => self.auto().await,
        }
    }

    /// Goes straight to what worked before; otherwise JSON schema, then the tool call when the
    /// server refused `response_format` or answered off-schema.
    async fn auto(&self) -> Result<Classification, LlmError> {
        let learned = &self.inner.learned;
        let remembered = match learned.load(Ordering::Relaxed) {
            LEARNED_JSON_SCHEMA => Some(Wire::JsonSchema),
            LEARNED_TOOLS => Some(Wire::Tools),
            _ => None,
        };
        if let Some(wire) = remembered {
            let result = self.attempt(wire).await;
            if matches!(&result, Err(e) if refuses_request(e)) {
                // The server behind the URL changed: probe again next time.
                learned.store(LEARNED_NOTHING, Ordering::Relaxed);
            }
            return result;
        }
        let first = match self.attempt(Wire::JsonSchema).await {
            Ok(classification) => {
                learned.store(LEARNED_JSON_SCHEMA, Ordering::Relaxed);
                return Ok(classification);
            }
            Err(e) if refuses_request(&e) || matches!(e, LlmError::Malformed(_)) => e,
            Err(e) => return Err(e),
        };
        // The kind only: a malformed answer's text may echo the user's message.
        debug!(
            reason = first.kind(),
            "json_schema did not work; trying the forced tool call"
        );
        let classification = self.attempt(Wire::Tools).await?;
        learned.store(LEARNED_TOOLS, Ordering::Relaxed);
        Ok(classification)
    }

    async fn attempt(&self, wire: Wire) -> Result<Classification, LlmError> {
        let config = &self.inner.config;
        let body = RequestBody::new(
            &config.model,
            config.max_completion_tokens,
            self.prompt,
            self.schema,
            wire,
        );
        let started = Instant::now();
        let mut response = self
            .inner
            .http
            .post(&self.inner.url)
            .json(&body)
            .send()
            .await
            .map_err(LlmError::from_reqwest)?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(LlmError::from_reqwest)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(LlmError::Malformed(format!(
                    "the answer is larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        debug!(
            mode = wire.mode().as_str(),
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            estimated_prompt_tokens = self.prompt.estimated_tokens,
            "chat completion"
        );
        if !status.is_success() {
            return Err(LlmError::Status {
                status: status.as_u16(),
                message: server_message(&bytes),
            });
        }
        answer::parse(&bytes, wire, self.choices)
    }
}

/// A refusal of the request's shape rather than an outage: 400, 404, 422, 501; and the 500
/// llama-cpp-python's server answers for a `response_format` it cannot validate (its validation
/// errors come back as 500 naming the field).
fn refuses_request(error: &LlmError) -> bool {
    match error {
        LlmError::Status { status, message } => {
            matches!(status, 400 | 404 | 422 | 501)
                || (*status == 500 && message.contains("response_format"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base_url: &str) -> LlmConfig {
        LlmConfig {
            base_url: base_url.to_owned(),
            ..LlmConfig::default()
        }
    }

    #[test]
    fn new_rejects_bad_configuration() {
        for bad in [
            config("localhost:11434/v1"),
            config("ftp://example.com/v1"),
            config("not a url"),
            LlmConfig {
                model: " ".into(),
                ..config("http://localhost/v1")
            },
            LlmConfig {
                timeout: Duration::ZERO,
                ..config("http://localhost/v1")
            },
            LlmConfig {
                api_key: Some("sk-\nsecret".into()),
                ..config("http://localhost/v1")
            },
        ] {
            let err = LlmClient::new(bad.clone()).unwrap_err();
            assert!(matches!(err, LlmError::Config(_)), "{bad:?}: {err:?}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
        assert!(LlmClient::new(config("http://127.0.0.1:8080/v1/")).is_ok());
    }

    #[test]
    fn https_needs_the_rustls_feature() {
        let result = LlmClient::new(LlmConfig::default());
        if cfg!(feature = "rustls") {
            assert!(result.is_ok(), "{result:?}");
        } else {
            assert!(matches!(result, Err(LlmError::Config(_))), "{result:?}");
        }
    }

    #[test]
    fn refusals_of_the_request_shape() {
        let status = |status: u16, message: &str| LlmError::Status {
            status,
            message: message.to_owned(),
        };
        for code in [400, 404, 422, 501] {
            assert!(refuses_request(&status(code, "")), "{code}");
        }
        assert!(refuses_request(&status(
            500,
            "1 validation error: ('body', 'response_format', 'type')"
        )));
        assert!(!refuses_request(&status(500, "out of memory")));
        assert!(!refuses_request(&status(401, "")));
        assert!(!refuses_request(&LlmError::Timeout));
    }
}

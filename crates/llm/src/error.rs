//! Why a classification failed, and whether that counts as an outage of the LLM server.

/// Longest server error message kept in [`LlmError::Status`] (in characters).
pub(crate) const MAX_ERROR_MESSAGE_CHARS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The call took longer than the `timeout` given to `classify`.
    #[error("the LLM server did not answer in time")]
    Timeout,
    /// Connecting, sending or reading failed.
    #[error("could not reach the LLM server")]
    Transport(#[source] reqwest::Error),
    /// A non-2xx answer; `message` is the server's error message, truncated.
    #[error("the LLM server answered {status}: {message}")]
    Status { status: u16, message: String },
    /// A 2xx answer that is not a usable classification (not JSON, off-schema, unknown intent).
    #[error("unusable LLM answer: {0}")]
    Malformed(String),
    /// The prompt did not fit `max_prompt_tokens` even shortened; nothing was sent.
    #[error("the prompt needs about {estimated} tokens, over the budget of {limit}")]
    OverBudget { estimated: u32, limit: u32 },
    #[error("invalid LLM configuration: {0}")]
    Config(String),
}

impl LlmError {
    /// Whether this should count against a circuit breaker: timeouts, transport failures, 5xx,
    /// 408 and 429. Not the answer's content (`Malformed`: the server is up), not budget, config
    /// or other 4xx (ours to fix, and retrying elsewhere will not help).
    pub fn is_outage(&self) -> bool {
        match self {
            Self::Timeout | Self::Transport(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Self::Malformed(_) | Self::OverBudget { .. } | Self::Config(_) => false,
        }
    }

    /// A bounded metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Transport(_) => "transport",
            Self::Status { status: 429, .. } => "rate_limited",
            Self::Status { status, .. } if *status >= 500 => "server_error",
            Self::Status { .. } => "client_error",
            Self::Malformed(_) => "malformed",
            Self::OverBudget { .. } => "over_budget",
            Self::Config(_) => "config",
        }
    }

    pub(crate) fn from_reqwest(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else {
            Self::Transport(error)
        }
    }
}

/// `text` cut to `max` characters (on a character boundary), with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

/// The message of an error body: OpenAI's `{"error": {"message"}}`, `{"error": "…"}`, FastAPI's
/// `{"detail": …}`, or the text itself; whitespace collapsed, truncated.
pub(crate) fn server_message(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => {
            let found = [
                json.pointer("/error/message"),
                json.get("error"),
                json.get("detail"),
                json.get("message"),
            ]
            .into_iter()
            .flatten()
            .find(|v| !v.is_null() && !v.is_object());
            match found {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => json.to_string(),
            }
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&collapsed, MAX_ERROR_MESSAGE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> LlmError {
        LlmError::Status {
            status,
            message: String::new(),
        }
    }

    #[test]
    fn outages_are_timeouts_5xx_and_rate_limits() {
        assert!(LlmError::Timeout.is_outage());
        for code in [500, 502, 503, 429, 408] {
            assert!(status(code).is_outage(), "{code}");
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(!status(code).is_outage(), "{code}");
        }
        assert!(!LlmError::Malformed(String::new()).is_outage());
        assert!(
            !LlmError::OverBudget {
                estimated: 2,
                limit: 1
            }
            .is_outage()
        );
        assert!(!LlmError::Config(String::new()).is_outage());
    }

    #[test]
    fn kinds_are_bounded_labels() {
        assert_eq!(status(429).kind(), "rate_limited");
        assert_eq!(status(503).kind(), "server_error");
        assert_eq!(status(401).kind(), "client_error");
        assert_eq!(LlmError::Timeout.kind(), "timeout");
    }

    #[test]
    fn server_messages_are_extracted_and_truncated() {
        assert_eq!(
            server_message(br#"{"error":{"message":"Incorrect API key","type":"invalid"}}"#),
            "Incorrect API key"
        );
        assert_eq!(
            server_message(br#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(server_message(br#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(server_message(b"Bad  Gateway\n"), "Bad Gateway");
        let long = server_message("é".repeat(500).as_bytes());
        assert_eq!(long.chars().count(), MAX_ERROR_MESSAGE_CHARS + 1);
        assert!(long.ends_with('…'));
    }
}

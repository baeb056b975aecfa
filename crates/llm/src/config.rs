//! Settings of the client: plain data (the root agent reads them from its environment), validated
//! by [`crate::LlmClient::new`].

use std::{fmt, str::FromStr, time::Duration};

/// How the client asks for structured output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StructuredMode {
    /// JSON schema first; the forced tool call when the server refuses it or answers off-schema.
    Auto,
    /// `response_format: {"type": "json_schema", "json_schema": {"strict": true, …}}` only.
    JsonSchema,
    /// A forced call of the `route` tool (`tool_choice: {"type": "function", …}`) only.
    Tools,
}

impl StructuredMode {
    /// The spelling of `LLM_STRUCTURED_OUTPUT` (also a metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::JsonSchema => "json_schema",
            Self::Tools => "tools",
        }
    }
}

impl fmt::Display for StructuredMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StructuredMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "auto" => Ok(Self::Auto),
            "json_schema" => Ok(Self::JsonSchema),
            "tools" | "tool" => Ok(Self::Tools),
            _ => Err("expected auto, json_schema or tools".to_owned()),
        }
    }
}

/// Settings of [`crate::LlmClient`]. `Debug` never shows the API key.
#[derive(Clone)]
pub struct LlmConfig {
    /// Requests go to `{base_url without trailing '/'}/chat/completions` (the OpenAI SDK
    /// convention: Ollama `http://host:11434/v1`, vLLM `http://host:8000/v1`, llama.cpp
    /// `http://host:8080/v1`).
    pub base_url: String,
    /// `Authorization: Bearer <key>`; blank counts as unset.
    pub api_key: Option<String>,
    pub model: String,
    /// The most one `classify` may take; callers pass `min(timeout, request budget left)`.
    pub timeout: Duration,
    /// Sent as `max_tokens`.
    pub max_completion_tokens: u32,
    /// Estimated prompt tokens allowed per request; over it nothing is sent.
    pub max_prompt_tokens: u32,
    pub structured: StructuredMode,
}

impl LlmConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.openai.com/v1";
    pub const DEFAULT_MODEL: &'static str = "gpt-4o-mini";
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// The answer is a small JSON object (about 60-90 tokens with every entity null).
    pub const DEFAULT_MAX_COMPLETION_TOKENS: u32 = 200;
    pub const DEFAULT_MAX_PROMPT_TOKENS: u32 = 2_000;

    /// `{base_url trimmed of trailing '/'}/chat/completions`.
    pub fn chat_completions_url(&self) -> String {
        format!(
            "{}/chat/completions",
            self.base_url.trim().trim_end_matches('/')
        )
    }
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            api_key: None,
            model: Self::DEFAULT_MODEL.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
            max_completion_tokens: Self::DEFAULT_MAX_COMPLETION_TOKENS,
            max_prompt_tokens: Self::DEFAULT_MAX_PROMPT_TOKENS,
            structured: StructuredMode::Auto,
        }
    }
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_completion_tokens", &self.max_completion_tokens)
            .field("max_prompt_tokens", &self.max_prompt_tokens)
            .field("structured", &self.structured)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_key() {
        let config = LlmConfig {
            api_key: Some("sk-very-secret".to_owned()),
            ..LlmConfig::default()
        };
        let debug = format!("{config:?}");
        assert!(!debug.contains("sk-very-secret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
}

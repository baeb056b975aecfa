//! The LLM stage of the root agent's routing cascade: a small client for the OpenAI-compatible Chat
//! Completions API (OpenAI, Ollama, vLLM, llama.cpp's server) that classifies a user message into
//! one of the agents' skills ([`Choice`]) or "none", with entities, through structured output.
//!
//! Structured output comes either from a strict JSON-schema `response_format` or from a forced call
//! of a `route` tool whose parameters are the same schema. [`StructuredMode::Auto`] tries the schema
//! first and falls back to the tool call when the server refuses `response_format` or answers with
//! something that is not the schema, within the same deadline, and remembers what worked.
//!
//! Nothing is sent when the prompt does not fit the token budget ([`LlmError::OverBudget`]); every
//! answer is validated (the intent must be one of the choices) before it becomes a
//! [`Classification`]. The feature `fake` adds [`fake::FakeOpenAi`], a test server.

mod answer;
mod client;
mod config;
mod error;
mod prompt;
mod request;
mod schema;
mod types;

#[cfg(feature = "fake")]
pub mod fake;

pub use client::LlmClient;
pub use config::{LlmConfig, StructuredMode};
pub use error::LlmError;
pub use types::{Choice, Classification, RawEntities, Usage};

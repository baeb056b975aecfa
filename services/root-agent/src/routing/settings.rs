//! The routing settings: which stages run, their thresholds, the embedding model, the LLM, the
//! classification cache and conversations.

use std::{path::PathBuf, time::Duration};

use intentmesh_core::{
    config::{ConfigError, Env, max_message_chars, parse_between, parse_or, seconds_or},
    resilience::{BreakerConfig, BreakerConfigs},
};
use intentmesh_llm::{LlmConfig, StructuredMode};

use super::Stage;

pub(crate) const OPENAI_BASE_URL: &str = "OPENAI_BASE_URL";
pub(crate) const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
pub(crate) const ROUTER_STAGES: &str = "ROUTER_STAGES";
pub(crate) const ROUTER_MIN_CONFIDENCE: &str = "ROUTER_MIN_CONFIDENCE";
pub(crate) const ROUTER_AMBIGUITY_MARGIN: &str = "ROUTER_AMBIGUITY_MARGIN";
pub(crate) const ROUTER_EMBEDDINGS_MIN_CONFIDENCE: &str = "ROUTER_EMBEDDINGS_MIN_CONFIDENCE";
pub(crate) const ROUTER_LLM_MIN_CONFIDENCE: &str = "ROUTER_LLM_MIN_CONFIDENCE";
pub(crate) const EMBEDDING_MODEL_DIR: &str = "EMBEDDING_MODEL_DIR";
pub(crate) const EMBEDDING_MAX_BATCH: &str = "EMBEDDING_MAX_BATCH";
pub(crate) const LLM_MODEL: &str = "LLM_MODEL";
pub(crate) const LLM_TIMEOUT_SECS: &str = "LLM_TIMEOUT_SECS";
pub(crate) const LLM_MAX_TOKENS: &str = "LLM_MAX_TOKENS";
pub(crate) const LLM_MAX_PROMPT_TOKENS: &str = "LLM_MAX_PROMPT_TOKENS";
pub(crate) const LLM_STRUCTURED_OUTPUT: &str = "LLM_STRUCTURED_OUTPUT";
pub(crate) const ROUTE_CACHE_TTL_SECS: &str = "ROUTE_CACHE_TTL_SECS";
pub(crate) const ROUTE_CACHE_MAX_ENTRIES: &str = "ROUTE_CACHE_MAX_ENTRIES";
pub(crate) const CONVERSATION_MAX_TURNS: &str = "CONVERSATION_MAX_TURNS";
pub(crate) const CONVERSATION_TTL_SECS: &str = "CONVERSATION_TTL_SECS";

const OPENAI: &str = LlmConfig::DEFAULT_BASE_URL;

#[derive(Debug, Clone)]
pub struct RoutingConfig {
    /// `ROUTER_STAGES`: the cascade's stages in order (`rules`, `context`, `embeddings`, `llm`).
    pub stages: Vec<Stage>,
    /// Whether `stages` are the defaults (`ROUTER_STAGES` unset): a default embedding stage whose
    /// model is missing is left out with a warning; one asked for by name stops the start.
    pub stages_defaulted: bool,
    /// `ROUTER_MIN_CONFIDENCE` (0–1): the rules' threshold, and the least any answer needs.
    pub min_confidence: f64,
    /// `ROUTER_AMBIGUITY_MARGIN`: closer answers ask for clarification.
    pub ambiguity_margin: f64,
    /// `MAX_MESSAGE_CHARS` (as the gateway's): longer messages are refused before any parsing,
    /// also when they come over gRPC without the gateway.
    pub max_message_chars: usize,
    /// `ROUTER_EMBEDDINGS_MIN_CONFIDENCE`.
    pub embeddings_min_confidence: f64,
    /// `ROUTER_LLM_MIN_CONFIDENCE`.
    pub llm_min_confidence: f64,
    /// `EMBEDDING_MODEL_DIR`: all-MiniLM-L6-v2's files (scripts/fetch-embedding-model.sh).
    pub model_dir: PathBuf,
    /// `EMBEDDING_MAX_BATCH`: messages embedded in one forward pass at most.
    pub max_batch: usize,
    /// `OPENAI_BASE_URL`, `OPENAI_API_KEY`, `LLM_MODEL`, `LLM_TIMEOUT_SECS`, `LLM_MAX_TOKENS`,
    /// `LLM_MAX_PROMPT_TOKENS`, `LLM_STRUCTURED_OUTPUT`.
    pub llm: LlmConfig,
    /// `CIRCUIT_LLM_*` (or `CIRCUIT_*`).
    pub llm_breaker: BreakerConfig,
    /// `ROUTE_CACHE_TTL_SECS` (0: no cache).
    pub cache_ttl: Duration,
    /// `ROUTE_CACHE_MAX_ENTRIES`: the in-memory cache's bound (Redis expires by time alone).
    pub cache_max_entries: u64,
    /// `CONVERSATION_MAX_TURNS` (0: no conversation context).
    pub conversation_turns: usize,
    /// `CONVERSATION_TTL_SECS`: a session is forgotten after this long without a turn.
    pub conversation_ttl: Duration,
}

/// The embedding stage exists in this build (cargo feature `embeddings`).
pub const EMBEDDINGS_BUILT: bool = cfg!(feature = "embeddings");

fn default_model_dir(env: &impl Env) -> PathBuf {
    #[cfg(feature = "embeddings")]
    {
        intentmesh_embeddings::default_model_dir(|name| env.get(name))
    }
    // No embedding stage in this build: the directory is never read.
    #[cfg(not(feature = "embeddings"))]
    {
        let _ = env;
        PathBuf::new()
    }
}

impl RoutingConfig {
    /// Reads the routing settings; the LLM's breaker is `breakers`' `llm` (`CIRCUIT_LLM_*`).
    pub fn from_env(env: &impl Env, breakers: &BreakerConfigs) -> Result<Self, ConfigError> {
        let base_url = env.get(OPENAI_BASE_URL).filter(|u| !u.trim().is_empty());
        let api_key = env.get(OPENAI_API_KEY).filter(|k| !k.is_empty());
        let llm_configured = base_url.is_some() || api_key.is_some();
        let stages_defaulted = env.get(ROUTER_STAGES).is_none();
        let stages = match env.get(ROUTER_STAGES) {
            Some(raw) => {
                parse_stages(&raw).map_err(|r| ConfigError::new(ROUTER_STAGES, &raw, r))?
            }
            None => {
                let mut stages = vec![Stage::Rules, Stage::Context];
                if EMBEDDINGS_BUILT {
                    stages.push(Stage::Embeddings);
                }
                if llm_configured {
                    stages.push(Stage::Llm);
                }
                stages
            }
        };
        let base_url = base_url.unwrap_or_else(|| OPENAI.to_owned());
        if stages.contains(&Stage::Llm) && api_key.is_none() && base_url.starts_with(OPENAI) {
            return Err(ConfigError::secret(
                OPENAI_API_KEY,
                "the llm stage needs a key for api.openai.com (or set OPENAI_BASE_URL to a local server)",
            ));
        }
        Ok(Self {
            stages,
            stages_defaulted,
            min_confidence: parse_between(env, ROUTER_MIN_CONFIDENCE, 0.5, 0.0..=1.0)?,
            ambiguity_margin: parse_between(env, ROUTER_AMBIGUITY_MARGIN, 0.1, 0.0..=1.0)?,
            max_message_chars: max_message_chars(env)?,
            embeddings_min_confidence: parse_between(
                env,
                ROUTER_EMBEDDINGS_MIN_CONFIDENCE,
                0.6,
                0.0..=1.0,
            )?,
            llm_min_confidence: parse_between(env, ROUTER_LLM_MIN_CONFIDENCE, 0.5, 0.0..=1.0)?,
            model_dir: env
                .get(EMBEDDING_MODEL_DIR)
                .map_or_else(|| default_model_dir(env), PathBuf::from),
            max_batch: parse_between(env, EMBEDDING_MAX_BATCH, 16, 1..=256)?,
            llm: LlmConfig {
                base_url,
                api_key,
                model: env
                    .get(LLM_MODEL)
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| LlmConfig::DEFAULT_MODEL.to_owned()),
                timeout: seconds_or(env, LLM_TIMEOUT_SECS, LlmConfig::DEFAULT_TIMEOUT)?,
                max_completion_tokens: parse_or(
                    env,
                    LLM_MAX_TOKENS,
                    LlmConfig::DEFAULT_MAX_COMPLETION_TOKENS,
                )?,
                max_prompt_tokens: parse_or(
                    env,
                    LLM_MAX_PROMPT_TOKENS,
                    LlmConfig::DEFAULT_MAX_PROMPT_TOKENS,
                )?,
                structured: parse_or(env, LLM_STRUCTURED_OUTPUT, StructuredMode::Auto)?,
            },
            llm_breaker: breakers.for_target("llm"),
            cache_ttl: seconds_or(env, ROUTE_CACHE_TTL_SECS, Duration::from_secs(3600))?,
            cache_max_entries: parse_or(env, ROUTE_CACHE_MAX_ENTRIES, 10_000)?,
            conversation_turns: parse_or(env, CONVERSATION_MAX_TURNS, 10)?,
            conversation_ttl: seconds_or(env, CONVERSATION_TTL_SECS, Duration::from_secs(1800))?,
        })
    }
}

/// `rules,context,embeddings,llm`, in any order the caller wants, each at most once.
pub fn parse_stages(raw: &str) -> Result<Vec<Stage>, String> {
    let mut stages = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let stage = match name {
            "rules" => Stage::Rules,
            "context" => Stage::Context,
            "embeddings" if EMBEDDINGS_BUILT => Stage::Embeddings,
            "embeddings" => {
                return Err(
                    "this build has no embedding stage (cargo feature `embeddings`)".into(),
                );
            }
            "llm" => Stage::Llm,
            other => {
                return Err(format!(
                    "unknown stage {other:?} (rules, context, embeddings, llm)"
                ));
            }
        };
        if stages.contains(&stage) {
            return Err(format!("stage {name} is listed twice"));
        }
        stages.push(stage);
    }
    Ok(stages)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<RoutingConfig, ConfigError> {
        let env: HashMap<&str, &str> = vars.iter().copied().collect();
        RoutingConfig::from_env(&env, &BreakerConfigs::from_env(&env, &["llm"]).unwrap())
    }

    #[test]
    fn the_llm_joins_the_default_stages_when_configured() {
        let plain = config(&[]).unwrap();
        assert_eq!(plain.stages[..2], [Stage::Rules, Stage::Context]);
        assert_eq!(plain.stages.contains(&Stage::Embeddings), EMBEDDINGS_BUILT);
        assert!(!plain.stages.contains(&Stage::Llm));
        let local = config(&[("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")]).unwrap();
        assert_eq!(local.stages.last(), Some(&Stage::Llm));
        assert_eq!(local.llm.api_key, None);
        let empty = config(&[("OPENAI_BASE_URL", " "), ("OPENAI_API_KEY", "")]).unwrap();
        assert!(
            !empty.stages.contains(&Stage::Llm),
            "empty values are unset"
        );
    }

    #[test]
    fn openai_itself_needs_a_key() {
        let err = config(&[("ROUTER_STAGES", "rules,llm")]).unwrap_err();
        assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
        assert!(config(&[("ROUTER_STAGES", "rules,llm"), ("OPENAI_API_KEY", "sk-x")]).is_ok());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("ROUTER_STAGES", "rules,magic"),
            ("ROUTER_STAGES", "rules,rules"),
            ("ROUTER_EMBEDDINGS_MIN_CONFIDENCE", "1.5"),
            ("LLM_STRUCTURED_OUTPUT", "xml"),
            ("EMBEDDING_MAX_BATCH", "0"),
            ("LLM_TIMEOUT_SECS", "soon"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert!(err.to_string().contains(var), "{var}: {err}");
        }
        if !EMBEDDINGS_BUILT {
            assert!(config(&[("ROUTER_STAGES", "embeddings")]).is_err());
        }
    }
}

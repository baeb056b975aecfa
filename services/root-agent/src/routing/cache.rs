//! The classification cache: what the expensive stages (embeddings, LLM) concluded for a
//! message, by its normalised text, so the same question costs them once per time to live. The
//! key includes a fingerprint of everything that could change the answer — the agents' cards and
//! the stage settings — so a new agent or threshold never serves an old answer.

use std::sync::Arc;

use bytes::Bytes;
use intentmesh_core::agent::Entities;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Decision, Verdict};
use crate::state::{RouteCache, StateError};

/// A cached classification: JSON of the verdict and the entities the deciding stage read.
#[derive(Serialize, Deserialize)]
struct Stored {
    verdict: Verdict,
    #[serde(default)]
    entities: Option<Entities>,
}

#[derive(Debug, Clone)]
pub(crate) struct Cache {
    store: Arc<dyn RouteCache>,
    fingerprint: String,
}

/// Lower case, one space between words, no surrounding punctuation: "Pay $5 !" and "pay $5" are
/// one question.
pub(crate) fn normalise(message: &str) -> String {
    message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .trim_matches(|c: char| c.is_whitespace() || matches!(c, '.' | '!' | '?' | ',' | ';'))
        .to_owned()
}

impl Cache {
    /// `fingerprint`: anything that, when it changes, must invalidate every cached answer.
    pub(crate) fn new(store: Arc<dyn RouteCache>, fingerprint: &[u8]) -> Self {
        Self {
            store,
            fingerprint: hex::encode(&Sha256::digest(fingerprint)[..8]),
        }
    }

    pub(crate) fn key(&self, message: &str) -> String {
        let digest = Sha256::digest(normalise(message).as_bytes());
        format!("{}:{}", self.fingerprint, hex::encode(digest))
    }

    /// A cached decision; an entry that cannot be read counts as a miss.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Decision>, StateError> {
        let Some(raw) = self.store.get(key).await? else {
            return Ok(None);
        };
        let stored: Stored = match serde_json::from_slice(&raw) {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(%err, "ignoring an unreadable cached classification");
                return Ok(None);
            }
        };
        Ok(Some(Decision {
            verdict: stored.verdict,
            entities: stored.entities,
            cached: true,
            degraded: Vec::new(),
        }))
    }

    pub(crate) async fn put(&self, key: &str, decision: &Decision) -> Result<(), StateError> {
        let stored = Stored {
            verdict: decision.verdict.clone(),
            entities: decision.entities.clone(),
        };
        let bytes = serde_json::to_vec(&stored).map_err(|e| StateError::Corrupt(Box::new(e)))?;
        self.store.put(key, Bytes::from(bytes)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_keeps_meaning_and_drops_noise() {
        assert_eq!(normalise("  Pay $5   for ORDER 7 ! "), "pay $5 for order 7");
        assert_eq!(normalise("hello?"), "hello");
        assert_ne!(normalise("pay $5"), normalise("pay $50"));
    }
}

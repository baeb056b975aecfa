//! Sentence embeddings for the root agent's routing cascade: all-MiniLM-L6-v2 run in pure Rust
//! (candle on the CPU, the `tokenizers` crate), giving what sentence-transformers gives.
//!
//! The model files are fetched once by `scripts/fetch-embedding-model.sh` and pinned by sha256 in
//! this crate's `SHA256SUMS`; [`Embedder::load`] refuses anything else. [`Embedder`] embeds a slice
//! in one forward pass; [`BatchEmbedder`] gathers concurrent async callers into such passes.

mod batch;
mod checksum;
mod embedder;
mod error;

use std::path::PathBuf;

pub use batch::BatchEmbedder;
pub use embedder::Embedder;
pub use error::{EmbedError, TokenizerError};

/// Components of every embedding.
pub const DIMENSIONS: usize = 384;

/// Default place of the model files: `${XDG_CACHE_HOME:-$HOME/.cache}/intentmesh/models/all-minilm-l6-v2`,
/// as the fetch script uses, with the variables read through `var` (the caller's environment;
/// `$EMBEDDING_MODEL_DIR` is the caller's too). With neither variable set, the path is relative
/// to the working directory.
pub fn default_model_dir(var: impl Fn(&str) -> Option<String>) -> PathBuf {
    // As the shell's `:-`, an empty variable counts as unset.
    let set = |name| var(name).filter(|value| !value.is_empty());
    let cache = set("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| {
        set("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".cache")
    });
    cache.join("intentmesh/models/all-minilm-l6-v2")
}

/// Cosine similarity of two vectors; 0.0 when either is all zeros or their lengths differ.
/// For [`Embedder`] output (unit length) it equals the dot product.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (dot, norm_a, norm_b) = a
        .iter()
        .zip(b)
        .fold((0.0f32, 0.0f32, 0.0f32), |(dot, na, nb), (x, y)| {
            (dot + x * y, na + x * x, nb + y * y)
        });
    let norms = (norm_a * norm_b).sqrt();
    if norms == 0.0 { 0.0 } else { dot / norms }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 2.0]).abs() < 1e-6);
        assert!((cosine(&[1.0, 1.0], &[-2.0, -2.0]) + 1.0).abs() < 1e-6);
        assert!((cosine(&[3.0, 4.0], &[4.0, 3.0]) - 0.96).abs() < 1e-6);
    }

    #[test]
    fn cosine_of_degenerate_vectors_is_zero() {
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[], &[]), 0.0);
    }

    #[test]
    fn default_dir_ends_in_the_model_name() {
        let cache = |name: &str| (name == "XDG_CACHE_HOME").then(|| "/var/cache".to_owned());
        assert_eq!(
            default_model_dir(cache),
            PathBuf::from("/var/cache/intentmesh/models/all-minilm-l6-v2")
        );
        let home = |name: &str| (name == "HOME").then(|| "/home/u".to_owned());
        assert_eq!(
            default_model_dir(home),
            PathBuf::from("/home/u/.cache/intentmesh/models/all-minilm-l6-v2")
        );
    }
}

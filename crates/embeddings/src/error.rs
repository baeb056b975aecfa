//! What can go wrong loading or running the model.

use std::fmt;
use std::path::PathBuf;

/// The script that puts the model files in place; every "missing file" message names it.
pub(crate) const FETCH_SCRIPT: &str = "scripts/fetch-embedding-model.sh";

/// Why the embedder could not load or answer.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is not where it should be.
    #[error(
        "model file {} is missing: fetch the model with `{FETCH_SCRIPT} {}`",
        path.display(),
        dir.display()
    )]
    MissingFile {
        /// The file that was looked for.
        path: PathBuf,
        /// The model directory, to pass to the fetch script.
        dir: PathBuf,
    },
    /// A model file exists but could not be read.
    #[error("cannot read model file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A model file is not the one pinned in `SHA256SUMS` (tampered with, truncated, or another version).
    #[error(
        "model file {} fails its checksum (expected sha256 {expected}, got {actual}): \
         delete it and run `{FETCH_SCRIPT}`",
        path.display()
    )]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// The pinned digest, lowercase hex.
        expected: String,
        /// The digest of what is on disk, lowercase hex.
        actual: String,
    },
    /// `config.json` is not a BERT configuration.
    #[error("cannot parse the model configuration")]
    Config(#[source] serde_json::Error),
    /// The weights could not be turned into the model.
    #[error("cannot load the model weights")]
    LoadModel(#[source] candle_core::Error),
    /// `tokenizer.json` could not be loaded.
    #[error("cannot load the tokenizer")]
    LoadTokenizer(#[source] TokenizerError),
    /// The tokenizer refused an input.
    #[error("cannot tokenize the input")]
    Tokenize(#[source] TokenizerError),
    /// The forward pass or pooling failed.
    #[error("inference failed")]
    Inference(#[source] candle_core::Error),
    /// The [`BatchEmbedder`](crate::BatchEmbedder) worker thread is gone (it could not start or it panicked).
    #[error("the batch embedder's worker thread has stopped")]
    WorkerStopped,
}

/// An error from the `tokenizers` crate (kept opaque: that crate's error is a boxed trait object).
pub struct TokenizerError(tokenizers::Error);

impl TokenizerError {
    pub(crate) fn new(inner: tokenizers::Error) -> Self {
        Self(inner)
    }
}

impl fmt::Debug for TokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for TokenizerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

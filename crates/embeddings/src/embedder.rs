//! The model: tokenizer + BERT encoder + mean pooling + L2 normalisation, as sentence-transformers
//! runs all-MiniLM-L6-v2.

use std::fmt;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::checksum::read_verified;
use crate::error::TokenizerError;
use crate::{DIMENSIONS, EmbedError};

const CONFIG: &str = "config.json";
const TOKENIZER: &str = "tokenizer.json";
const WEIGHTS: &str = "model.safetensors";
/// Every file `load` reads, each pinned in `SHA256SUMS`.
#[cfg(test)]
pub(crate) const MODEL_FILES: [&str; 3] = [CONFIG, TOKENIZER, WEIGHTS];

/// Longer inputs are cut here: the length all-MiniLM-L6-v2 was trained on.
const MAX_TOKENS: usize = 128;

/// all-MiniLM-L6-v2 on the CPU, loaded once and shared (`Send + Sync`).
///
/// `embed` is CPU-bound: call it from a blocking thread, or go through a
/// [`BatchEmbedder`](crate::BatchEmbedder) from async code.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dir: PathBuf,
}

// The batcher moves the embedder to its thread and the root agent shares it: keep that true.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Embedder>();
};

impl fmt::Debug for Embedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedder")
            .field("dir", &self.dir)
            .field("device", &self.device)
            .field("max_tokens", &MAX_TOKENS)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads the model from `dir` (see [`default_model_dir`](crate::default_model_dir)), after checking
    /// every file against its pinned sha256.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        // All three are verified before any is parsed.
        let config = read_verified(dir, CONFIG)?;
        let tokenizer = read_verified(dir, TOKENIZER)?;
        let weights = read_verified(dir, WEIGHTS)?;

        let config: Config = serde_json::from_slice(&config).map_err(EmbedError::Config)?;
        let tokenizer = configure(
            Tokenizer::from_bytes(tokenizer)
                .map_err(|e| EmbedError::LoadTokenizer(TokenizerError::new(e)))?,
        )?;
        let device = Device::Cpu;
        let weights = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(EmbedError::LoadModel)?;
        let model = BertModel::load(weights, &config).map_err(EmbedError::LoadModel)?;
        Ok(Self {
            model,
            tokenizer,
            device,
            dir: dir.to_path_buf(),
        })
    }

    /// One forward pass for the whole slice (padded to its longest, truncated at 128 tokens),
    /// mean pooling over the attention mask, L2-normalised: what sentence-transformers gives.
    /// Each vector has [`DIMENSIONS`] components.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch_fast(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenize(TokenizerError::new(e)))?;
        // Padding makes every encoding as long as the longest.
        let len = encodings.first().map_or(0, |e| e.len());
        let mut ids = Vec::with_capacity(texts.len() * len);
        let mut type_ids = Vec::with_capacity(texts.len() * len);
        let mut mask = Vec::with_capacity(texts.len() * len);
        for encoding in &encodings {
            ids.extend_from_slice(encoding.get_ids());
            type_ids.extend_from_slice(encoding.get_type_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
        }
        self.forward(ids, type_ids, mask, (texts.len(), len))
            .map_err(EmbedError::Inference)
    }

    fn forward(
        &self,
        ids: Vec<u32>,
        type_ids: Vec<u32>,
        mask: Vec<u32>,
        shape: (usize, usize),
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let ids = Tensor::from_vec(ids, shape, &self.device)?;
        let type_ids = Tensor::from_vec(type_ids, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        // (batch, tokens, DIMENSIONS)
        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;

        // Mean over the real tokens only (padding has mask 0).
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
        let mean = summed.broadcast_div(&counts)?;

        // L2, with torch.nn.functional.normalize's epsilon.
        let norms = mean
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        let vectors = mean.broadcast_div(&norms)?.to_vec2::<f32>()?;
        debug_assert!(vectors.iter().all(|v| v.len() == DIMENSIONS));
        Ok(vectors)
    }
}

/// Pads each batch to its longest input rather than the file's fixed 128, and truncates at
/// [`MAX_TOKENS`].
fn configure(mut tokenizer: Tokenizer) -> Result<Tokenizer, EmbedError> {
    let padding = PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        ..tokenizer.get_padding().cloned().unwrap_or_default()
    };
    tokenizer.with_padding(Some(padding));
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            ..TruncationParams::default()
        }))
        .map_err(|e| EmbedError::LoadTokenizer(TokenizerError::new(e)))?;
    Ok(tokenizer)
}

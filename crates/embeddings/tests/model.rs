#![allow(clippy::unwrap_used, clippy::expect_used)]
// This reads where the machine keeps the model, as a service started here would be told by its
// environment.
#![allow(clippy::disallowed_methods)]
//! The real model, no mocks. Its files come from `$EMBEDDING_MODEL_DIR` or `default_model_dir()`;
//! when they are missing every test here fails, naming `scripts/fetch-embedding-model.sh`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use intentmesh_embeddings::{
    BatchEmbedder, DIMENSIONS, EmbedError, Embedder, cosine, default_model_dir,
};

fn model_dir() -> PathBuf {
    std::env::var_os("EMBEDDING_MODEL_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(
            || default_model_dir(|name| std::env::var(name).ok()),
            PathBuf::from,
        )
}

fn load() -> Embedder {
    let dir = model_dir();
    Embedder::load(&dir).unwrap_or_else(|error| {
        panic!(
            "cannot load the embedding model: {error}\n\
             (tests read EMBEDDING_MODEL_DIR, else {}; `scripts/fetch-embedding-model.sh [DIR]` \
             puts the model there)",
            default_model_dir(|name| std::env::var(name).ok()).display()
        )
    })
}

/// Loaded once per test binary (hashing ~87 MB is not free in a debug build).
fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(load)
}

fn embed_one(text: &str) -> Vec<f32> {
    embedder().embed(&[text]).unwrap().pop().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A copy of the model directory in a temp dir, to damage.
fn copy_model_dir() -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for name in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(model_dir().join(name), copy.path().join(name)).unwrap_or_else(|error| {
            panic!("{error}: fetch the model with scripts/fetch-embedding-model.sh")
        });
    }
    copy
}

#[test]
fn matches_the_published_reference_for_hello_world() {
    // qdrant/fastembed tests/test_text_onnx_embeddings.py, CANONICAL_VECTOR_VALUES for
    // sentence-transformers/all-MiniLM-L6-v2: the first five components of "hello world". They
    // check within 1e-3; the values are rounded to 5-6 decimals and we match them to that.
    let reference = [-0.034478f32, 0.03102, 0.00673, 0.02611, -0.039362];
    let vector = embed_one("hello world");
    let diff = max_abs_diff(&vector[..5], &reference);
    assert!(diff < 1e-5, "{:?} vs {reference:?}", &vector[..5]);
}

#[test]
fn vectors_have_384_components_and_unit_length() {
    let texts = [
        "pay my invoice",
        "",
        "a",
        "find running shoes in size 42, red or blue",
    ];
    let vectors = embedder().embed(&texts).unwrap();
    assert_eq!(vectors.len(), texts.len());
    for (text, vector) in texts.iter().zip(&vectors) {
        assert_eq!(vector.len(), DIMENSIONS, "{text:?}");
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{text:?}: norm {norm}");
        assert!(vector.iter().all(|x| x.is_finite()), "{text:?}");
    }
    assert!(embedder().embed(&[]).unwrap().is_empty());
}

#[test]
fn phrases_are_closest_to_their_own_intent() {
    let payment = embed_one("make a payment of 20 dollars");
    let search = embed_one("find running shoes");

    let pay = embed_one("pay my invoice");
    assert!(cosine(&pay, &payment) > cosine(&pay, &search));

    let look = embed_one("search for hiking boots");
    assert!(cosine(&look, &search) > cosine(&look, &payment));

    // And by a margin, not by rounding.
    assert!(cosine(&pay, &payment) - cosine(&pay, &search) > 0.1);
    assert!(cosine(&look, &search) - cosine(&look, &payment) > 0.1);
}

#[test]
fn a_batch_gives_what_one_by_one_gives_whatever_the_padding() {
    let texts = [
        "hi",
        "pay my invoice",
        "",
        "find running shoes in size 42, red or blue, under 100 euros, delivered by Friday",
        "Ünïcödé and emoji 🦀 survive tokenization",
    ];
    let batch = embedder().embed(&texts).unwrap();
    for (text, batched) in texts.iter().zip(&batch) {
        let alone = embed_one(text);
        let diff = max_abs_diff(batched, &alone);
        assert!(diff < 1e-4, "{text:?}: batched and alone differ by {diff}");
    }
    // Reordering moves every text to another row, not its answer.
    let mut reversed = texts;
    reversed.reverse();
    let backwards = embedder().embed(&reversed).unwrap();
    for (forward, backward) in batch.iter().zip(backwards.iter().rev()) {
        assert!(max_abs_diff(forward, backward) < 1e-4);
    }
}

#[test]
fn long_inputs_are_truncated_at_128_tokens_without_disturbing_their_batch() {
    // Both are past 128 tokens and share their first 128: cut there, they are one text.
    let head = "book a table for two at an italian restaurant tonight ".repeat(20);
    let longer = format!(
        "{head}{}",
        " and then something completely different".repeat(20)
    );
    // One pass (in a debug build a 128-token row is the slow part of these tests).
    let vectors = embedder().embed(&[&head, &longer, "hi"]).unwrap();
    let diff = max_abs_diff(&vectors[0], &vectors[1]);
    assert!(
        diff < 1e-5,
        "the tail past 128 tokens changed the vector by {diff}"
    );
    // Padded to 128 next to them, a short text still gets its own vector.
    assert!(max_abs_diff(&vectors[2], &embed_one("hi")) < 1e-4);
}

#[test]
fn a_tampered_weights_file_is_refused() {
    let copy = copy_model_dir();
    let weights = copy.path().join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&weights, &bytes).unwrap();

    let error = Embedder::load(copy.path()).unwrap_err();
    match &error {
        EmbedError::ChecksumMismatch {
            path,
            expected,
            actual,
        } => {
            assert_eq!(path, &weights);
            assert_ne!(expected, actual);
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    assert!(error.to_string().contains("model.safetensors"), "{error}");
}

#[test]
fn a_truncated_file_is_refused() {
    let copy = copy_model_dir();
    let tokenizer = copy.path().join("tokenizer.json");
    let bytes = std::fs::read(&tokenizer).unwrap();
    std::fs::write(&tokenizer, &bytes[..bytes.len() / 3]).unwrap();

    let error = Embedder::load(copy.path()).unwrap_err();
    assert!(
        matches!(&error, EmbedError::ChecksumMismatch { path, .. } if path == &tokenizer),
        "{error:?}"
    );
}

#[test]
fn a_missing_file_is_named_with_the_fetch_script() {
    let copy = copy_model_dir();
    std::fs::remove_file(copy.path().join("model.safetensors")).unwrap();
    assert_missing(copy.path(), "model.safetensors");

    let empty = tempfile::tempdir().unwrap();
    assert_missing(empty.path(), "config.json");
}

fn assert_missing(dir: &Path, file: &str) {
    let error = Embedder::load(dir).unwrap_err();
    assert!(
        matches!(&error, EmbedError::MissingFile { path, .. } if path == &dir.join(file)),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(file), "{message}");
    assert!(
        message.contains("scripts/fetch-embedding-model.sh"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_batcher_answers_32_concurrent_callers_each_with_its_own_vector() {
    let texts: Vec<String> = (0..32)
        .map(|i| match i % 4 {
            0 => format!("pay invoice number {i}"),
            1 => format!("find {i} pairs of running shoes"),
            2 => format!("what is the weather like on day {i} of the trip"),
            _ => format!("transfer {i} dollars to my savings account right now please"),
        })
        .collect();
    // Fewer than the callers: passes fill up and requests carry over to the next.
    let batcher = BatchEmbedder::spawn(load(), 8);

    // A caller that gives up mid-wait does not break the worker.
    let cancelled = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.embed("this caller will not wait").await }
    });
    cancelled.abort();

    let mut tasks = tokio::task::JoinSet::new();
    for (i, text) in texts.iter().cloned().enumerate() {
        let batcher = batcher.clone();
        tasks.spawn(async move { (i, batcher.embed(&text).await) });
    }
    let mut answered = vec![None; texts.len()];
    while let Some(joined) = tasks.join_next().await {
        let (i, vector) = joined.unwrap();
        answered[i] = Some(vector.unwrap());
    }
    let direct = embedder()
        .embed(&texts.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    // Texts that differ only in a number still get vectors far apart enough to tell a mix-up.
    assert!(max_abs_diff(&direct[0], &direct[4]) > 1e-3);
    for ((text, vector), direct) in texts.iter().zip(answered).zip(&direct) {
        let diff = max_abs_diff(&vector.unwrap(), direct);
        assert!(
            diff < 1e-4,
            "{text}: batched answer differs from direct by {diff}"
        );
    }

    // More texts than max_batch in one call: several passes, answers in order.
    let many = batcher.embed_many(texts[..10].to_vec()).await.unwrap();
    assert_eq!(many.len(), 10);
    for (vector, direct) in many.iter().zip(&direct) {
        assert!(max_abs_diff(vector, direct) < 1e-4);
    }
    assert!(batcher.embed_many(Vec::new()).await.unwrap().is_empty());
}

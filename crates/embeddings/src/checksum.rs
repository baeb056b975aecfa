//! The model files are pinned by sha256 in `SHA256SUMS` (shared with `scripts/fetch-embedding-model.sh`).
//! Each file is read once, hashed, and only those verified bytes are parsed: nothing unverified is loaded.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::EmbedError;

/// `sha256sum -c` format: `<hex digest>  <file name>` per line.
const SHA256SUMS: &str = include_str!("../SHA256SUMS");

/// The pinned digest of a model file, if `SHA256SUMS` lists it.
pub(crate) fn pinned(name: &str) -> Option<&'static str> {
    SHA256SUMS.lines().find_map(|line| {
        let (digest, file) = line.trim().split_once(char::is_whitespace)?;
        // `sha256sum` marks binary mode with a `*` before the name.
        let file = file.trim_start().trim_start_matches('*');
        (file == name).then_some(digest)
    })
}

/// Reads `dir/name` and checks it against its pinned digest.
pub(crate) fn read_verified(dir: &Path, name: &str) -> Result<Vec<u8>, EmbedError> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => EmbedError::MissingFile {
            path: path.clone(),
            dir: dir.to_path_buf(),
        },
        _ => EmbedError::Read {
            path: path.clone(),
            source,
        },
    })?;
    let actual = sha256_hex(&bytes);
    // A file without a pin is refused too (fail closed); a unit test keeps every model file pinned.
    let expected = pinned(name).unwrap_or("(not pinned in SHA256SUMS)");
    if actual != expected {
        return Err(EmbedError::ChecksumMismatch {
            path,
            expected: expected.to_owned(),
            actual,
        });
    }
    Ok(bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::embedder::MODEL_FILES;

    #[test]
    fn every_model_file_is_pinned() {
        for name in MODEL_FILES {
            let digest = pinned(name).unwrap();
            assert_eq!(digest.len(), 64, "{name}");
            assert!(
                digest
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
        assert_eq!(pinned("vocab.txt"), None);
    }

    #[test]
    fn hashes_like_sha256sum() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn refuses_a_file_that_does_not_match() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), b"{}").unwrap();
        let err = read_verified(dir.path(), "config.json").unwrap_err();
        assert!(
            matches!(err, EmbedError::ChecksumMismatch { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn names_a_missing_file_and_the_fetch_script() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_verified(dir.path(), "tokenizer.json").unwrap_err();
        assert!(matches!(err, EmbedError::MissingFile { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("tokenizer.json"), "{message}");
        assert!(
            message.contains("scripts/fetch-embedding-model.sh"),
            "{message}"
        );
    }
}

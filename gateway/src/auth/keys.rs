//! API keys: `AUTH_API_KEYS_FILE` lists one key a line as `<principal> <sha256 hex of the key>
//! [scope,scope,…]`, with blank lines and `#` comments (at a line's start or after a space); a
//! key listed twice is an error. Only hashes are stored; a presented key
//! is hashed and compared with every listed hash in constant time. The file is read again when
//! its content changes (checked every second): a malformed new version is refused with a
//! warning naming the line, and the keys before it stay in force.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use rand::RngCore as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use tokio_util::sync::CancellationToken;

use super::{Principal, valid_principal};

/// How often the key file is looked at for changes.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// Every key issued starts so (`intentmesh keys new`), which makes a leaked one easy to find by
/// secret scanners.
pub(crate) const KEY_PREFIX: &str = "imk_";

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot read the API key file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("API key file {path}, line {line}: {reason}")]
    Line {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{0}")]
    Usage(String),
    #[error("the operating system's random source failed: {0}")]
    Random(#[source] rand::Error),
}

#[derive(Debug)]
struct Entry {
    principal: Principal,
    hash: [u8; 32],
}

/// The listed keys, replaced whole on reload.
pub struct ApiKeys {
    path: PathBuf,
    current: RwLock<Arc<Vec<Entry>>>,
    /// The content the current keys came from (a change is a new content).
    seen: std::sync::Mutex<Vec<u8>>,
}

/// The path and how many keys: never the hashes.
impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("ApiKeys")
            .field("path", &self.path)
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

fn parse(path: &Path, text: &str) -> Result<Vec<Entry>, KeysError> {
    let mut entries = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, line) in text.lines().enumerate() {
        // A comment starts a line or follows a space: `#` inside a field is the field's.
        let fields: Vec<&str> = line
            .split_whitespace()
            .take_while(|f| !f.starts_with('#'))
            .collect();
        if fields.is_empty() {
            continue;
        }
        let bad = |reason: &str| KeysError::Line {
            path: path.to_owned(),
            line: index + 1,
            reason: reason.to_owned(),
        };
        let mut fields = fields.into_iter();
        let (Some(principal), Some(hash)) = (fields.next(), fields.next()) else {
            return Err(bad("expected `<principal> <sha256 hex> [scope,scope,…]`"));
        };
        let scopes = fields.next().unwrap_or_default();
        if fields.next().is_some() {
            return Err(bad("too many fields: scopes are one comma-separated field"));
        }
        if !valid_principal(principal) {
            return Err(bad("the principal must be 1 to 128 visible characters"));
        }
        let mut digest = [0u8; 32];
        if hash.len() != 64 || hex::decode_to_slice(hash, &mut digest).is_err() {
            return Err(bad("the key's hash must be 64 hex digits (SHA-256)"));
        }
        if !seen.insert(digest) {
            return Err(bad("this key is listed twice"));
        }
        let scopes: Vec<&str> = scopes.split(',').filter(|s| !s.is_empty()).collect();
        if let Some(scope) = scopes.iter().find(|s| !valid_scope(s)) {
            return Err(bad(&format!(
                "scope {scope:?} is not a word (letters, digits, `_`, `:`, `.`, `-`)"
            )));
        }
        entries.push(Entry {
            principal: Principal::new(principal, scopes),
            hash: digest,
        });
    }
    Ok(entries)
}

fn valid_scope(scope: &str) -> bool {
    scope.len() <= 64
        && scope
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'))
}

fn read(path: &Path) -> Result<Vec<u8>, KeysError> {
    std::fs::read(path).map_err(|source| KeysError::Read {
        path: path.to_owned(),
        source,
    })
}

impl ApiKeys {
    /// Reads the file; missing, unreadable or malformed, it is an error naming the line.
    pub fn load(path: &Path) -> Result<Self, KeysError> {
        let bytes = read(path)?;
        let entries = parse(path, &String::from_utf8_lossy(&bytes))?;
        if entries.is_empty() {
            tracing::warn!(path = %path.display(), "the API key file lists no keys: every request will be refused");
        }
        Ok(Self {
            path: path.to_owned(),
            current: RwLock::new(Arc::new(entries)),
            seen: std::sync::Mutex::new(bytes),
        })
    }

    /// The principal `key` belongs to. Every listed hash is compared, each in constant time, so
    /// the time taken says nothing of which hash came close.
    pub(crate) fn verify(&self, key: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let entries = Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner));
        let mut found = None;
        for entry in entries.iter() {
            if bool::from(entry.hash.ct_eq(&digest)) {
                found = Some(&entry.principal);
            }
        }
        found.cloned()
    }

    /// Reads the file again if its content changed: `Ok(Some(n))` when `n` keys replaced the
    /// old ones, `Ok(None)` when nothing changed.
    fn reload(&self) -> Result<Option<usize>, KeysError> {
        let bytes = read(&self.path)?;
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *seen == bytes {
            return Ok(None);
        }
        let entries = parse(&self.path, &String::from_utf8_lossy(&bytes));
        // A malformed version is not retried until it changes again.
        *seen = bytes;
        let entries = entries?;
        let n = entries.len();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(entries);
        Ok(Some(n))
    }

    /// Reloads on change until `shutdown`.
    pub(crate) async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(RELOAD_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let keys = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || keys.reload()).await {
                Ok(Ok(Some(n))) => {
                    tracing::info!(path = %self.path.display(), keys = n, "API keys reloaded");
                }
                Ok(Ok(None)) => {}
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "API keys not reloaded; the previous ones stay in force");
                }
                Err(err) => tracing::warn!(error = %err, "API key reload did not finish"),
            }
        }
    }
}

/// A key made by [`new_key`]: the secret (shown once) and the line for the key file.
#[derive(Debug)]
pub struct NewKey {
    pub key: String,
    pub line: String,
}

/// A new random key for `principal` (256 bits from the operating system), and its key-file
/// line (the key's SHA-256, never the key).
pub fn new_key(principal: &str, scopes: &[String]) -> Result<NewKey, KeysError> {
    if !valid_principal(principal) {
        return Err(KeysError::Usage(
            "the principal must be 1 to 128 visible characters, no spaces".to_owned(),
        ));
    }
    if let Some(scope) = scopes.iter().find(|s| s.is_empty() || !valid_scope(s)) {
        return Err(KeysError::Usage(format!(
            "scope {scope:?} is not a word (letters, digits, `_`, `:`, `.`, `-`)"
        )));
    }
    let mut secret = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut secret)
        .map_err(KeysError::Random)?;
    let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    let line = if scopes.is_empty() {
        format!("{principal} {hash}")
    } else {
        format!("{principal} {hash} {}", scopes.join(","))
    };
    Ok(NewKey { key, line })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_read_line_by_line_and_refused_naming_the_line() {
        let a = new_key("alice", &[]).unwrap();
        let b = new_key("backend", &["act_as".into(), "route_override".into()]).unwrap();
        let text = format!(
            "# keys\n\n{}\n  {}  # the billing backend\n",
            a.line, b.line
        );
        let path = Path::new("keys");
        let entries = parse(path, &text).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].principal.id(), "backend");
        assert!(entries[1].principal.has("route_override"));
        assert!(
            !a.line.contains(&a.key),
            "the line holds the hash, not the key"
        );
        // `#` inside a principal is the principal's; after a space it starts a comment.
        let team = new_key("team#1", &[]).unwrap();
        let entries = parse(path, &format!("{}   #note", team.line)).unwrap();
        assert_eq!(entries[0].principal.id(), "team#1");

        for (bad, line) in [
            ("alice\n", 1),
            ("# c\nalice 1234\n", 2),
            (&format!("alice {} a b", "0".repeat(64)), 1),
            (&format!("alice {} a/b", "0".repeat(64)), 1),
            (&format!("alice {}", "g".repeat(64)), 1),
            (
                &format!("{}\n{}", a.line, a.line.replace("alice", "eve")),
                2,
            ),
        ] {
            match parse(path, bad) {
                Err(KeysError::Line { line: l, .. }) => assert_eq!(l, line, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn keys_are_checked_against_hashes_and_reloaded_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let a = new_key("alice", &[]).unwrap();
        std::fs::write(&path, &a.line).unwrap();
        let keys = ApiKeys::load(&path).unwrap();
        assert_eq!(keys.verify(&a.key).unwrap().id(), "alice");
        assert_eq!(keys.verify("imk_00"), None);
        assert_eq!(keys.reload().unwrap(), None, "unchanged");

        let b = new_key("bob", &[]).unwrap();
        std::fs::write(&path, format!("{}\n", b.line)).unwrap();
        assert_eq!(keys.reload().unwrap(), Some(1));
        assert_eq!(keys.verify(&a.key), None, "alice's key was removed");
        assert_eq!(keys.verify(&b.key).unwrap().id(), "bob");

        // A broken version keeps bob's key in force, and is not re-reported until it changes.
        std::fs::write(&path, "bob nothex\n").unwrap();
        assert!(keys.reload().is_err());
        assert_eq!(keys.reload().unwrap(), None);
        assert_eq!(keys.verify(&b.key).unwrap().id(), "bob");
    }

    #[test]
    fn new_keys_are_random_and_named_checked() {
        let one = new_key("alice", &[]).unwrap();
        let two = new_key("alice", &[]).unwrap();
        assert_ne!(one.key, two.key);
        assert!(one.key.starts_with(KEY_PREFIX));
        assert_eq!(one.key.len(), KEY_PREFIX.len() + 64);
        assert!(new_key("a b", &[]).is_err());
        assert!(new_key("alice", &["".into()]).is_err());
    }
}

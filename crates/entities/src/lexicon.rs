//! Known words, looked up exactly or with one slip of the keyboard without comparing a word with
//! every known one.
//!
//! Routing compares each word of a message with the skills' vocabularies, stop words, currency
//! and order words; done as a scan that was 44 % of the root agent's instructions per request
//! (callgrind, the README's search request). A [`Lexicon`] files each known word under itself and
//! under every form of it with one letter deleted (the symmetric-delete scheme of SymSpell): two
//! words one slip apart — a letter missing, doubled, wrong or two letters swapped — always share
//! one of those keys, so a word's candidates are the few known words filed under its own keys,
//! and [`typo_of`] decides each. The answers are those of the scan, in the list's order (tested
//! against it).

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

use crate::tokens::typo_of;

/// Known words in a fixed order (the order settles which one a word is taken for).
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    words: Vec<String>,
    /// Each key (a known word, or one with a letter deleted) and the known words filed under it,
    /// by position, ascending.
    keys: HashMap<String, Vec<u32>, FxBuildHasher>,
}

impl Lexicon {
    /// The words, in the order that settles ties.
    pub fn new<S: Into<String>>(words: impl IntoIterator<Item = S>) -> Self {
        let words: Vec<String> = words.into_iter().map(Into::into).collect();
        let mut keys: HashMap<String, Vec<u32>, FxBuildHasher> = HashMap::default();
        for (i, word) in words.iter().enumerate() {
            // A lexicon holds a skill's vocabulary: far fewer than 2³² words.
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let mut file = |key: String| {
                let at = keys.entry(key).or_default();
                if at.last() != Some(&i) {
                    at.push(i);
                }
            };
            file(word.clone());
            for (start, c) in word.char_indices() {
                let mut key = String::with_capacity(word.len());
                key.push_str(&word[..start]);
                key.push_str(&word[start + c.len_utf8()..]);
                file(key);
            }
        }
        Self { words, keys }
    }

    /// The words, in order.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Whether `word` is one of the words.
    pub fn contains(&self, word: &str) -> bool {
        self.position(word).is_some()
    }

    /// The first position of `word` among the words.
    pub fn position(&self, word: &str) -> Option<usize> {
        self.filed(word)
            .iter()
            .find(|&&i| self.word(i) == Some(word))
            .map(|&i| i as usize)
    }

    /// The position of the first word of which `word` is a slip ([`typo_of`]): the first word
    /// `words().iter().position(|k| typo_of(word, k))` finds.
    pub fn typo_position(&self, word: &str) -> Option<usize> {
        let mut first: Option<u32> = None;
        self.candidates(word, |i, known| {
            if first.is_none_or(|f| i < f) && typo_of(word, known) {
                first = Some(i);
            }
        });
        first.map(|i| i as usize)
    }

    /// The first word of which `word` is a slip, as [`typo_position`](Self::typo_position).
    pub fn typo(&self, word: &str) -> Option<&str> {
        self.typo_position(word)
            .and_then(|i| self.words.get(i))
            .map(String::as_str)
    }

    /// Whether `word` is one of the words, or one of them with a slip.
    pub fn knows(&self, word: &str) -> bool {
        self.contains(word) || self.typo_position(word).is_some()
    }

    /// Every position of a word of which `word` is a slip, ascending.
    pub fn typo_positions(&self, word: &str) -> Vec<usize> {
        let mut found: Vec<usize> = Vec::new();
        self.candidates(word, |i, known| {
            if typo_of(word, known) {
                found.push(i as usize);
            }
        });
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Every position of `word` or of a word of which it is a slip, ascending.
    pub fn matches(&self, word: &str) -> Vec<usize> {
        let mut found: Vec<usize> = Vec::new();
        self.candidates(word, |i, known| {
            if known == word || typo_of(word, known) {
                found.push(i as usize);
            }
        });
        found.sort_unstable();
        found.dedup();
        found
    }

    fn word(&self, i: u32) -> Option<&str> {
        self.words.get(i as usize).map(String::as_str)
    }

    fn filed(&self, key: &str) -> &[u32] {
        self.keys.get(key).map_or(&[], Vec::as_slice)
    }

    /// Calls `each` with every word filed under one of `word`'s keys (some more than once).
    fn candidates(&self, word: &str, mut each: impl FnMut(u32, &str)) {
        let mut visit = |key: &str| {
            for &i in self.filed(key) {
                if let Some(known) = self.word(i) {
                    each(i, known);
                }
            }
        };
        visit(word);
        let mut key = String::with_capacity(word.len());
        for (start, c) in word.char_indices() {
            key.clear();
            key.push_str(&word[..start]);
            key.push_str(&word[start + c.len_utf8()..]);
            visit(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The look-ups answer what scanning the list answers.
        #[test]
        fn answers_what_a_scan_answers(
            known in proptest::collection::vec("[abcé]{0,7}", 0..24),
            word in "[abcé]{0,8}",
        ) {
            let lexicon = Lexicon::new(known.iter().cloned());
            proptest::prop_assert_eq!(
                lexicon.typo_position(&word),
                known.iter().position(|k| typo_of(&word, k))
            );
            let all: Vec<usize> = (0..known.len()).filter(|&i| typo_of(&word, &known[i])).collect();
            proptest::prop_assert_eq!(lexicon.typo_positions(&word), all);
            let matches: Vec<usize> =
                (0..known.len()).filter(|&i| known[i] == word || typo_of(&word, &known[i])).collect();
            proptest::prop_assert_eq!(lexicon.matches(&word), matches);
            proptest::prop_assert_eq!(lexicon.position(&word), known.iter().position(|k| *k == word));
        }
    }

    #[test]
    fn slips_of_every_kind_are_found() {
        let lexicon = Lexicon::new([
            "headphones",
            "pay",
            "sports",
            "bluetooth",
            "euros",
            "注文した",
        ]);
        for (typo, known) in [
            ("hedphones", "headphones"),
            ("headphonnes", "headphones"),
            ("headphomes", "headphones"),
            ("pya", "pay"),
            ("sprots", "sports"),
            ("blutooth", "bluetooth"),
            ("eruos", "euros"),
            ("文注した", "注文した"),
        ] {
            assert_eq!(lexicon.typo(typo), Some(known), "{typo}");
        }
        assert_eq!(lexicon.typo("pay"), None, "an exact word is no slip");
        assert!(lexicon.knows("pay") && lexicon.knows("pya") && !lexicon.knows("play"));
    }
}

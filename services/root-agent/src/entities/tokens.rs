//! Words with their byte spans, and whole-phrase matching over them.

use std::sync::LazyLock;

use regex::Regex;

// A literal pattern: it compiles, or every test of this module fails.
#[allow(clippy::expect_used)]
static WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*").expect("a literal, tested pattern")
});

/// A lower-case word and where it stands in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) text: String,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Splits text into lower-case words (`usb-c` and `t-shirt` stay one word).
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    WORD.find_iter(text)
        .map(|m| Token {
            text: m.as_str().to_lowercase(),
            start: m.start(),
            end: m.end(),
        })
        .collect()
}

/// Lower-case words of a phrase.
pub(crate) fn words(phrase: &str) -> Vec<String> {
    tokenize(phrase).into_iter().map(|t| t.text).collect()
}

/// The byte span of the first occurrence of `phrase` (as words) in `tokens`.
pub(crate) fn find_phrase(tokens: &[Token], phrase: &[String]) -> Option<(usize, usize)> {
    if phrase.is_empty() || phrase.len() > tokens.len() {
        return None;
    }
    tokens.windows(phrase.len()).find_map(|w| {
        w.iter()
            .zip(phrase)
            .all(|(t, p)| t.text == *p || singular(&t.text) == *p)
            .then(|| (w[0].start, w[w.len() - 1].end))
    })
}

/// A naive singular, so `books` matches `book` and `headphones` matches `headphone`.
pub(crate) fn singular(word: &str) -> &str {
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        &word[..word.len() - 1]
    } else {
        word
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_inner_hyphens() {
        let t: Vec<_> = tokenize("Find USB-C chargers, t-shirts!")
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(t, ["find", "usb-c", "chargers", "t-shirts"]);
    }

    #[test]
    fn phrases_match_whole_words() {
        let t = tokenize("I am looking for a lamp");
        assert_eq!(find_phrase(&t, &words("looking for")), Some((5, 16)));
        assert_eq!(find_phrase(&t, &words("look for")), None);
        assert_eq!(find_phrase(&tokenize("rebooking"), &words("book")), None);
        assert!(find_phrase(&tokenize("old books"), &words("book")).is_some());
    }
}

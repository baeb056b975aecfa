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
pub struct Token {
    /// The word, lower case.
    pub text: String,
    /// Byte offset where it starts in the text.
    pub start: usize,
    /// Byte offset where it ends.
    pub end: usize,
}

/// The writing system of a character, where it separates words: Japanese and Chinese write no
/// spaces, but a change of script (kanji, hiragana, katakana, Latin or digits) is a word boundary
/// often enough (`注文12345の代金` → `注文`, `12345`, `の`, `代金`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Chinese characters, and the kanji of Japanese.
    Han,
    Hiragana,
    Katakana,
    /// Everything else: Latin, digits, Cyrillic, …
    Other,
}

/// The script of a character, as far as word boundaries go.
pub fn script(c: char) -> Script {
    match c {
        '\u{3040}'..='\u{309f}' => Script::Hiragana,
        '\u{30a0}'..='\u{30ff}' | '\u{31f0}'..='\u{31ff}' | '\u{ff66}'..='\u{ff9f}' => {
            Script::Katakana
        }
        '\u{3005}'
        | '\u{3400}'..='\u{4dbf}'
        | '\u{4e00}'..='\u{9fff}'
        | '\u{f900}'..='\u{faff}' => Script::Han,
        '\u{20000}'..='\u{2ffff}' => Script::Han,
        _ => Script::Other,
    }
}

/// Whether a character is written by a script without spaces (Chinese or Japanese).
pub(crate) fn is_cjk(c: char) -> bool {
    script(c) != Script::Other
}

/// Splits text into lower-case words (`usb-c` and `t-shirt` stay one word; Chinese and Japanese
/// split where the script changes).
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for m in WORD.find_iter(text) {
        let word = m.as_str();
        let mut run_start = 0;
        let mut run_script = None;
        for (i, c) in word.char_indices() {
            let s = script(c);
            if run_script.is_some_and(|r| r != s) {
                out.push(token(text, m.start() + run_start, m.start() + i));
                run_start = i;
            }
            run_script = Some(s);
        }
        out.push(token(text, m.start() + run_start, m.end()));
    }
    out
}

fn token(text: &str, start: usize, end: usize) -> Token {
    Token {
        text: text[start..end].to_lowercase(),
        start,
        end,
    }
}

/// Lower-case words of a phrase.
pub fn words(phrase: &str) -> Vec<String> {
    tokenize(phrase).into_iter().map(|t| t.text).collect()
}

/// The byte span of the first occurrence of `phrase` (as words) in `tokens`.
pub fn find_phrase(tokens: &[Token], phrase: &[String]) -> Option<(usize, usize)> {
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
pub fn singular(word: &str) -> &str {
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        &word[..word.len() - 1]
    } else {
        word
    }
}

/// One keyboard slip between a typed word and a known one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slip {
    /// Two neighbouring letters swapped (`pya`).
    Swap,
    /// A letter left out or typed twice (`hedphones`, `cofffee`).
    MissingOrExtra,
    /// A wrong letter (`headphomes`; long words only).
    Wrong,
}

/// The one slip that turns `known` into `word`, if exactly one does (an optimal-string-alignment
/// distance of 1), found in one pass after the common prefix, without a distance matrix.
fn slip<T: PartialEq>(word: &[T], known: &[T]) -> Option<Slip> {
    let same = word.iter().zip(known).take_while(|(a, b)| a == b).count();
    let (w, k) = (word.len(), known.len());
    if w == k {
        if same + 1 < w
            && word[same] == known[same + 1]
            && word[same + 1] == known[same]
            && word[same + 2..] == known[same + 2..]
        {
            Some(Slip::Swap)
        } else if same < w && word[same + 1..] == known[same + 1..] {
            Some(Slip::Wrong)
        } else {
            None
        }
    } else if w + 1 == k {
        (word[same..] == known[same + 1..]).then_some(Slip::MissingOrExtra)
    } else if w == k + 1 {
        (word[same + 1..] == known[same..]).then_some(Slip::MissingOrExtra)
    } else {
        None
    }
}

/// Whether `word` is `known` with one slip of the keyboard — a letter missing, doubled or two
/// letters swapped (`hedphones`, `pya`, `sprots`); a wrong letter only in long words
/// (`bluetoth`/`blutooth`, not `boots` for `books`). Words of four letters or fewer only by a swap
/// (`pya`, not `play`, for `pay`); nothing under three letters. An exact match is not a typo.
///
/// The hottest function of routing (every word of a message against every word it might be a
/// slip of): ASCII pairs, nearly all of them, are compared as bytes without allocating.
pub fn typo_of(word: &str, known: &str) -> bool {
    if word.is_ascii() && known.is_ascii() {
        let (w, k) = (word.len(), known.len());
        if w < 3 || k < 3 || w.abs_diff(k) > 1 || word == known {
            return false;
        }
        return is_typo(slip(word.as_bytes(), known.as_bytes()), k);
    }
    let (w, k) = (word.chars().count(), known.chars().count());
    if w < 3 || k < 3 || w.abs_diff(k) > 1 || word == known {
        return false;
    }
    let word: Vec<char> = word.chars().collect();
    let known: Vec<char> = known.chars().collect();
    is_typo(slip(&word, &known), k)
}

/// Whether a slip counts as a typo in a known word of `k` letters.
fn is_typo(slip: Option<Slip>, k: usize) -> bool {
    match (slip, k) {
        (None, _) => false,
        (Some(Slip::Swap), _) => true,
        (Some(_), 0..=4) => false,
        (Some(Slip::MissingOrExtra), 5..=7) => true,
        (Some(Slip::Wrong), 5..=7) => false,
        (Some(_), _) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// One pass finds a slip exactly when the optimal-string-alignment distance is 1.
        #[test]
        fn a_slip_is_an_edit_distance_of_one(a in "[abc]{0,6}", b in "[abc]{0,6}") {
            let (x, y): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            proptest::prop_assert_eq!(slip(&x, &y).is_some(), strsim::osa_distance(&a, &b) == 1);
        }

        /// ASCII words compared as bytes give the answer they give compared as letters.
        #[test]
        fn bytes_and_letters_agree(a in "[abcé]{0,8}", b in "[abcé]{0,8}") {
            let letters = |x: &str, y: &str| {
                let (x, y): (Vec<char>, Vec<char>) = (x.chars().collect(), y.chars().collect());
                x.len() >= 3 && y.len() >= 3 && x.len().abs_diff(y.len()) <= 1 && x != y
                    && is_typo(slip(&x, &y), y.len())
            };
            proptest::prop_assert_eq!(typo_of(&a, &b), letters(&a, &b));
        }
    }

    #[test]
    fn words_keep_inner_hyphens() {
        let t: Vec<_> = tokenize("Find USB-C chargers, t-shirts!")
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(t, ["find", "usb-c", "chargers", "t-shirts"]);
    }

    #[test]
    fn chinese_and_japanese_split_where_the_script_changes() {
        let t: Vec<_> = tokenize("注文987の支払い 买蓝牙耳机 ＳＯＮＹ")
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(
            t,
            ["注文", "987", "の", "支払", "い", "买蓝牙耳机", "ｓｏｎｙ"]
        );
    }

    #[test]
    fn typos_are_one_slip_and_never_another_word() {
        for (typo, known) in [
            ("pya", "pay"),
            ("hedphones", "headphones"),
            ("sprots", "sports"),
            ("serch", "search"),
            ("paymnet", "payment"),
            ("bluetoth", "bluetooth"),
            ("chepaest", "cheapest"),
            ("eruos", "euros"),
        ] {
            assert!(typo_of(typo, known), "{typo} for {known}");
        }
        for (word, known) in [
            ("play", "pay"),
            ("boots", "books"),
            ("pay", "pay"),
            ("by", "pay"),
            ("hooks", "books"),
            ("shops", "shoes"),
        ] {
            assert!(!typo_of(word, known), "{word} is not a typo of {known}");
        }
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

//! Amounts of money in free text: `$100`, `100 USD`, `EUR 49,99`, `1.250,00 €`, `5k usd`,
//! `twenty dollars`, `-$5`.

use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::Decimal;

use super::{
    number::{self, Number},
    tokens::Token,
};

// A literal pattern: it compiles, or every test of this module fails.
#[allow(clippy::expect_used)]
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{1,3}(?:[ \u{00a0}\u{202f}]\d{3})+\b(?:[.,]\d+)?|\d+(?:[.,'’]\d+)*")
        .expect("a literal, tested pattern")
});

/// Symbols, longest first.
const SYMBOLS: &[(&str, &str)] = &[
    ("US$", "USD"),
    ("NZ$", "NZD"),
    ("HK$", "HKD"),
    ("C$", "CAD"),
    ("A$", "AUD"),
    ("R$", "BRL"),
    ("$", "USD"),
    ("€", "EUR"),
    ("£", "GBP"),
    ("¥", "JPY"),
    ("₹", "INR"),
    ("₩", "KRW"),
    ("₽", "RUB"),
    ("₺", "TRY"),
    ("₪", "ILS"),
    ("฿", "THB"),
    ("₱", "PHP"),
    ("zł", "PLN"),
];

/// Currency words, multi-word first.
const WORDS: &[(&str, &str)] = &[
    ("canadian dollars", "CAD"),
    ("canadian dollar", "CAD"),
    ("australian dollars", "AUD"),
    ("australian dollar", "AUD"),
    ("us dollars", "USD"),
    ("us dollar", "USD"),
    ("swiss francs", "CHF"),
    ("swiss franc", "CHF"),
    ("pounds sterling", "GBP"),
    ("dollars", "USD"),
    ("dollar", "USD"),
    ("bucks", "USD"),
    ("buck", "USD"),
    ("euros", "EUR"),
    ("euro", "EUR"),
    ("pounds", "GBP"),
    ("pound", "GBP"),
    ("quid", "GBP"),
    ("yen", "JPY"),
    ("rupees", "INR"),
    ("rupee", "INR"),
    ("yuan", "CNY"),
    ("renminbi", "CNY"),
    ("francs", "CHF"),
    ("franc", "CHF"),
];

/// Lower-case ISO codes taken as currencies; other lower-case three-letter words (`all`, `top`,
/// `try`, `mad`) are English more often than money. Upper-case codes are always taken.
const COMMON_CODES: &[&str] = &[
    "usd", "eur", "gbp", "jpy", "chf", "cad", "aud", "nzd", "inr", "cny", "sek", "nok", "dkk",
    "pln", "czk", "huf", "brl", "mxn", "zar", "sgd", "hkd", "krw", "rub", "ils", "thb", "bhd",
    "kwd", "aed", "sar",
];

/// How the amount was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value {
    Amount(Decimal),
    TooLarge,
}

/// One amount found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mention {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) value: Value,
    /// Upper-case currency code (possibly not ISO 4217, for the payment agent to refuse).
    pub(crate) currency: Option<String>,
}

fn code_word(word: &str) -> Option<String> {
    if word.len() != 3 || !word.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let upper = word.chars().all(|c| c.is_ascii_uppercase());
    let lower = word.to_ascii_lowercase();
    (upper || COMMON_CODES.contains(&lower.as_str())).then(|| word.to_ascii_uppercase())
}

/// A currency marker right before `end` (a symbol or a code), with where it starts.
fn marker_before(text: &str, end: usize) -> Option<(usize, String)> {
    let head = &text[..end];
    let trimmed = head.trim_end_matches([' ', '\u{00a0}']);
    for (symbol, code) in SYMBOLS {
        if trimmed.ends_with(symbol) {
            return Some((trimmed.len() - symbol.len(), (*code).to_owned()));
        }
    }
    let word_start = trimmed
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphabetic())
        .last()
        .map(|(i, _)| i)?;
    let before_ok = trimmed[..word_start]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric());
    code_word(&trimmed[word_start..])
        .filter(|_| before_ok)
        .map(|code| (word_start, code))
}

/// A multiplier and a currency marker right after `start`, with where they end.
fn marker_after(text: &str, start: usize) -> (Decimal, Option<String>, usize) {
    let mut pos = start;
    let mut factor = Decimal::ONE;
    let rest = &text[pos..];
    let lower = rest.to_lowercase();
    for (word, f) in [
        ("k", 1_000i64),
        ("thousand", 1_000),
        ("million", 1_000_000),
        ("mn", 1_000_000),
        ("bn", 1_000_000_000),
        ("billion", 1_000_000_000),
    ] {
        let skip = if word == "k" {
            0
        } else {
            lower.len() - lower.trim_start().len()
        };
        if lower[skip..].starts_with(word)
            && lower[skip + word.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric())
        {
            factor = Decimal::from(f);
            pos += skip + word.len();
            break;
        }
    }
    let rest = &text[pos..];
    let skip = rest.len() - rest.trim_start_matches([' ', '\u{00a0}']).len();
    let rest = &rest[skip..];
    for (symbol, code) in SYMBOLS {
        if rest.starts_with(symbol) {
            return (factor, Some((*code).to_owned()), pos + skip + symbol.len());
        }
    }
    let lower = rest.to_lowercase();
    for (word, code) in WORDS {
        if lower.starts_with(word)
            && lower[word.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric())
        {
            return (factor, Some((*code).to_owned()), pos + skip + word.len());
        }
    }
    let word_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
    if let Some(code) = code_word(&rest[..word_len]) {
        return (factor, Some(code), pos + skip + word_len);
    }
    (factor, None, pos)
}

fn is_dash(c: char) -> bool {
    c == '-' || c == '−'
}

/// Finds amounts written with digits, skipping the spans in `taken` (order ids).
pub(crate) fn find(text: &str, taken: &[(usize, usize)], tokens: &[Token]) -> Vec<Mention> {
    let mut out = Vec::new();
    for m in NUMBER.find_iter(text) {
        if taken.iter().any(|(s, e)| m.start() < *e && m.end() > *s) {
            continue;
        }
        // Digits glued to letters or a `#` are codes (`X200`, `A-77812`, `#12345`), not amounts.
        let prev = text[..m.start()].chars().next_back();
        if prev.is_some_and(|c| c.is_alphabetic() || c == '#' || c == '_') {
            continue;
        }
        let mut negative = false;
        let mut marker_end = m.start();
        if let Some(dash) = prev.filter(|c| is_dash(*c)) {
            let before_dash = text[..m.start() - dash.len_utf8()].chars().next_back();
            if before_dash.is_some_and(char::is_alphabetic) {
                continue;
            }
            // `20-40` is a range; `-5` and `$-5` are negative.
            if !before_dash.is_some_and(|c| c.is_ascii_digit()) {
                negative = true;
                marker_end = m.start() - dash.len_utf8();
            }
        }
        let Some(number) = number::parse(m.as_str()) else {
            continue;
        };
        let (factor, after, after_end) = marker_after(text, m.end());
        let next = text[m.end()..].chars().next();
        if after.is_none() && factor == Decimal::ONE && next.is_some_and(char::is_alphabetic) {
            continue; // `3rd`, `10am` are not amounts
        }
        let before = marker_before(text, marker_end);
        let mut start = before.as_ref().map_or(marker_end, |(s, _)| *s);
        if negative {
            start = start.min(marker_end);
        } else if let Some(dash) = text[..start].chars().next_back().filter(|c| is_dash(*c)) {
            // `-$5`
            let before_dash = text[..start - dash.len_utf8()].chars().next_back();
            if !before_dash.is_some_and(char::is_alphanumeric) {
                negative = true;
                start -= dash.len_utf8();
            }
        }
        let value = match number {
            Number::TooLarge => Value::TooLarge,
            Number::Value(v) => match v.checked_mul(factor) {
                Some(v) if negative => Value::Amount(-v),
                Some(v) => Value::Amount(v),
                None => Value::TooLarge,
            },
        };
        out.push(Mention {
            start,
            end: after_end,
            value,
            currency: before.map(|(_, c)| c).or(after),
        });
    }
    out.extend(find_words(tokens, &out));
    out.sort_by_key(|m| m.start);
    out
}

/// Amounts written in words before a currency word: `twenty five dollars`, `a hundred euros`.
fn find_words(tokens: &[Token], digits: &[Mention]) -> Vec<Mention> {
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let Some((_, code)) = WORDS
            .iter()
            .find(|(w, _)| !w.contains(' ') && *w == token.text)
        else {
            continue;
        };
        if digits
            .iter()
            .any(|m| m.start <= token.start && token.end <= m.end)
        {
            continue;
        }
        let first = tokens[..i]
            .iter()
            .rposition(|t| !number::is_number_word(&t.text) && t.text != "a")
            .map_or(0, |p| p + 1);
        let words: Vec<&str> = tokens[first..i].iter().map(|t| t.text.as_str()).collect();
        if words.is_empty() {
            continue;
        }
        if let Some(value) = number::word_value(&words) {
            let start = tokens[first].start;
            out.push(Mention {
                start,
                end: token.end,
                value: Value::Amount(value),
                currency: Some((*code).to_owned()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn one(text: &str) -> (Option<Decimal>, Option<String>) {
        let found = find(text, &[], &super::super::tokens::tokenize(text));
        let m = found
            .first()
            .unwrap_or_else(|| panic!("no amount in {text:?}"));
        let v = match m.value {
            Value::Amount(d) => Some(d),
            Value::TooLarge => None,
        };
        (v, m.currency.clone())
    }

    fn d(s: &str) -> Option<Decimal> {
        Some(Decimal::from_str(s).unwrap())
    }

    #[test]
    fn symbols_codes_and_words() {
        assert_eq!(one("pay $100"), (d("100"), Some("USD".into())));
        assert_eq!(one("pay 100$"), (d("100"), Some("USD".into())));
        assert_eq!(one("pay 49,99 €"), (d("49.99"), Some("EUR".into())));
        assert_eq!(one("pay €1.250,00 now"), (d("1250"), Some("EUR".into())));
        assert_eq!(one("send £15"), (d("15"), Some("GBP".into())));
        assert_eq!(one("pay USD 250"), (d("250"), Some("USD".into())));
        assert_eq!(one("pay 250 usd"), (d("250"), Some("USD".into())));
        assert_eq!(one("pay 250usd"), (d("250"), Some("USD".into())));
        assert_eq!(one("transfer 30 euros"), (d("30"), Some("EUR".into())));
        assert_eq!(
            one("pay 12 canadian dollars"),
            (d("12"), Some("CAD".into()))
        );
        assert_eq!(one("charge 5k usd"), (d("5000"), Some("USD".into())));
        assert_eq!(one("pay 2 million yen"), (d("2000000"), Some("JPY".into())));
        assert_eq!(one("pay 100 XYZ"), (d("100"), Some("XYZ".into())));
        assert_eq!(one("pay 100"), (d("100"), None));
        assert_eq!(one("pay -$5"), (d("-5"), Some("USD".into())));
        assert_eq!(one("pay $-5"), (d("-5"), Some("USD".into())));
        assert_eq!(
            one("pay twenty five dollars"),
            (d("25"), Some("USD".into()))
        );
        assert_eq!(one("pay a hundred euros"), (d("100"), Some("EUR".into())));
        assert_eq!(one("pay 1 000 000 JPY"), (d("1000000"), Some("JPY".into())));
        assert_eq!(
            one(&format!("pay ${}", "9".repeat(40))),
            (None, Some("USD".into()))
        );
    }

    #[test]
    fn codes_and_english_words_are_not_amounts() {
        let none = |t: &str| find(t, &[], &super::super::tokens::tokenize(t));
        assert!(none("order #12345").is_empty());
        assert!(none("model X200 and A-77812").is_empty());
        assert!(none("meet at 10am on the 3rd").is_empty());
        assert_eq!(one("pay 100 for all").1, None);
    }
}

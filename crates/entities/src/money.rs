//! Amounts of money in free text: `$100`, `100 USD`, `EUR49.99`, `1.250,00 €`, `5k usd`,
//! `3.2M USD`, `twenty dollars`, `veinte euros`, `15 dollars and 50 cents`, `5000円`, `-$5`, and
//! currency words in other languages or with one slip (`dólares`, `reais`, `рублей`, `eruos`).

use std::{borrow::Cow, sync::LazyLock};

use regex::Regex;
use rust_decimal::Decimal;

use crate::{
    lexicon::Lexicon,
    lists,
    number::{self, Number},
    tokens::{Token, is_cjk},
};

// A literal pattern: it compiles, or every test of this module fails.
#[allow(clippy::expect_used)]
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{1,3}(?:[ \u{00a0}\u{202f}]\d{3})+\b(?:[.,]\d+)?|\d+(?:[.,'’]\d+)*")
        .expect("a literal, tested pattern")
});

/// Currency symbols and their codes, longest first.
static SYMBOLS: LazyLock<Vec<(&str, &str)>> =
    LazyLock::new(|| lists::pairs(include_str!("../data/currency_symbols.txt")));

/// Currency words and their codes, multi-word first.
static WORDS: LazyLock<Vec<(&str, &str)>> =
    LazyLock::new(|| lists::pairs(include_str!("../data/currency_words.txt")));

/// The one-word currency words of [`WORDS`], in its order, with their codes at the same
/// positions.
struct OneWord {
    words: Lexicon,
    codes: Vec<&'static str>,
}

static ONE_WORD: LazyLock<OneWord> = LazyLock::new(|| {
    let one = WORDS.iter().filter(|(w, _)| !w.contains(' '));
    OneWord {
        words: Lexicon::new(one.clone().map(|(w, _)| *w)),
        codes: one.map(|(_, c)| *c).collect(),
    }
});

/// Multipliers written after a number, with a space or without (`5k`, `3.2M`, `2 million`).
static MULTIPLIERS: LazyLock<Vec<(&str, i64)>> =
    LazyLock::new(|| lists::numbers(include_str!("../data/multipliers.txt")));

// A literal pattern: it compiles, or every test of this module fails.
#[allow(clippy::expect_used)]
static CENTS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[ \u{00a0}]*,?[ \u{00a0}]*(?:and|y|et|und|e|en|i|и)[ \u{00a0}]+(\d{1,2})[ \u{00a0}]*(?:cents?|céntimos?|centavos?|centimes?|centesimi|centesimo|groszy|копеек|копейки|kuruş|öre|pence|p)\b")
        .expect("a literal, tested pattern")
});

/// Lower-case ISO codes taken as currencies; other lower-case three-letter words (`all`, `top`,
/// `try`, `mad`) are English more often than money. Upper-case codes are always taken.
static COMMON_CODES: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/currency_codes.txt")));

/// How the amount was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// An amount (negative if written so: `-$5`).
    Amount(Decimal),
    /// Written as a number, but too large to be an amount.
    TooLarge,
}

/// One amount found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// Byte offset in the message where the amount starts (its currency marker included).
    pub start: usize,
    /// Byte offset where it ends.
    pub end: usize,
    /// The amount, or too large to be one.
    pub value: Value,
    /// Upper-case currency code (possibly not ISO 4217, for the payment agent to refuse).
    pub currency: Option<String>,
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
    for (symbol, code) in SYMBOLS.iter() {
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

/// The currency a word names: a currency word, or one with a slip of the keyboard (`dolars`,
/// `eruos`).
fn currency_word(word: &str) -> Option<&'static str> {
    let word: Cow<'_, str> = if word.chars().any(char::is_uppercase) {
        Cow::Owned(word.to_lowercase())
    } else {
        Cow::Borrowed(word)
    };
    let one = &*ONE_WORD;
    // A slip counts in words of four letters or more.
    let slip = || {
        one.words.typo_positions(&word).into_iter().find(|&i| {
            one.words
                .words()
                .get(i)
                .is_some_and(|w| w.chars().count() >= 4)
        })
    };
    one.words
        .position(&word)
        .or_else(slip)
        .and_then(|i| one.codes.get(i))
        .copied()
}

/// Whether the text is Danish or Norwegian rather than Swedish, for `kr`.
fn danish_or_norwegian(text: &str) -> bool {
    text.chars().any(|c| matches!(c, 'æ' | 'ø' | 'Æ' | 'Ø'))
}

/// A multiplier and a currency marker right after `start`, with where they end.
fn marker_after(text: &str, start: usize) -> (Decimal, Option<String>, usize) {
    let mut pos = start;
    let mut factor = Decimal::ONE;
    let rest = &text[pos..];
    let word_end = |s: &str, at: usize| s[at..].chars().next().is_none_or(|c| !c.is_alphanumeric());
    // Whether `s` starts with the lower-case `word` in any case, as a whole word. Only the
    // prefix is lower-cased (not the rest of the message), and offsets stay the original's.
    let starts_with_word = |s: &str, word: &str| {
        s.get(..word.len())
            .is_some_and(|prefix| prefix.to_lowercase() == word)
            && word_end(s, word.len())
    };
    if rest.starts_with(['k', 'K']) && word_end(rest, 1) {
        factor = Decimal::from(1_000);
        pos += 1;
    } else if rest.starts_with('M') && word_end(rest, 1) {
        factor = Decimal::from(1_000_000);
        pos += 1;
    } else {
        let skip = rest.len() - rest.trim_start().len();
        if let Some((word, f)) = MULTIPLIERS
            .iter()
            .find(|(word, _)| starts_with_word(&rest[skip..], word))
        {
            factor = Decimal::from(*f);
            pos += skip + word.len();
        }
    }
    let rest = &text[pos..];
    let skip = rest.len() - rest.trim_start_matches([' ', '\u{00a0}']).len();
    let rest = &rest[skip..];
    for (symbol, code) in SYMBOLS.iter() {
        if rest.starts_with(symbol) {
            return (factor, Some((*code).to_owned()), pos + skip + symbol.len());
        }
    }
    for (word, code) in WORDS.iter().filter(|(w, _)| w.contains(' ')) {
        if starts_with_word(rest, word) {
            return (factor, Some((*code).to_owned()), pos + skip + word.len());
        }
    }
    let word: String = rest.chars().take_while(|c| c.is_alphabetic()).collect();
    let end = pos + skip + word.len();
    if word.is_empty() {
        return (factor, None, pos);
    }
    if let Some(code) = currency_word(&word) {
        return (factor, Some(code.to_owned()), end);
    }
    match word.to_lowercase().as_str() {
        "tl" => return (factor, Some("TRY".to_owned()), end),
        // `kr` is Swedish, Danish or Norwegian: the letters tell Danish and Norwegian apart.
        "kr" if !danish_or_norwegian(text) => {
            let end = if text[end..].starts_with('.') {
                end + 1
            } else {
                end
            };
            return (factor, Some("SEK".to_owned()), end);
        }
        _ => {}
    }
    if let Some(code) = code_word(&word) {
        return (factor, Some(code), end);
    }
    (factor, None, pos)
}

/// The currency named right after `pos` (after an optional multiplier), if any.
pub fn currency_after(text: &str, pos: usize) -> Option<String> {
    marker_after(text, pos).1
}

/// `N dollars and M cents`: the cents and where they end.
fn cents_after(text: &str, end: usize) -> Option<(Decimal, usize)> {
    let c = CENTS.captures(&text[end..])?;
    let cents: i64 = c.get(1)?.as_str().parse().ok()?;
    Some((Decimal::new(cents, 2), end + c.get(0)?.end()))
}

/// Whether the letters right before `pos` are a currency (`EUR49.99`, `zł100`) rather than part
/// of a code (`X200`, `SKU123`).
fn glued_currency_before(text: &str, pos: usize) -> bool {
    marker_before(text, pos).is_some_and(|(s, code)| {
        SYMBOLS
            .iter()
            .any(|(sym, _)| text[s..pos].trim_end() == *sym)
            || COMMON_CODES.contains(&code.to_ascii_lowercase().as_str())
    })
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
        // Digits glued to letters or a `#` are codes (`X200`, `A-77812`, `#12345`), not amounts,
        // unless the letters are a currency (`EUR49.99`) or Chinese or Japanese (`代金5000円`).
        let prev = text[..m.start()].chars().next_back();
        if prev.is_some_and(|c| c == '#' || c == '_')
            || prev.is_some_and(|c| {
                c.is_alphabetic() && !is_cjk(c) && !glued_currency_before(text, m.start())
            })
        {
            continue;
        }
        if out
            .last()
            .is_some_and(|last: &Mention| m.start() < last.end)
        {
            continue; // the cents of `15 dollars and 50 cents`
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
        let (factor, after, mut after_end) = marker_after(text, m.end());
        let next = text[m.end()..].chars().next();
        if after.is_none() && factor == Decimal::ONE && next.is_some_and(char::is_alphabetic) {
            continue; // `3rd`, `10am` are not amounts
        }
        let mut cents = Decimal::ZERO;
        if after.is_some()
            && let Some((c, end)) = cents_after(text, after_end)
        {
            cents = c;
            after_end = end;
        }
        // An upper-case word before the amount that is no known code ("PAY 5 EUR") is a
        // currency only when nothing after the amount names one.
        let before = marker_before(text, marker_end).filter(|(s, code)| {
            after.is_none()
                || SYMBOLS
                    .iter()
                    .any(|(sym, _)| text[*s..marker_end].trim_end() == *sym)
                || COMMON_CODES.contains(&code.to_ascii_lowercase().as_str())
        });
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
            Number::Value(v) => match v.checked_mul(factor).and_then(|v| v.checked_add(cents)) {
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
    // Mentions never overlap (a word amount over a digit one, `$` claimed by two numbers): the
    // first, and at one start the longest, keeps its words. Bounds read the text between them.
    out.sort_by_key(|m| (m.start, std::cmp::Reverse(m.end)));
    let mut kept: Vec<Mention> = Vec::with_capacity(out.len());
    for m in out {
        if kept.last().is_none_or(|k| m.start >= k.end) {
            kept.push(m);
        }
    }
    kept
}

/// Amounts written in words before a currency word: `twenty five dollars`, `a hundred euros`.
fn find_words(tokens: &[Token], digits: &[Mention]) -> Vec<Mention> {
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let Some(code) = currency_word(&token.text) else {
            continue;
        };
        if digits
            .iter()
            .any(|m| m.start <= token.start && token.end <= m.end)
        {
            continue;
        }
        let mut first = tokens[..i]
            .iter()
            .rposition(|t| !number::is_number_word(&t.text) && t.text != "a")
            .map_or(0, |p| p + 1);
        // A joiner before the number joins it to nothing (`bread and twenty dollars`).
        while first < i
            && number::word_value(&[&tokens[first].text]).is_none()
            && !number::is_scale(&tokens[first].text)
            && tokens[first].text != "a"
        {
            first += 1;
        }
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
                currency: Some(code.to_owned()),
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
        let found = find(text, &[], &crate::tokens::tokenize(text));
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
    fn other_languages_slips_and_forms() {
        let eur = |v: &str| (d(v), Some("EUR".to_owned()));
        assert_eq!(one("zahle zwanzig Euro"), eur("20"));
        assert_eq!(one("pagar treinta y cinco euros"), eur("35"));
        assert_eq!(one("send 12 eruos"), eur("12"));
        assert_eq!(one("a payment of sixty-five euros"), eur("65"));
        assert_eq!(one("pay EUR12.50 now"), eur("12.5"));
        assert_eq!(one("pay 9 dolars"), (d("9"), Some("USD".into())));
        assert_eq!(one("pago 70 dólares"), (d("70"), Some("USD".into())));
        assert_eq!(one("pay fourty bucks"), (d("40"), Some("USD".into())));
        assert_eq!(
            one("pay 7 dollars and 5 cents"),
            (d("7.05"), Some("USD".into()))
        );
        assert_eq!(one("pay 4.5M EUR"), eur("4500000"));
        assert_eq!(one("pagar 90 reais"), (d("90"), Some("BRL".into())));
        assert_eq!(
            one("pagar 300 pesos mexicanos"),
            (d("300"), Some("MXN".into()))
        );
        assert_eq!(one("payer 8 livres sterling"), (d("8"), Some("GBP".into())));
        assert_eq!(one("оплата 700 рублей"), (d("700"), Some("RUB".into())));
        assert_eq!(one("900 TL öde"), (d("900"), Some("TRY".into())));
        assert_eq!(one("betala 40 kr nu"), (d("40"), Some("SEK".into())));
        assert_eq!(one("betal 40 kr. før"), (d("40"), None));
        assert_eq!(one("代金3000円"), (d("3000"), Some("JPY".into())));
        assert_eq!(one("付款88元"), (d("88"), Some("CNY".into())));
        assert_eq!(one("pay 2 mil euros"), eur("2000"));
    }

    #[test]
    fn codes_and_english_words_are_not_amounts() {
        let none = |t: &str| find(t, &[], &crate::tokens::tokenize(t));
        assert!(none("order #12345").is_empty());
        assert!(none("model X200 and A-77812").is_empty());
        assert!(none("meet at 10am on the 3rd").is_empty());
        assert_eq!(one("pay 100 for all").1, None);
        assert!(none("SKU123 and X200").is_empty());
    }
}

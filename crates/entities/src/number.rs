//! Numbers as people write them: `1,234.56`, `1.234,56`, `1 234,56`, `1'234.56`, `12,5`, `100`.

use std::{str::FromStr, sync::LazyLock};

use rust_decimal::Decimal;

use crate::lists;

/// Digits longer than this are no amount anyone means (and overflow the decimal type).
pub(crate) const MAX_DIGITS: usize = 20;

/// What a run of digits and separators means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Number {
    /// The value, normalised (`1.50` is `1.5`).
    Value(Decimal),
    /// Syntactically a number, but too large to be an amount.
    TooLarge,
}

fn is_group_separator(c: char) -> bool {
    matches!(c, ' ' | '\'' | '’' | '\u{00a0}' | '\u{202f}' | '_')
}

/// Interprets a number written with either convention. Rules:
/// - `,` and `.` both present: the last one is the decimal mark, the other groups thousands;
/// - one of them repeated: thousands (`1.234.567`, `1,234,567`);
/// - one of them once: thousands when exactly three digits follow and the integer part is not
///   `0` (`1,234` and `1.234` are 1234), otherwise the decimal mark (`12,5`, `0.125`, `99.99`);
/// - spaces, apostrophes and narrow spaces only ever group thousands.
///
/// Every thousands group must have exactly three digits, the first one to three.
pub fn parse(raw: &str) -> Option<Number> {
    let digits = raw.chars().filter(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let commas = raw.matches(',').count();
    let dots = raw.matches('.').count();
    let decimal_mark = match (commas, dots) {
        (0, 0) => None,
        (c, d) if c > 0 && d > 0 => {
            let last = raw.rfind([',', '.'])?;
            let mark = raw[last..].chars().next()?;
            // The decimal mark appears once, after every grouping mark.
            if raw.matches(mark).count() != 1 {
                return None;
            }
            Some(mark)
        }
        (c, 0) if c > 1 => None,
        (0, d) if d > 1 => None,
        _ => {
            let mark = if commas == 1 { ',' } else { '.' };
            let (int, frac) = raw.split_once(mark)?;
            let int_digits: String = int.chars().filter(char::is_ascii_digit).collect();
            let spaced = int.chars().any(is_group_separator);
            if frac.len() == 3 && int_digits != "0" && !spaced {
                None
            } else {
                Some(mark)
            }
        }
    };
    let (int_part, frac_part) = match decimal_mark {
        Some(mark) => raw.rsplit_once(mark)?,
        None => (raw, ""),
    };
    if !frac_part.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let groups: Vec<&str> = int_part
        .split(|c: char| c == ',' || c == '.' || is_group_separator(c))
        .collect();
    if groups.len() > 1 {
        let first_ok = (1..=3).contains(&groups[0].len());
        let rest_ok = groups[1..].iter().all(|g| g.len() == 3);
        if !first_ok || !rest_ok {
            return None;
        }
    }
    if groups
        .iter()
        .any(|g| !g.chars().all(|c| c.is_ascii_digit()) || g.is_empty())
    {
        return None;
    }
    let int_digits: String = groups.concat();
    let int_trimmed = int_digits.trim_start_matches('0');
    if int_trimmed.len() + frac_part.len() > MAX_DIGITS {
        return Some(Number::TooLarge);
    }
    let text = if frac_part.is_empty() {
        int_digits
    } else {
        format!("{int_digits}.{frac_part}")
    };
    Decimal::from_str(&text)
        .ok()
        .map(|d| Number::Value(d.normalize()))
}

/// Number words below a hundred, in English and the main European languages. Articles that
/// also mean "one" (`un`, `ein`, `een`) count only before a scale word, like `a hundred`.
static UNITS: LazyLock<Vec<(&str, u64)>> =
    LazyLock::new(|| lists::numbers(include_str!("../data/number_words.txt")));

/// Articles that mean "one" before a scale word (`a hundred`, `ein hundert`, `un mil`).
static ONE_BEFORE_SCALE: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/one_before_scale.txt")));

/// Words joining the parts of a number (`one hundred and five`, `treinta y cinco`).
static JOINERS: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/number_joiners.txt")));

/// Scale words: `hundred`, `mil`, `millones`.
static SCALES: LazyLock<Vec<(&str, u64)>> =
    LazyLock::new(|| lists::numbers(include_str!("../data/number_scales.txt")));

fn scale(w: &str) -> Option<u64> {
    SCALES.iter().find(|(s, _)| *s == w).map(|(_, v)| *v)
}

fn unit(w: &str) -> Option<u64> {
    if let Some((_, v)) = UNITS.iter().find(|(u, _)| *u == w) {
        return Some(*v);
    }
    // Written as one word: `fünfundzwanzig`, `veinticinco`, `venticinque`, `trentadue`.
    if let Some((u, t)) = w.split_once("und")
        && let (Some(u), Some(t)) = (unit_below_ten(u), tens(t))
    {
        return Some(t + u);
    }
    if let Some(rest) = w.strip_prefix("veinti") {
        return unit_below_ten(rest).map(|u| 20 + u);
    }
    UNITS
        .iter()
        .filter(|(_, v)| *v >= 20 && v % 10 == 0)
        .find_map(|(t, v)| {
            let rest = w.strip_prefix(t).or_else(|| {
                // `ventuno`, `trentotto`: the tens' last vowel drops before a vowel.
                let stem = t.char_indices().next_back().map_or(*t, |(i, _)| &t[..i]);
                w.strip_prefix(stem).filter(|r| r.starts_with(['u', 'o']))
            })?;
            unit_below_ten(rest).map(|u| v + u)
        })
}

fn unit_below_ten(w: &str) -> Option<u64> {
    match w {
        "ein" | "eins" | "uno" | "un" => Some(1),
        _ => UNITS
            .iter()
            .find(|(u, v)| *u == w && (1..10).contains(v))
            .map(|(_, v)| *v),
    }
}

fn tens(w: &str) -> Option<u64> {
    UNITS
        .iter()
        .find(|(u, v)| *u == w && *v >= 20 && v % 10 == 0)
        .map(|(_, v)| *v)
}

/// Values of number words (`twenty five`, `seventy-five`, `a hundred`, `one thousand two hundred`,
/// `zwanzig`, `veinte`, `treinta y cinco`).
pub(crate) fn word_value(words: &[&str]) -> Option<Decimal> {
    let parts: Vec<String> = words
        .iter()
        .flat_map(|w| w.split('-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut total: u64 = 0;
    let mut current: u64 = 0;
    let mut seen = false;
    for (i, w) in parts.iter().enumerate() {
        let next_is_scale = parts.get(i + 1).is_some_and(|n| scale(n).is_some());
        // Words can stack past any number ("hundred hundred hundred …"): no value, then.
        if let Some(u) = unit(w) {
            current = current.checked_add(u)?;
            seen = true;
            continue;
        }
        if ONE_BEFORE_SCALE.contains(&w.as_str()) && next_is_scale {
            current = current.checked_add(1)?;
            seen = true;
            continue;
        }
        match scale(w) {
            Some(100) => {
                current = current.max(1).checked_mul(100)?;
                seen = true;
            }
            Some(s) => {
                total = total.checked_add(current.max(1).checked_mul(s)?)?;
                current = 0;
                seen = true;
            }
            None if JOINERS.contains(&w.as_str()) && seen => {}
            None => return None,
        }
    }
    seen.then(|| total.checked_add(current).map(Decimal::from))
        .flatten()
}

/// Whether a word is a number word.
pub(crate) fn is_number_word(w: &str) -> bool {
    let w = w.to_lowercase();
    word_value(&[&w]).is_some() || is_scale(&w) || JOINERS.contains(&w.as_str())
}

pub(crate) fn is_scale(w: &str) -> bool {
    scale(&w.to_lowercase()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value(s: &str) -> Option<Decimal> {
        match parse(s) {
            Some(Number::Value(d)) => Some(d),
            _ => None,
        }
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn both_conventions() {
        assert_eq!(value("1,234.56"), Some(dec("1234.56")));
        assert_eq!(value("1.234,56"), Some(dec("1234.56")));
        assert_eq!(value("1 234,56"), Some(dec("1234.56")));
        assert_eq!(value("1'234.56"), Some(dec("1234.56")));
        assert_eq!(value("1.234.567"), Some(dec("1234567")));
        assert_eq!(value("1,234,567.5"), Some(dec("1234567.5")));
        assert_eq!(value("12,5"), Some(dec("12.5")));
        assert_eq!(value("99.99"), Some(dec("99.99")));
        assert_eq!(value("1,234"), Some(dec("1234")));
        assert_eq!(value("1.234"), Some(dec("1234")));
        assert_eq!(value("0.125"), Some(dec("0.125")));
        assert_eq!(value("100"), Some(dec("100")));
    }

    #[test]
    fn malformed_groupings_are_not_numbers() {
        assert_eq!(value("1,23,456"), None);
        assert_eq!(value("1.234.56"), None);
        assert_eq!(value("12345,678.9"), None);
        assert_eq!(value("1,234.567,8"), None);
    }

    #[test]
    fn absurd_lengths_are_too_large() {
        assert_eq!(parse(&"9".repeat(30)), Some(Number::TooLarge));
    }

    #[test]
    fn words() {
        assert_eq!(word_value(&["twenty", "five"]), Some(dec("25")));
        assert_eq!(word_value(&["a", "hundred"]), Some(dec("100")));
        assert_eq!(
            word_value(&["one", "thousand", "two", "hundred", "and", "fifty"]),
            Some(dec("1250"))
        );
        assert_eq!(word_value(&["fifty", "shades"]), None);
    }

    #[test]
    fn words_in_other_languages_and_forms() {
        assert_eq!(word_value(&["seventy-five"]), Some(dec("75")));
        assert_eq!(word_value(&["fourty"]), Some(dec("40")));
        assert_eq!(word_value(&["zwanzig"]), Some(dec("20")));
        assert_eq!(word_value(&["fünfundzwanzig"]), Some(dec("25")));
        assert_eq!(word_value(&["veinticinco"]), Some(dec("25")));
        assert_eq!(word_value(&["treinta", "y", "cinco"]), Some(dec("35")));
        assert_eq!(word_value(&["venticinque"]), Some(dec("25")));
        assert_eq!(word_value(&["ventuno"]), Some(dec("21")));
        assert_eq!(word_value(&["deux", "cents"]), Some(dec("200")));
        assert_eq!(word_value(&["un", "mil"]), Some(dec("1000")));
        assert_eq!(word_value(&["vijftig"]), Some(dec("50")));
        assert_eq!(word_value(&["y", "cinco"]), None);
        assert_eq!(word_value(&["una"]), None);
    }

    fn group(n: u64, sep: char) -> String {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        out
    }

    proptest! {
        #[test]
        fn us_and_european_formats_agree(units in 1u64..10_000_000_000, cents in 0u32..100) {
            let expected = Decimal::new(units as i64 * 100 + i64::from(cents), 2).normalize();
            let us = format!("{}.{cents:02}", group(units, ','));
            let eu = format!("{},{cents:02}", group(units, '.'));
            let spaced = format!("{},{cents:02}", group(units, ' '));
            let swiss = format!("{}.{cents:02}", group(units, '\''));
            prop_assert_eq!(value(&us), Some(expected));
            prop_assert_eq!(value(&eu), Some(expected));
            prop_assert_eq!(value(&spaced), Some(expected));
            prop_assert_eq!(value(&swiss), Some(expected));
        }

        #[test]
        fn plain_integers_and_decimals_parse(n in 0u64..1_000_000_000_000, frac in 0u32..100) {
            prop_assert_eq!(value(&n.to_string()), Some(Decimal::from(n)));
            let d = Decimal::new(n as i64 * 100 + i64::from(frac), 2).normalize();
            prop_assert_eq!(value(&format!("{n}.{frac:02}")), Some(d));
            prop_assert_eq!(value(&format!("{n},{frac:02}")), Some(d));
        }

        #[test]
        fn never_panics(s in "[0-9.,' ]{0,30}") {
            let _ = parse(&s);
        }
    }
}

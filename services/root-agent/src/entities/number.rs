//! Numbers as people write them: `1,234.56`, `1.234,56`, `1 234,56`, `1'234.56`, `12,5`, `100`.

use rust_decimal::Decimal;
use std::str::FromStr;

/// Digits longer than this are no amount anyone means (and overflow the decimal type).
pub(crate) const MAX_DIGITS: usize = 20;

/// What a run of digits and separators means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Number {
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
pub(crate) fn parse(raw: &str) -> Option<Number> {
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

/// Values of number words (`twenty five`, `a hundred`, `one thousand two hundred`).
pub(crate) fn word_value(words: &[&str]) -> Option<Decimal> {
    let mut total: u64 = 0;
    let mut current: u64 = 0;
    let mut seen = false;
    for (i, w) in words.iter().enumerate() {
        let w = w.to_ascii_lowercase();
        let unit = match w.as_str() {
            "zero" => Some(0),
            "one" => Some(1),
            "a" | "an" if words.get(i + 1).is_some_and(|n| is_scale(n)) => Some(1),
            "two" => Some(2),
            "three" => Some(3),
            "four" => Some(4),
            "five" => Some(5),
            "six" => Some(6),
            "seven" => Some(7),
            "eight" => Some(8),
            "nine" => Some(9),
            "ten" => Some(10),
            "eleven" => Some(11),
            "twelve" => Some(12),
            "thirteen" => Some(13),
            "fourteen" => Some(14),
            "fifteen" => Some(15),
            "sixteen" => Some(16),
            "seventeen" => Some(17),
            "eighteen" => Some(18),
            "nineteen" => Some(19),
            "twenty" => Some(20),
            "thirty" => Some(30),
            "forty" => Some(40),
            "fifty" => Some(50),
            "sixty" => Some(60),
            "seventy" => Some(70),
            "eighty" => Some(80),
            "ninety" => Some(90),
            _ => None,
        };
        if let Some(u) = unit {
            current += u;
            seen = true;
            continue;
        }
        match w.as_str() {
            "hundred" => {
                current = current.max(1) * 100;
                seen = true;
            }
            "thousand" => {
                total += current.max(1) * 1_000;
                current = 0;
                seen = true;
            }
            "million" => {
                total += current.max(1) * 1_000_000;
                current = 0;
                seen = true;
            }
            "and" => {}
            _ => return None,
        }
    }
    seen.then(|| Decimal::from(total + current))
}

/// Whether a word is a number word.
pub(crate) fn is_number_word(w: &str) -> bool {
    word_value(&[w]).is_some() || is_scale(w) || w.eq_ignore_ascii_case("and")
}

fn is_scale(w: &str) -> bool {
    matches!(
        w.to_ascii_lowercase().as_str(),
        "hundred" | "thousand" | "million"
    )
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

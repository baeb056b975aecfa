//! Price bounds for search: `under $50`, `over 20 euros`, `between 20 and 40 euros`,
//! `from $10 to $30`, `$20-$40`, `at most 100`.

use super::money::{Mention, Value};
use rust_decimal::Decimal;

const MAX_WORDS: &[&str] = &[
    "under",
    "below",
    "less than",
    "cheaper than",
    "at most",
    "up to",
    "max",
    "maximum",
    "no more than",
    "not more than",
    "within",
    "<",
    "<=",
    "≤",
    "lower than",
    "beneath",
];
const MIN_WORDS: &[&str] = &[
    "over",
    "above",
    "more than",
    "at least",
    "min",
    "minimum",
    "starting at",
    "starting from",
    ">",
    ">=",
    "≥",
    "no less than",
    "from",
    "higher than",
    "upwards of",
];

/// A price bound and the span of its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bound {
    pub(crate) amount: Decimal,
    pub(crate) currency: Option<String>,
}

/// Bounds found, and the indexes of the mentions they used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub(crate) min: Option<Bound>,
    pub(crate) max: Option<Bound>,
    pub(crate) used: Vec<usize>,
    /// Spans of the bound phrases (keywords included).
    pub(crate) spans: Vec<(usize, usize)>,
}

/// Where `word` starts when `head` ends with it (as a whole word, ignoring ASCII case).
fn ends_with_word(head: &str, word: &str) -> Option<usize> {
    let trimmed = head.trim_end();
    let start = trimmed.len().checked_sub(word.len())?;
    if !trimmed.is_char_boundary(start) || !trimmed[start..].eq_ignore_ascii_case(word) {
        return None;
    }
    let ok = word.chars().all(|c| !c.is_alphanumeric())
        || trimmed[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
    ok.then_some(start)
}

fn bound(m: &Mention) -> Option<Bound> {
    match m.value {
        Value::Amount(a) if a >= Decimal::ZERO => Some(Bound {
            amount: a,
            currency: m.currency.clone(),
        }),
        _ => None,
    }
}

/// Finds price bounds among the amounts mentioned in `text`.
pub(crate) fn find(text: &str, mentions: &[Mention]) -> Bounds {
    let mut out = Bounds::default();
    // Ranges first: `between A and B`, `from A to B`, `A-B`, `A to B`.
    for (i, pair) in mentions.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        let between = text[a.end..b.start].trim().to_lowercase();
        let head = &text[..a.start];
        let (joined, start) = match between.as_str() {
            "and" => match ends_with_word(head, "between") {
                Some(s) => (true, s),
                None => (false, a.start),
            },
            "to" | "-" | "–" | "and up to" => (
                true,
                ends_with_word(head, "from")
                    .or_else(|| ends_with_word(head, "between"))
                    .unwrap_or(a.start),
            ),
            _ => (false, a.start),
        };
        if !joined || out.used.contains(&i) {
            continue;
        }
        let (Some(mut lo), Some(mut hi)) = (bound(a), bound(b)) else {
            continue;
        };
        if lo.currency.is_none() {
            lo.currency.clone_from(&hi.currency);
        }
        if hi.currency.is_none() {
            hi.currency.clone_from(&lo.currency);
        }
        out.min = Some(lo);
        out.max = Some(hi);
        out.used.extend([i, i + 1]);
        out.spans.push((start, b.end));
        break;
    }
    for (i, m) in mentions.iter().enumerate() {
        if out.used.contains(&i) {
            continue;
        }
        let head = &text[..m.start];
        let Some(b) = bound(m) else { continue };
        let max = MAX_WORDS.iter().find_map(|w| ends_with_word(head, w));
        let min = MIN_WORDS.iter().find_map(|w| ends_with_word(head, w));
        let (slot, start) = match (max, min) {
            (Some(start), _) => (&mut out.max, start),
            (None, Some(start)) => (&mut out.min, start),
            (None, None) => continue,
        };
        if slot.is_none() {
            *slot = Some(b);
            out.used.push(i);
            out.spans.push((start, m.end));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::{money, tokens::tokenize};
    use std::str::FromStr;

    /// A bound as (amount, currency) text, for compact assertions.
    type Shown = Option<(String, Option<String>)>;

    fn bounds(text: &str) -> (Shown, Shown) {
        let mentions = money::find(text, &[], &tokenize(text));
        let b = find(text, &mentions);
        let show = |b: Option<Bound>| b.map(|b| (b.amount.to_string(), b.currency));
        (show(b.min), show(b.max))
    }

    fn usd(a: &str) -> Shown {
        Some((
            Decimal::from_str(a).unwrap().to_string(),
            Some("USD".into()),
        ))
    }

    #[test]
    fn single_bounds() {
        assert_eq!(bounds("headphones under $50"), (None, usd("50")));
        assert_eq!(bounds("lamps over $20"), (usd("20"), None));
        assert_eq!(
            bounds("a kettle for less than 30 dollars"),
            (None, usd("30"))
        );
        assert_eq!(bounds("at least $15 please"), (usd("15"), None));
        assert_eq!(bounds("mouse under 20").1, Some(("20".into(), None)));
    }

    #[test]
    fn ranges_share_the_currency() {
        let eur = |a: &str| Some((a.to_owned(), Some("EUR".to_owned())));
        assert_eq!(bounds("between 20 and 40 euros"), (eur("20"), eur("40")));
        assert_eq!(bounds("from $10 to $30"), (usd("10"), usd("30")));
        assert_eq!(bounds("shoes $20-$40"), (usd("20"), usd("40")));
        assert_eq!(bounds("shoes 20-40 USD"), (usd("20"), usd("40")));
    }

    #[test]
    fn plain_amounts_are_not_bounds() {
        assert_eq!(bounds("pay $100 for order 5"), (None, None));
    }
}

//! Price bounds for search: `under $50`, `over 20 euros`, `between 20 and 40 euros`,
//! `from $10 to $30`, `$20-$40`, `at most 100`.

use std::sync::LazyLock;

use rust_decimal::Decimal;

use crate::{
    lexicon::Lexicon,
    lists,
    money::{Mention, Value},
};

/// Words before an amount that make it a maximum, in English and the main European languages.
static MAX_WORDS: LazyLock<BoundWords> =
    LazyLock::new(|| BoundWords::new(include_str!("../data/bound_max_before.txt")));
/// Words before an amount that make it a minimum.
static MIN_WORDS: LazyLock<BoundWords> =
    LazyLock::new(|| BoundWords::new(include_str!("../data/bound_min_before.txt")));
/// Words after an amount that make it a maximum (`$50 or less`, `5000円以下`).
static MAX_AFTER: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/bound_max_after.txt")));
/// Words after an amount that make it a minimum (`$50 or more`, `5000円以上`).
static MIN_AFTER: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/bound_min_after.txt")));
/// Words opening a range (`between 20 and 40`, `entre 20 y 40`, `zwischen 20 und 40`).
static RANGE_OPEN: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/range_open.txt")));
/// Words joining the two ends of a range.
static RANGE_JOIN: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/range_join.txt")));
/// Range joiners that only count after an opening word (`and`, `y`, `e` join other things too).
static RANGE_JOIN_NEEDS_OPEN: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/range_join_needs_open.txt")));
/// Articles that may stand between a bound word and its amount (`sotto i 50 euro`, `onder de 60`).
static ARTICLES: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/bound_articles.txt")));

/// A price bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// Never negative.
    pub amount: Decimal,
    /// Upper-case currency code; one end of a range without one takes the other's.
    pub currency: Option<String>,
}

/// Bounds found, and the indexes of the mentions they used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bounds {
    /// The lowest price asked for (`over $20`, `between 20 and 40`).
    pub min: Option<Bound>,
    /// The highest price asked for (`under $50`).
    pub max: Option<Bound>,
    /// Indexes of the amounts the bounds are made of, among those found in the message.
    pub used: Vec<usize>,
    /// Byte spans of the bound phrases (keywords included).
    pub spans: Vec<(usize, usize)>,
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

/// A list of bound words, and its one-word bounds of five letters or more, recognised with a slip.
struct BoundWords {
    words: Vec<&'static str>,
    slips: Lexicon,
}

impl BoundWords {
    fn new(list: &'static str) -> Self {
        let words = lists::words(list);
        let slips = Lexicon::new(
            words
                .iter()
                .filter(|w| w.chars().all(char::is_alphabetic) && w.chars().count() >= 5)
                .copied(),
        );
        Self { words, slips }
    }
}

/// Where a bound word of `words` ends `head`, allowing an article after it (`sotto i`) and one
/// slip of the keyboard in a one-word bound of five letters or more (`undr`, `bellow`).
fn bound_word_before(head: &str, words: &BoundWords) -> Option<usize> {
    let exact = |h: &str| words.words.iter().find_map(|w| ends_with_word(h, w));
    if let Some(start) = exact(head) {
        return Some(start);
    }
    let trimmed = head.trim_end();
    let last_start = trimmed
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphabetic())
        .last()
        .map(|(i, _)| i)?;
    let last = trimmed[last_start..].to_lowercase();
    if ARTICLES.contains(&last.as_str())
        && let Some(start) = exact(&trimmed[..last_start])
    {
        return Some(start);
    }
    words
        .slips
        .typo_position(&last)
        .is_some()
        .then_some(last_start)
}

/// Where a bound word of `words` starts right after `tail` begins, and where it ends.
fn bound_word_after(text: &str, end: usize, words: &[&str]) -> Option<usize> {
    let rest = &text[end..];
    let skip = rest.len() - rest.trim_start().len();
    let lower = rest[skip..].to_lowercase();
    words.iter().find_map(|w| {
        let ok = lower.starts_with(w)
            && (w.chars().all(|c| !c.is_ascii_alphabetic())
                || lower[w.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric()));
        ok.then(|| end + skip + w.len())
    })
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
        let open = RANGE_OPEN.iter().find_map(|w| ends_with_word(head, w));
        let (joined, start) = if !RANGE_JOIN.contains(&between.as_str()) {
            (false, a.start)
        } else if RANGE_JOIN_NEEDS_OPEN.contains(&between.as_str()) {
            (open.is_some(), open.unwrap_or(a.start))
        } else {
            (true, open.unwrap_or(a.start))
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
        let max = bound_word_before(head, &MAX_WORDS);
        let min = bound_word_before(head, &MIN_WORDS);
        let (slot, start, end) = match (max, min) {
            (Some(start), _) => (&mut out.max, start, m.end),
            (None, Some(start)) => (&mut out.min, start, m.end),
            (None, None) => match (
                bound_word_after(text, m.end, &MAX_AFTER),
                bound_word_after(text, m.end, &MIN_AFTER),
            ) {
                (Some(end), _) => (&mut out.max, m.start, end),
                (None, Some(end)) => (&mut out.min, m.start, end),
                (None, None) => continue,
            },
        };
        if slot.is_none() {
            *slot = Some(b);
            out.used.push(i);
            out.spans.push((start, end));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{money, tokens::tokenize};
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
    fn other_languages() {
        let eur = |a: &str| Some((a.to_owned(), Some("EUR".to_owned())));
        assert_eq!(bounds("Schuhe unter 40 Euro"), (None, eur("40")));
        assert_eq!(bounds("Lampen über 25 €"), (eur("25"), None));
        assert_eq!(
            bounds("Taschen zwischen 10 und 30 Euro"),
            (eur("10"), eur("30"))
        );
        assert_eq!(bounds("zapatos por menos de 60 euros"), (None, eur("60")));
        assert_eq!(bounds("lámpara de más de 70 euros"), (eur("70"), None));
        assert_eq!(
            bounds("mochila entre 15 y 35 euros"),
            (eur("15"), eur("35"))
        );
        assert_eq!(bounds("sac à moins de 90 €"), (None, eur("90")));
        assert_eq!(bounds("lampe entre 5 et 9 euros"), (eur("5"), eur("9")));
        assert_eq!(bounds("borsa sotto i 45 euro"), (None, eur("45")));
        assert_eq!(bounds("tas onder de 35 euro"), (None, eur("35")));
        assert_eq!(
            bounds("bolsa até 99 reais"),
            (None, Some(("99".into(), Some("BRL".into()))))
        );
        assert_eq!(
            bounds("torba poniżej 80 zł"),
            (None, Some(("80".into(), Some("PLN".into()))))
        );
        assert_eq!(
            bounds("3000円以下の靴"),
            (None, Some(("3000".into(), Some("JPY".into()))))
        );
    }

    #[test]
    fn slips_and_bounds_after_the_amount() {
        assert_eq!(bounds("mouse undr 15").1, Some(("15".into(), None)));
        assert_eq!(bounds("lamp $30 or less"), (None, usd("30")));
        assert_eq!(bounds("lamp $30 and up"), (usd("30"), None));
        assert_eq!(bounds("desk lamp around $30"), (None, None));
        // `and` alone joins no range.
        assert_eq!(bounds("pay $5 and $7"), (None, None));
    }

    #[test]
    fn plain_amounts_are_not_bounds() {
        assert_eq!(bounds("pay $100 for order 5"), (None, None));
    }
}

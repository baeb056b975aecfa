//! Price bounds for search: `under $50`, `over 20 euros`, `between 20 and 40 euros`,
//! `from $10 to $30`, `$20-$40`, `at most 100`.

use super::{
    money::{Mention, Value},
    tokens::typo_of,
};
use rust_decimal::Decimal;

/// Words before an amount that make it a maximum, in English and the main European languages.
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
    // de
    "unter",
    "bis",
    "bis zu",
    "höchstens",
    "maximal",
    "weniger als",
    "billiger als",
    // es, pt
    "menos de",
    "hasta",
    "máximo",
    "como máximo",
    "por debajo de",
    "até",
    "abaixo de",
    // fr
    "moins de",
    "à moins de",
    "jusqu'à",
    "maximum",
    "en dessous de",
    "au plus",
    // it
    "sotto",
    "meno di",
    "fino a",
    "al massimo",
    // nl
    "onder",
    "tot",
    "minder dan",
    "maximaal",
    "hoogstens",
    // pl, ru, tr, sv
    "poniżej",
    "ponizej",
    "до",
    "меньше",
    "дешевле",
    "ниже",
    "altında",
    "högst",
];
/// Words before an amount that make it a minimum.
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
    // de
    "über",
    "ueber",
    "ab",
    "mindestens",
    "mehr als",
    // es, pt
    "más de",
    "mas de",
    "desde",
    "mínimo",
    "por encima de",
    "mais de",
    "acima de",
    "a partir de",
    // fr
    "plus de",
    "au moins",
    "à partir de",
    "au-dessus de",
    // it
    "sopra",
    "più di",
    "oltre",
    "almeno",
    // nl
    "boven",
    "meer dan",
    "vanaf",
    "minstens",
    // pl, ru, sv
    "powyżej",
    "powyzej",
    "от",
    "больше",
    "дороже",
    "över",
    "minst",
];
/// Words after an amount that make it a maximum (`$50 or less`, `5000円以下`).
const MAX_AFTER: &[&str] = &[
    "or less", "or under", "or below", "max", "maximum", "以下", "以内", "未満",
];
/// Words after an amount that make it a minimum (`$50 or more`, `5000円以上`).
const MIN_AFTER: &[&str] = &["or more", "or above", "and up", "and above", "以上"];
/// Words opening a range (`between 20 and 40`, `entre 20 y 40`, `zwischen 20 und 40`).
const RANGE_OPEN: &[&str] = &[
    "between", "from", "entre", "zwischen", "von", "tra", "fra", "tussen", "van", "desde", "de",
    "da", "między", "od", "от",
];
/// Words joining the two ends of a range.
const RANGE_JOIN: &[&str] = &[
    "and",
    "to",
    "-",
    "–",
    "and up to",
    "y",
    "a",
    "et",
    "à",
    "und",
    "bis",
    "e",
    "en",
    "tot",
    "i",
    "do",
    "до",
    "até",
    "al",
    "hasta",
];
/// Range joiners that only count after an opening word (`and`, `y`, `e` join other things too).
const RANGE_JOIN_NEEDS_OPEN: &[&str] = &["and", "y", "a", "et", "und", "e", "en", "i", "al"];
/// Articles that may stand between a bound word and its amount (`sotto i 50 euro`, `onder de 60`).
const ARTICLES: &[&str] = &[
    "the", "i", "il", "la", "le", "les", "los", "las", "de", "die", "der", "den", "het", "os",
    "as", "o", "a",
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

/// Where a bound word of `words` ends `head`, allowing an article after it (`sotto i`) and one
/// slip of the keyboard in a one-word bound of five letters or more (`undr`, `bellow`).
fn bound_word_before(head: &str, words: &[&str]) -> Option<usize> {
    let exact = |h: &str| words.iter().find_map(|w| ends_with_word(h, w));
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
        .iter()
        .filter(|w| w.chars().all(char::is_alphabetic) && w.chars().count() >= 5)
        .any(|w| typo_of(&last, w))
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
        let max = bound_word_before(head, MAX_WORDS);
        let min = bound_word_before(head, MIN_WORDS);
        let (slot, start, end) = match (max, min) {
            (Some(start), _) => (&mut out.max, start, m.end),
            (None, Some(start)) => (&mut out.min, start, m.end),
            (None, None) => match (
                bound_word_after(text, m.end, MAX_AFTER),
                bound_word_after(text, m.end, MIN_AFTER),
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

//! Order ids: `#12345`, `order 12345`, `order no. 5531`, `order #A-77812`, `A-77812`, an invoice
//! (`invoice INV-2024-0091`), a purchase order (`PO #7781`), the word for "order" in other
//! languages (`Bestellnummer 4411`, `pedido nº 4512`, `commande n° 6610`, `注文12345`) and the
//! usual slips of it (`ordr`, `oder`, `rorder`).

use std::sync::LazyLock;

use regex::Regex;

use crate::{lexicon::Lexicon, lists, money, tokens};

/// Words naming an order, an invoice or a purchase order, lower case. Those of five letters or
/// more are also recognised with one slip of the keyboard (`tokens::typo_of`, through a `Lexicon`).
static KEYWORDS: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/order_keywords.txt")));

/// Keywords that only count as written (too short, or common words in other languages).
static EXACT_ONLY: LazyLock<Vec<&str>> =
    LazyLock::new(|| lists::words(include_str!("../data/order_exact_only.txt")));

/// The keywords recognised with one slip: five letters or more, and not exact-only.
static SLIPPED_KEYWORDS: LazyLock<Lexicon> = LazyLock::new(|| {
    Lexicon::new(
        KEYWORDS
            .iter()
            .filter(|k| !EXACT_ONLY.contains(k) && k.chars().count() >= 5)
            .copied(),
    )
});

// Literal patterns: they compile, or every test of this module fails.
#[allow(clippy::expect_used)]
static AFTER_KEYWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(?:order\s+|h(?:à|a)ng\s+)?(?:(?:id|number|num|nummer|numero|número|no|nr|n|số|so|nº|n°|№|番号|号)\b\.?|nº|n°|№)?(?:\s+(?:is|was)\b)?\s*[:#：]?\s*#?\s*([A-Za-z0-9][A-Za-z0-9_-]{0,63})",
    )
    .expect("a literal, tested pattern")
});
#[allow(clippy::expect_used)]
static OTHER_FORMS: LazyLock<[Regex; 4]> = LazyLock::new(|| {
    [
        // `the number is 66120`: a number someone gives as "the number", not a phone, card,
        // account or tracking number.
        Regex::new(r"(?i)(?:^|[^\w\s]\s*|\b(?:the|my|its|it's|our|your)\s+)number\s+(?:is|was)\s*:?\s*#?\s*(\d[A-Za-z0-9_-]{2,63})\b")
            .expect("a literal, tested pattern"),
        // `PO #7781`, `PO 7781`: upper case only (`po` is a word in several languages).
        Regex::new(r"\bPO\s*[:#]?\s*#?\s*([A-Za-z0-9][A-Za-z0-9_-]{0,63})")
            .expect("a literal, tested pattern"),
        Regex::new(r"#\s?([A-Za-z0-9][A-Za-z0-9_-]{0,63})").expect("a literal, tested pattern"),
        Regex::new(r"\b([A-Z]{1,4}-\d{3,12})\b").expect("a literal, tested pattern"),
    ]
});

/// Whether a word names an order: a keyword, or a long keyword with one slip.
fn is_keyword(word: &str) -> (bool, bool) {
    if KEYWORDS.contains(&word) {
        return (true, false);
    }
    let typo = SLIPPED_KEYWORDS.typo_position(word).is_some();
    (typo, typo)
}

/// An id has a digit: `order shoes` names no order.
fn has_digit(id: &str) -> bool {
    id.chars().any(|c| c.is_ascii_digit())
}

/// The first order id in the text (without `#`) and the span of the words naming it.
pub(crate) fn find(text: &str) -> Option<(String, (usize, usize))> {
    let mut found: Vec<(String, (usize, usize))> = Vec::new();
    for t in tokens::tokenize(text) {
        // `l'ordine`: the word after the elision. Offsets come from the original text (an
        // apostrophe may take three bytes, and lower-casing may change lengths).
        let original = &text[t.start..t.end];
        let elided = original
            .char_indices()
            .rev()
            .find(|(_, c)| matches!(c, '\'' | '’'))
            .map(|(i, c)| i + c.len_utf8());
        let (word, start) = match elided {
            Some(at) => (original[at..].to_lowercase(), t.start + at),
            None => (t.text.clone(), t.start),
        };
        let (keyword, typo) = is_keyword(&word);
        if !keyword {
            continue;
        }
        let Some(c) = AFTER_KEYWORD.captures(&text[t.end..]) else {
            continue;
        };
        let (Some(id), Some(whole)) = (c.get(1), c.get(0)) else {
            continue;
        };
        let end = t.end + whole.end();
        // A slip of "order" followed by money is the German "oder" ("20 oder 30 Euro").
        if !has_digit(id.as_str()) || (typo && money::currency_after(text, end).is_some()) {
            continue;
        }
        found.push((id.as_str().to_owned(), (start, end)));
    }
    for re in OTHER_FORMS.iter() {
        if let Some((id, whole)) = re.captures_iter(text).find_map(|c| {
            let (id, whole) = (c.get(1)?, c.get(0)?);
            has_digit(id.as_str()).then(|| (id.as_str().to_owned(), whole))
        }) {
            found.push((id, (whole.start(), whole.end())));
        }
    }
    found.into_iter().min_by_key(|(_, (start, _))| *start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Option<String> {
        find(text).map(|(id, _)| id)
    }

    #[test]
    fn the_usual_forms() {
        assert_eq!(
            id("I want to pay $100 for order #12345").as_deref(),
            Some("12345")
        );
        assert_eq!(id("pay order 12345 now").as_deref(), Some("12345"));
        assert_eq!(id("settle order no. 5531").as_deref(), Some("5531"));
        assert_eq!(id("order number: 9001").as_deref(), Some("9001"));
        assert_eq!(id("pay 49.99 EUR for A-77812").as_deref(), Some("A-77812"));
        assert_eq!(id("order #A-77812").as_deref(), Some("A-77812"));
        assert_eq!(id("ref #12345").as_deref(), Some("12345"));
    }

    #[test]
    fn a_number_given_as_the_number_is_the_order() {
        assert_eq!(
            id("pay 20 dollars, the number is 66120").as_deref(),
            Some("66120")
        );
        assert_eq!(
            id("my order number is 66120, pay 20 EUR").as_deref(),
            Some("66120")
        );
        assert_eq!(id("order number was 4410").as_deref(), Some("4410"));
        assert_eq!(id("Number is 5512").as_deref(), Some("5512"));
        assert_eq!(id("my phone number is 5550100"), None);
        assert_eq!(id("the card number is 4111111111111111"), None);
        assert_eq!(
            id("the number is 12 dollars"),
            None,
            "too short to be an id"
        );
    }

    #[test]
    fn no_digit_no_order() {
        assert_eq!(id("order new shoes"), None);
        assert_eq!(id("pay $100"), None);
    }

    #[test]
    fn other_languages_and_markers() {
        for (text, want) in [
            ("bitte zahlen für die Bestellung 8812", "8812"),
            ("Auftragsnummer: 77-1", "77-1"),
            ("el pedido nº 311 ya", "311"),
            ("réglez la commande n° 42", "42"),
            ("per l'ordine n. 5150", "5150"),
            ("de bestelling 4470", "4470"),
            ("a encomenda 99", "99"),
            ("za zamówienie 640", "640"),
            ("за заказ 5512", "5512"),
            ("sipariş 310 için", "310"),
            ("注文9901を支払う", "9901"),
            ("purchase order 2210", "2210"),
            ("PO #5531", "5531"),
            ("invoice INV-2025-0007", "INV-2025-0007"),
            ("la facture 1204", "1204"),
            ("thanh toán cho đơn hàng 778", "778"),
            ("trả 200.000đ cho đơn 55", "55"),
            ("đơn hàng số 12", "12"),
            ("tra tien cho don hang 90", "90"),
        ] {
            assert_eq!(id(text).as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn slips_of_order_still_name_it() {
        assert_eq!(id("pay 5 eur for ordr 311").as_deref(), Some("311"));
        assert_eq!(id("pay for oder 12").as_deref(), Some("12"));
        assert_eq!(id("charge it fo rorder 65").as_deref(), Some("65"));
        assert_eq!(id("for oredr 7").as_deref(), Some("7"));
        // German "oder" before an amount is "or", not an order.
        assert_eq!(id("zahle 20 oder 30 Euro"), None);
        assert_eq!(id("po 12"), None);
    }
}

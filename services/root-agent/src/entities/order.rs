//! Order ids: `#12345`, `order 12345`, `order no. 5531`, `order #A-77812`, `A-77812`.

use std::sync::LazyLock;

use regex::Regex;

// A literal pattern: it compiles, or every test of this module fails.
#[allow(clippy::expect_used)]
static PATTERNS: LazyLock<[Regex; 3]> = LazyLock::new(|| {
    [
        Regex::new(r"(?i)\b(?:order|purchase|invoice)\s*(?:id|number|num|no\.?|nr\.?)?\s*[:#]?\s*#?\s*([A-Za-z0-9][A-Za-z0-9_-]{0,63})").expect("a literal, tested pattern"),
        Regex::new(r"#\s?([A-Za-z0-9][A-Za-z0-9_-]{0,63})").expect("a literal, tested pattern"),
        Regex::new(r"\b([A-Z]{1,4}-\d{3,12})\b").expect("a literal, tested pattern"),
    ]
});

/// The first order id in the text (without `#`) and the span of the words naming it.
pub(crate) fn find(text: &str) -> Option<(String, (usize, usize))> {
    PATTERNS
        .iter()
        .filter_map(|re| {
            re.captures_iter(text).find_map(|c| {
                let id = c.get(1)?;
                let whole = c.get(0)?;
                // An order id has a digit: `order shoes` names no order.
                id.as_str()
                    .chars()
                    .any(|ch| ch.is_ascii_digit())
                    .then(|| (id.as_str().to_owned(), (whole.start(), whole.end())))
            })
        })
        .min_by_key(|(_, (start, _))| *start)
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
    fn no_digit_no_order() {
        assert_eq!(id("order new shoes"), None);
        assert_eq!(id("pay $100"), None);
    }
}

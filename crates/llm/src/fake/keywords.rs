//! The keyword rule behind [`super::Script::Keywords`]: enough like a model for routing tests.

use serde_json::Value;

use super::ScriptedAnswer;
use crate::RawEntities;

const PAY: [&str; 3] = ["pay", "send", "transfer"];
const SEARCH: [&str; 5] = ["find", "search", "show", "buy", "looking"];
const CURRENCY_WORDS: [&str; 9] = [
    "eur", "usd", "gbp", "chf", "euro", "euros", "dollars", "pounds", "francs",
];
const SYMBOLS: [char; 3] = ['$', '€', '£'];
const BELOW: [&str; 3] = ["under", "below", "less"];
const ABOVE: [&str; 3] = ["over", "above", "more"];
const FILLER: [&str; 9] = [
    "me", "for", "some", "a", "an", "the", "than", "cheap", "please",
];

/// The answer for a recorded chat-completion request body.
pub(super) fn answer(request: &Value) -> ScriptedAnswer {
    let offered: Vec<String> = [
        "/response_format/json_schema/schema/properties/intent/enum",
        "/tools/0/function/parameters/properties/intent/enum",
    ]
    .iter()
    .find_map(|p| request.pointer(p).and_then(Value::as_array))
    .map(|ids| {
        ids.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default();
    let user = request
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|ms| {
            ms.iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        })
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .replace("<message>", " ")
        .replace("</message>", " ");
    classify(&user, &offered)
}

pub(super) fn classify(text: &str, offered: &[String]) -> ScriptedAnswer {
    let tokens: Vec<&str> = text
        .split_whitespace()
        .map(|t| t.trim_matches(|c: char| ",.!?;:\"'()".contains(c)))
        .filter(|t| !t.is_empty())
        .collect();
    let lower: Vec<String> = tokens.iter().map(|t| t.to_lowercase()).collect();
    let has = |words: &[&str]| lower.iter().any(|w| words.contains(&w.as_str()));
    let pick = |needle: &str| {
        offered
            .iter()
            .find(|id| id.to_lowercase().contains(needle) && !id.eq_ignore_ascii_case("none"))
            .cloned()
    };
    let (intent, kind) = if has(&PAY) {
        (pick("pay"), "pay")
    } else if has(&SEARCH) {
        (pick("search"), "search")
    } else {
        (None, "")
    };
    let mut entities = RawEntities {
        order_id: tokens
            .iter()
            .find_map(|t| t.strip_prefix('#'))
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
        ..RawEntities::default()
    };
    match (intent.is_some(), kind) {
        (true, "pay") => money(&tokens, &lower, &mut entities),
        (true, "search") => search(&tokens, &lower, &mut entities),
        _ => {}
    }
    let confidence = if intent.is_some() { 0.9 } else { 0.6 };
    ScriptedAnswer::new(intent.unwrap_or_else(|| "none".to_owned()), confidence)
        .with_entities(entities)
}

/// The number in a token such as `20`, `$15`, `12.50€`, `1,000`.
fn number(token: &str) -> Option<String> {
    let bare = token.trim_matches(|c| SYMBOLS.contains(&c));
    let digits = bare.replace(',', "");
    (!bare.is_empty() && digits.parse::<f64>().is_ok()).then(|| bare.to_owned())
}

fn money(tokens: &[&str], lower: &[String], entities: &mut RawEntities) {
    let Some(at) = tokens.iter().position(|t| number(t).is_some()) else {
        return;
    };
    entities.amount = number(tokens[at]);
    let symbol = tokens[at].chars().find(|c| SYMBOLS.contains(c));
    let word = [at + 1, at.wrapping_sub(1)].into_iter().find(|&i| {
        lower
            .get(i)
            .is_some_and(|w| CURRENCY_WORDS.contains(&w.as_str()))
    });
    entities.currency = symbol
        .map(String::from)
        .or_else(|| word.map(|i| tokens[i].to_owned()));
}

fn search(tokens: &[&str], lower: &[String], entities: &mut RawEntities) {
    let bound_after = |words: &[&str]| {
        lower
            .iter()
            .position(|w| words.contains(&w.as_str()))
            .and_then(|at| tokens[at + 1..].iter().take(2).find_map(|t| number(t)))
    };
    entities.max_price = bound_after(&BELOW);
    entities.min_price = bound_after(&ABOVE);
    let start = lower
        .iter()
        .position(|w| SEARCH.contains(&w.as_str()))
        .map_or(0, |at| at + 1);
    let query: Vec<&str> = tokens[start..]
        .iter()
        .zip(&lower[start..])
        .take_while(|(_, w)| !BELOW.contains(&w.as_str()) && !ABOVE.contains(&w.as_str()))
        .filter(|(t, w)| {
            !FILLER.contains(&w.as_str()) && !t.starts_with('#') && number(t).is_none()
        })
        .map(|(t, _)| *t)
        .collect();
    entities.query = (!query.is_empty()).then(|| query.join(" "));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered() -> Vec<String> {
        ["payment.pay", "search.products", "none"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn payments() {
        let answer = classify("Please pay 20 EUR to Bob", &offered());
        assert_eq!(answer.intent, "payment.pay");
        assert_eq!(answer.entities.amount.as_deref(), Some("20"));
        assert_eq!(answer.entities.currency.as_deref(), Some("EUR"));
        let answer = classify("send $15.50 to Alice for order #A17", &offered());
        assert_eq!(answer.entities.amount.as_deref(), Some("15.50"));
        assert_eq!(answer.entities.currency.as_deref(), Some("$"));
        assert_eq!(answer.entities.order_id.as_deref(), Some("A17"));
    }

    #[test]
    fn searches() {
        let answer = classify("find running shoes under 100 USD", &offered());
        assert_eq!(answer.intent, "search.products");
        assert_eq!(answer.entities.query.as_deref(), Some("running shoes"));
        assert_eq!(answer.entities.max_price.as_deref(), Some("100"));
        assert_eq!(answer.entities.amount, None);
    }

    #[test]
    fn everything_else_is_none() {
        let answer = classify("what's the weather like?", &offered());
        assert_eq!(answer.intent, "none");
        assert!(answer.entities.is_empty());
        let answer = classify("pay 5 EUR", &["search.products".to_owned()]);
        assert_eq!(answer.intent, "none", "pay is not on offer");
    }
}

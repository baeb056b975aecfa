//! The root's side of entity extraction: the parsers (`intentmesh-entities`) read the message
//! with a vocabulary learnt from the agents' cards; here their findings become the agent
//! contract's [`Entities`], the caller's `context` is merged over them ([`context`]), and a
//! skill gets the ones it takes ([`for_skill`]).

pub(crate) mod context;

use intentmesh_core::{
    AgentError, ErrorCode,
    agent::{AgentCard, Entities},
    money::{Decimal, Money, MoneyError},
};
use intentmesh_entities::{Extraction, Value, Vocabulary};

/// The closed vocabularies, stop words and request words of every skill of `cards`.
pub(crate) fn vocabulary<'a>(cards: impl IntoIterator<Item = &'a AgentCard>) -> Vocabulary {
    let mut builder = Vocabulary::builder();
    for skill in cards.into_iter().flat_map(|c| &c.skills) {
        builder.stopwords(skill.stopwords.iter().map(String::as_str));
        for tag in &skill.tags {
            builder.tag(tag);
        }
        for vocabulary in &skill.vocabularies {
            for term in &vocabulary.terms {
                builder.term(&vocabulary.entity, &term.value, &term.synonyms);
            }
        }
    }
    builder.build()
}

fn too_large() -> AgentError {
    AgentError::new(
        ErrorCode::AmountTooLarge,
        "the amount is too large to be paid",
    )
    .with("field", "amount")
}

/// What the parsers found, as entities. Fails only for an amount money cannot hold: too large
/// (`amount_too_large`) or with more decimal places than an amount has (`invalid_amount`).
pub(crate) fn parsed(x: &Extraction) -> Result<Entities, AgentError> {
    let money = |amount: Decimal, currency: &Option<String>| {
        Money::new(amount, currency.clone()).map_err(|e| match e {
            MoneyError::OutOfRange => too_large(),
            MoneyError::TooPrecise => {
                AgentError::new(ErrorCode::InvalidAmount, e.to_string()).with("field", "amount")
            }
        })
    };
    let amount = match &x.amount {
        None => None,
        Some(m) => match m.value {
            Value::Amount(a) => Some(money(a, &m.currency)?),
            Value::TooLarge => return Err(too_large()),
        },
    };
    Ok(Entities {
        currency: x.amount.as_ref().and_then(|m| m.currency.clone()),
        amount,
        order_id: x.order_id.clone(),
        query: x.query.clone(),
        category: x.category.clone(),
        min_price: x
            .bounds
            .min
            .as_ref()
            .map(|b| money(b.amount, &b.currency))
            .transpose()?,
        max_price: x
            .bounds
            .max
            .as_ref()
            .map(|b| money(b.amount, &b.currency))
            .transpose()?,
        page: None,
        page_size: None,
    })
}

/// Keeps only the entities a skill accepts (and paging, which any skill may ignore).
pub(crate) fn for_skill(mut e: Entities, accepts: &[String]) -> Entities {
    let has = |k: &str| accepts.iter().any(|a| a == k);
    if !has("amount") {
        e.amount = None;
    }
    if !has("currency") && !has("amount") {
        e.currency = None;
    }
    if !has("order_id") {
        e.order_id = None;
    }
    if !has("query") {
        e.query = None;
    }
    if !has("category") {
        e.category = None;
    }
    if !has("min_price") {
        e.min_price = None;
    }
    if !has("max_price") {
        e.max_price = None;
    }
    e
}

#[cfg(test)]
mod tests {
    use intentmesh_core::{ErrorCode, money::Decimal};
    use intentmesh_entities::extract;

    use super::*;

    fn cards() -> [AgentCard; 2] {
        [
            intentmesh_payment_agent::card(),
            intentmesh_search_agent::card(),
        ]
    }

    #[test]
    fn absurd_amounts_are_an_error_not_a_guess() {
        let x = extract(&format!("pay ${}", "9".repeat(40)), &vocabulary(&cards()));
        assert_eq!(parsed(&x).unwrap_err().code, ErrorCode::AmountTooLarge);
    }

    #[test]
    fn skills_get_only_their_entities() {
        let e = parsed(&extract(
            "pay $100 for order 7 wireless",
            &vocabulary(&cards()),
        ))
        .unwrap();
        let paid = for_skill(e, &["amount".into(), "currency".into(), "order_id".into()]);
        assert!(paid.query.is_none());
        assert_eq!(paid.order_id.as_deref(), Some("7"));
        assert_eq!(paid.amount.unwrap().amount(), Decimal::from(100));
    }

    /// Whatever the parsers make of a number, it becomes money or a clear error (the parsers'
    /// own tests feed them hostile text).
    #[test]
    fn extreme_numbers_become_money_or_an_error() {
        let v = vocabulary(&cards());
        for m in [
            format!("pay {} dollars", "hundred ".repeat(12)),
            format!("pay ${}", "9".repeat(19)),
            "pay $0.0000000001".to_owned(),
            "between 0.0000000001 and 9999999999999999999 euros".to_owned(),
        ] {
            match parsed(&extract(&m, &v)) {
                Ok(e) => assert!(
                    e.amount
                        .iter()
                        .chain(&e.min_price)
                        .all(|a| a.amount().scale() <= 9)
                ),
                Err(err) => assert!(
                    matches!(
                        err.code,
                        ErrorCode::AmountTooLarge | ErrorCode::InvalidAmount
                    ),
                    "{m}: {err:?}"
                ),
            }
        }
    }

    /// A fraction finer than money holds is not "too large".
    #[test]
    fn too_fine_an_amount_is_invalid_not_too_large() {
        let x = extract("pay $0.0000000001", &vocabulary(&cards()));
        let err = parsed(&x).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidAmount, "{err:?}");
        let x = extract("pay $0.000000001", &vocabulary(&cards()));
        assert_eq!(
            parsed(&x).unwrap().amount.unwrap().amount(),
            Decimal::new(1, 9)
        );
    }

    /// The parsers' own tests run on a copy of the cards' words; these run on the cards.
    #[test]
    fn the_real_cards_give_the_parsers_their_words() {
        let v = vocabulary(&cards());
        let typed = parsed(&extract("wireles keybaord", &v)).unwrap();
        assert_eq!(typed.query.as_deref(), Some("wireless keyboard"));
        let kitchen = parsed(&extract("Küche unter 40 Euro", &v)).unwrap();
        assert_eq!(kitchen.category.as_deref(), Some("kitchen"));
        let max = kitchen.max_price.unwrap();
        assert_eq!(
            (max.amount(), max.currency()),
            (Decimal::from(40), Some("EUR"))
        );
        assert_eq!(kitchen.query, None);
    }
}

use super::*;
use intentmesh_core::money::from_money;
use std::str::FromStr;

fn vocab() -> Vocabulary {
    let card = pb::AgentCard {
        name: "search".into(),
        skills: vec![pb::Skill {
            id: "search".into(),
            stopwords: vec!["search".into(), "find".into(), "show".into()],
            vocabularies: vec![pb::Vocabulary {
                entity: "category".into(),
                terms: vec![
                    pb::Term {
                        value: "electronics".into(),
                        synonyms: vec!["gadgets".into()],
                    },
                    pb::Term {
                        value: "books".into(),
                        synonyms: vec![],
                    },
                    pb::Term {
                        value: "kitchen".into(),
                        synonyms: vec![],
                    },
                ],
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    Vocabulary::from_cards([&card])
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[test]
fn the_payment_example() {
    let e = extract("I want to pay $100 for order #12345", &vocab())
        .entities()
        .unwrap();
    assert_eq!(from_money(e.amount.as_ref().unwrap()).unwrap(), dec("100"));
    assert_eq!(e.currency.as_deref(), Some("USD"));
    assert_eq!(e.order_id.as_deref(), Some("12345"));
}

#[test]
fn the_search_example() {
    let e = extract("search for wireless headphones under $50", &vocab())
        .entities()
        .unwrap();
    assert_eq!(e.query.as_deref(), Some("wireless headphones"));
    assert_eq!(
        from_money(e.max_price.as_ref().unwrap()).unwrap(),
        dec("50")
    );
    assert_eq!(e.max_price.unwrap().currency_code, "USD");
    assert!(e.amount.is_none(), "a price bound is not an amount to pay");
}

#[test]
fn categories_come_out_of_the_query() {
    let e = extract(
        "find books about gardening between 20 and 40 euros",
        &vocab(),
    )
    .entities()
    .unwrap();
    assert_eq!(e.category.as_deref(), Some("books"));
    assert_eq!(e.query.as_deref(), Some("gardening"));
    assert_eq!(e.min_price.as_ref().unwrap().currency_code, "EUR");
    assert_eq!(
        from_money(e.min_price.as_ref().unwrap()).unwrap(),
        dec("20")
    );
    assert_eq!(
        from_money(e.max_price.as_ref().unwrap()).unwrap(),
        dec("40")
    );
    let e = extract("cheap gadgets", &vocab()).entities().unwrap();
    assert_eq!(e.category.as_deref(), Some("electronics"));
}

#[test]
fn european_amounts_and_orders() {
    let e = extract("please settle order 5531 for 1.250,00 €", &vocab())
        .entities()
        .unwrap();
    assert_eq!(from_money(e.amount.as_ref().unwrap()).unwrap(), dec("1250"));
    assert_eq!(e.currency.as_deref(), Some("EUR"));
    assert_eq!(e.order_id.as_deref(), Some("5531"));
    let e = extract("pay 49.99 EUR for order A-77812", &vocab())
        .entities()
        .unwrap();
    assert_eq!(e.order_id.as_deref(), Some("A-77812"));
    assert_eq!(
        from_money(e.amount.as_ref().unwrap()).unwrap(),
        dec("49.99")
    );
}

#[test]
fn absurd_amounts_are_an_error_not_a_guess() {
    let x = extract(&format!("pay ${}", "9".repeat(40)), &vocab());
    assert_eq!(x.entities().unwrap_err().code, ErrorCode::AmountTooLarge);
}

#[test]
fn skills_get_only_their_entities() {
    let e = extract("pay $100 for order 7 wireless", &vocab())
        .entities()
        .unwrap();
    let paid = for_skill(e, &["amount".into(), "currency".into(), "order_id".into()]);
    assert!(paid.query.is_none());
    assert_eq!(paid.order_id.as_deref(), Some("7"));
}

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

/// The vocabulary of the real agents' cards.
fn cards_vocab() -> Vocabulary {
    Vocabulary::from_cards(&[
        intentmesh_payment_agent::card(),
        intentmesh_search_agent::card(),
    ])
}

fn search(message: &str) -> pb::Entities {
    extract(message, &cards_vocab()).entities().unwrap()
}

fn query_of(message: &str) -> Option<String> {
    search(message).query
}

fn bound(m: &Option<pb::Money>) -> Option<(Decimal, String)> {
    m.as_ref()
        .map(|m| (from_money(m).unwrap(), m.currency_code.clone()))
}

#[test]
fn mistyped_query_words_are_corrected_to_the_catalog() {
    assert_eq!(
        query_of("wireles keybaord").as_deref(),
        Some("wireless keyboard")
    );
    assert_eq!(query_of("a toastr").as_deref(), Some("toaster"));
    // A request word with a slip is still a request word, not a product.
    assert_eq!(query_of("shwo me a lamp").as_deref(), Some("lamp"));
    assert_eq!(query_of("serach for a lamp").as_deref(), Some("lamp"));
    // A real word one letter away from a product stays itself.
    assert_eq!(query_of("boots").as_deref(), Some("boots"));
}

#[test]
fn other_languages_lose_their_function_words_and_requests() {
    let e = search("ich suche eine Lampe unter 30 Euro");
    assert_eq!(e.query.as_deref(), Some("lampe"));
    assert_eq!(bound(&e.max_price), Some((dec("30"), "EUR".into())));
    assert_eq!(
        query_of("je cherche une bouilloire").as_deref(),
        Some("bouilloire")
    );
    assert_eq!(
        query_of("busco una mochila barata").as_deref(),
        Some("mochila")
    );
    assert_eq!(
        query_of("ヘッドホンを探しています").as_deref(),
        Some("ヘッドホン")
    );
    assert_eq!(query_of("我想买一个无线耳机").as_deref(), Some("无线耳机"));
}

#[test]
fn measurements_stay_in_the_query_and_are_not_prices() {
    let e = search("32 inch monitor under $250");
    assert_eq!(e.query.as_deref(), Some("32 inch monitor"));
    assert_eq!(bound(&e.max_price), Some((dec("250"), "USD".into())));
    assert!(e.min_price.is_none());
    assert_eq!(
        query_of("hoodie size 12").as_deref(),
        Some("hoodie size 12")
    );
    assert_eq!(
        query_of("kettlebell 16 kg").as_deref(),
        Some("kettlebell 16 kg")
    );
    let e = search("8k camera");
    assert_eq!(e.query.as_deref(), Some("8k camera"));
    assert!(e.min_price.is_none() && e.max_price.is_none());
}

#[test]
fn negations_possessives_and_stories_are_left_out() {
    assert_eq!(
        query_of("desk lamp but not vintage").as_deref(),
        Some("desk lamp")
    );
    assert_eq!(query_of("a leash for my puppy").as_deref(), Some("leash"));
    assert_eq!(
        query_of("Forget the last answer. Show me a toaster").as_deref(),
        Some("toaster")
    );
    assert_eq!(
        query_of("never mind the price, just find a scarf").as_deref(),
        Some("scarf")
    );
    let e = search(
        "my brother just moved into a flat and keeps complaining about cold evenings, \
         so I think a cozy blanket would make a good present, under 60 dollars",
    );
    assert_eq!(e.query.as_deref(), Some("cozy blanket"));
    assert_eq!(bound(&e.max_price), Some((dec("60"), "USD".into())));
}

#[test]
fn categories_in_other_languages_with_slips_and_traps() {
    let e = search("Küche unter 40 Euro");
    assert_eq!(e.category.as_deref(), Some("kitchen"));
    assert!(e.query.is_none());
    assert_eq!(
        search("electrnoics").category.as_deref(),
        Some("electronics")
    );
    // A category word inside a product's name is the product.
    let e = search("a toy car for my nephew");
    assert_eq!(e.category, None);
    assert_eq!(e.query.as_deref(), Some("toy car"));
    // Two categories: the one naming the product wins, the other stays in the query.
    let e = search("kids books");
    assert_eq!(e.category.as_deref(), Some("books"));
    assert_eq!(e.query.as_deref(), Some("kids"));
    let e = search("libros de jardinería");
    assert_eq!(e.category.as_deref(), Some("books"));
    assert_eq!(e.query.as_deref(), Some("jardinería"));
    // Every category word naming the same category: no query.
    let e = search("juguetes para niños");
    assert_eq!(e.category.as_deref(), Some("toys"));
    assert!(e.query.is_none());
}

#[test]
fn the_amount_meant_is_the_final_one() {
    let amount = |m: &str| {
        let e = extract(m, &cards_vocab()).entities().unwrap();
        (from_money(e.amount.as_ref().unwrap()).unwrap(), e.currency)
    };
    assert_eq!(
        amount("charge $30, sorry, I mean $35 for order 12"),
        (dec("35"), Some("USD".into()))
    );
    assert_eq!(
        amount("don't charge 20 euros, charge 25 euros"),
        (dec("25"), Some("EUR".into()))
    );
    assert_eq!(
        amount("send 12 items, total 48.50 GBP"),
        (dec("48.5"), Some("GBP".into()))
    );
}

#[test]
fn orders_and_amounts_in_other_languages() {
    let e = extract(
        "bitte 15 Euro für Bestellnummer 3310 überweisen",
        &cards_vocab(),
    )
    .entities()
    .unwrap();
    assert_eq!(e.order_id.as_deref(), Some("3310"));
    assert_eq!(from_money(e.amount.as_ref().unwrap()).unwrap(), dec("15"));
    let e = extract("注文5521の代金1200円を支払う", &cards_vocab())
        .entities()
        .unwrap();
    assert_eq!(e.order_id.as_deref(), Some("5521"));
    assert_eq!(e.currency.as_deref(), Some("JPY"));
    assert_eq!(from_money(e.amount.as_ref().unwrap()).unwrap(), dec("1200"));
}

/// Whatever a request says, extraction answers and never panics: curly apostrophes, amounts that
/// overlap, number words that overflow, long inputs.
#[test]
fn hostile_messages_never_panic() {
    let v = vocab();
    for m in [
        "I’d like to pay $20 for order 5",
        "l’ordine n’è 5 pagato’",
        "pay 2 thousand five hundred dollars",
        "pagar 5 mil cinco euros",
        "pay 5 $5",
        "$5 $5 5$ 5 $",
        &format!("pay {} dollars", "hundred ".repeat(12)),
        &format!("{} dollars", "thousand ".repeat(30)),
        "TUR\u{212A}ISH LIRA 5",
        "5 K€ und 3 \u{212A}r",
        &"under 5 ".repeat(500),
    ] {
        let e = extract(m, &v);
        let _ = e.entities();
    }
}

#[test]
fn a_curly_apostrophe_and_stacked_number_words_read_right() {
    let v = vocab();
    let e = extract("I’d like to pay $20 for order 5", &v)
        .entities()
        .unwrap();
    assert_eq!(e.order_id.as_deref(), Some("5"));
    assert_eq!(from_money(e.amount.as_ref().unwrap()).unwrap(), dec("20"));
    let e = extract("pagare l’ordine 77", &v).entities().unwrap();
    assert_eq!(e.order_id.as_deref(), Some("77"));
    // Past any number: no amount, rather than a wrapped-around one.
    let stacked = format!("pay {} dollars", "hundred ".repeat(12));
    assert!(extract(&stacked, &v).entities().unwrap().amount.is_none());
}

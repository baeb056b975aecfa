use super::*;
use rust_decimal::Decimal;
use std::str::FromStr;

/// A search skill's words: its request words and three categories.
fn vocab() -> Vocabulary {
    let mut b = Vocabulary::builder();
    b.stopwords(["search", "find", "show"])
        .term("category", "electronics", &["gadgets".into()])
        .term("category", "books", &[])
        .term("category", "kitchen", &[]);
    b.build()
}

/// The vocabulary of the real agents' cards: a copy of their words, `testdata/cards.txt`, given
/// to the builder in the order the root agent gives the cards' (skill by skill).
fn cards_vocab() -> Vocabulary {
    static CARDS: LazyLock<Vocabulary> = LazyLock::new(|| {
        let mut b = Vocabulary::builder();
        let lines = include_str!("../testdata/cards.txt")
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'));
        for line in lines {
            let columns: Vec<&str> = line.split('\t').collect();
            match columns.as_slice() {
                ["skill", _] => {}
                ["stopword", word] => {
                    b.stopwords([*word]);
                }
                ["tag", tag] => {
                    b.tag(tag);
                }
                [entity @ ("category" | "query"), value, synonyms @ ..] => {
                    let synonyms: Vec<String> = synonyms.iter().map(|s| (*s).to_owned()).collect();
                    b.term(entity, value, &synonyms);
                }
                _ => panic!("testdata/cards.txt: malformed line {line:?}"),
            }
        }
        b.build()
    });
    CARDS.clone()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// The amount to pay and its currency.
fn paid(x: &Extraction) -> (Decimal, Option<String>) {
    match &x.amount {
        Some(Mention {
            value: Value::Amount(a),
            currency,
            ..
        }) => (*a, currency.clone()),
        other => panic!("no amount to pay: {other:?}"),
    }
}

/// A price bound as (amount, currency).
fn bound(b: &Option<Bound>) -> Option<(Decimal, Option<String>)> {
    b.as_ref().map(|b| (b.amount, b.currency.clone()))
}

fn search(message: &str) -> Extraction {
    extract(message, &cards_vocab())
}

fn query_of(message: &str) -> Option<String> {
    search(message).query
}

#[test]
fn the_payment_example() {
    let x = extract("I want to pay $100 for order #12345", &vocab());
    assert_eq!(paid(&x), (dec("100"), Some("USD".into())));
    assert_eq!(x.order_id.as_deref(), Some("12345"));
}

#[test]
fn the_search_example() {
    let x = extract("search for wireless headphones under $50", &vocab());
    assert_eq!(x.query.as_deref(), Some("wireless headphones"));
    assert_eq!(bound(&x.bounds.max), Some((dec("50"), Some("USD".into()))));
    assert!(x.amount.is_none(), "a price bound is not an amount to pay");
}

#[test]
fn categories_come_out_of_the_query() {
    let x = extract(
        "find books about gardening between 20 and 40 euros",
        &vocab(),
    );
    assert_eq!(x.category.as_deref(), Some("books"));
    assert_eq!(x.query.as_deref(), Some("gardening"));
    assert_eq!(bound(&x.bounds.min), Some((dec("20"), Some("EUR".into()))));
    assert_eq!(bound(&x.bounds.max).map(|(a, _)| a), Some(dec("40")));
    let x = extract("cheap gadgets", &vocab());
    assert_eq!(x.category.as_deref(), Some("electronics"));
}

#[test]
fn european_amounts_and_orders() {
    let x = extract("please settle order 5531 for 1.250,00 €", &vocab());
    assert_eq!(paid(&x), (dec("1250"), Some("EUR".into())));
    assert_eq!(x.order_id.as_deref(), Some("5531"));
    let x = extract("pay 49.99 EUR for order A-77812", &vocab());
    assert_eq!(x.order_id.as_deref(), Some("A-77812"));
    assert_eq!(paid(&x).0, dec("49.99"));
}

/// A shouted verb before an amount is no currency when a currency follows it; a known code
/// before the amount still is, and an unknown code with nothing after is kept (for the payment
/// agent to refuse by name).
#[test]
fn an_upper_case_word_before_an_amount_is_a_currency_only_where_one_can_stand() {
    assert_eq!(
        paid(&extract("PAY 5 EUR", &vocab())),
        (dec("5"), Some("EUR".into()))
    );
    assert_eq!(
        paid(&extract("PAY 12.50 USD FOR ORDER 7", &vocab())),
        (dec("12.50"), Some("USD".into()))
    );
    assert_eq!(
        paid(&extract("pay EUR 30", &vocab())),
        (dec("30"), Some("EUR".into()))
    );
    assert_eq!(
        paid(&extract("pay XYZ 30", &vocab())),
        (dec("30"), Some("XYZ".into()))
    );
}

/// An amount past any number is reported as such, not guessed (the root agent answers it with
/// `AMOUNT_TOO_LARGE`).
#[test]
fn absurd_amounts_are_an_error_not_a_guess() {
    let x = extract(&format!("pay ${}", "9".repeat(40)), &vocab());
    assert_eq!(x.amount.map(|m| m.value), Some(Value::TooLarge));
}

/// A payment's order id beside a search word (which of them a skill gets is the root agent's
/// business).
#[test]
fn an_order_beside_search_words() {
    let x = extract("pay $100 for order 7 wireless", &vocab());
    assert_eq!(x.order_id.as_deref(), Some("7"));
    assert!(x.query.is_some());
}

#[test]
fn the_builder_keeps_what_the_parsers_use() {
    let mut b = Vocabulary::builder();
    b.stopwords(["Zeige"])
        .tag("")
        .tag(" - ")
        .tag("Looking for")
        .term("brand", "acme", &[])
        .term("query", "Yoga Mat", &["esterilla".into(), String::new()]);
    let v = b.build();
    assert!(v.is_stopword("zeige"), "a skill's stop words, lower case");
    assert!(v.is_stopword("the"), "and the common ones");
    assert_eq!(v.tags, [["looking", "for"]], "empty tags are left out");
    assert!(v.categories.is_empty(), "only `category` and `query` count");
    assert_eq!(v.products, [vec!["yoga", "mat"], vec!["esterilla"]]);
    assert_eq!(v.product_words.words(), ["esterilla", "mat", "yoga"]);
    assert!(v.is_product_head("mat") && !v.is_product_head("yoga"));
    assert!(v.is_single_term("esterilla") && !v.is_single_term("mat"));
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
    let x = search("ich suche eine Lampe unter 30 Euro");
    assert_eq!(x.query.as_deref(), Some("lampe"));
    assert_eq!(bound(&x.bounds.max), Some((dec("30"), Some("EUR".into()))));
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
    let x = search("32 inch monitor under $250");
    assert_eq!(x.query.as_deref(), Some("32 inch monitor"));
    assert_eq!(bound(&x.bounds.max), Some((dec("250"), Some("USD".into()))));
    assert!(x.bounds.min.is_none());
    assert_eq!(
        query_of("hoodie size 12").as_deref(),
        Some("hoodie size 12")
    );
    assert_eq!(
        query_of("kettlebell 16 kg").as_deref(),
        Some("kettlebell 16 kg")
    );
    let x = search("8k camera");
    assert_eq!(x.query.as_deref(), Some("8k camera"));
    assert!(x.bounds.min.is_none() && x.bounds.max.is_none());
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
    let x = search(
        "my brother just moved into a flat and keeps complaining about cold evenings, \
         so I think a cozy blanket would make a good present, under 60 dollars",
    );
    assert_eq!(x.query.as_deref(), Some("cozy blanket"));
    assert_eq!(bound(&x.bounds.max), Some((dec("60"), Some("USD".into()))));
}

#[test]
fn categories_in_other_languages_with_slips_and_traps() {
    let x = search("Küche unter 40 Euro");
    assert_eq!(x.category.as_deref(), Some("kitchen"));
    assert!(x.query.is_none());
    assert_eq!(
        search("electrnoics").category.as_deref(),
        Some("electronics")
    );
    // A category word inside a product's name is the product.
    let x = search("a toy car for my nephew");
    assert_eq!(x.category, None);
    assert_eq!(x.query.as_deref(), Some("toy car"));
    // Two categories: the one naming the product wins, the other stays in the query.
    let x = search("kids books");
    assert_eq!(x.category.as_deref(), Some("books"));
    assert_eq!(x.query.as_deref(), Some("kids"));
    let x = search("libros de jardinería");
    assert_eq!(x.category.as_deref(), Some("books"));
    assert_eq!(x.query.as_deref(), Some("jardinería"));
    // Every category word naming the same category: no query.
    let x = search("juguetes para niños");
    assert_eq!(x.category.as_deref(), Some("toys"));
    assert!(x.query.is_none());
}

#[test]
fn the_amount_meant_is_the_final_one() {
    let amount = |m: &str| paid(&search(m));
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
    let x = search("bitte 15 Euro für Bestellnummer 3310 überweisen");
    assert_eq!(x.order_id.as_deref(), Some("3310"));
    assert_eq!(paid(&x).0, dec("15"));
    let x = search("注文5521の代金1200円を支払う");
    assert_eq!(x.order_id.as_deref(), Some("5521"));
    assert_eq!(paid(&x), (dec("1200"), Some("JPY".into())));
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
        let _ = extract(m, &v);
    }
}

#[test]
fn a_curly_apostrophe_and_stacked_number_words_read_right() {
    let v = vocab();
    let x = extract("I’d like to pay $20 for order 5", &v);
    assert_eq!(x.order_id.as_deref(), Some("5"));
    assert_eq!(paid(&x).0, dec("20"));
    let x = extract("pagare l’ordine 77", &v);
    assert_eq!(x.order_id.as_deref(), Some("77"));
    // Past any number: no amount, rather than a wrapped-around one.
    let stacked = format!("pay {} dollars", "hundred ".repeat(12));
    assert!(extract(&stacked, &v).amount.is_none());
}

/// Issue 16's entity cases: dictionary words are never corrected into catalog words, the query
/// keeps the product words and drops filler and field names, more ways to say a maximum, and the
/// measurement after `spf`.
#[test]
fn words_meant_as_written_filler_and_more_bounds() {
    for (message, query) in [
        ("rain jacket", "rain jacket"),
        ("protein powder", "protein powder"),
        ("got any rain jackets?", "rain jackets"),
        ("I'd love to see some headphones", "headphones"),
        ("I'm after a yoga mat", "yoga mat"),
        ("compare wireless headphones", "wireless headphones"),
        ("zeig mir kopfhörer", "kopfhörer"),
        ("sunscreen spf 50", "sunscreen spf 50"),
        ("spf 50 sunscreen", "spf 50 sunscreen"),
        ("headphones price range 20 to 50", "headphones"),
        // Real slips are still mended.
        ("runing shoes", "running shoes"),
    ] {
        assert_eq!(query_of(message).as_deref(), Some(query), "{message}");
    }
    for (message, category) in [
        ("books category", "books"),
        ("the kitchen section", "kitchen"),
    ] {
        let x = search(message);
        assert_eq!(x.category.as_deref(), Some(category), "{message}");
        assert_eq!(x.query, None, "{message}: field names are no query");
    }
    for (message, max, currency) in [
        ("headphones nothing over 40", "40", None),
        ("headphones no more than 40", "40", None),
        ("headphones max 40", "40", None),
        ("headphones max. $40", "40", Some("USD")),
        ("headphones <15$", "15", Some("USD")),
    ] {
        let x = search(message);
        assert_eq!(
            bound(&x.bounds.max),
            Some((dec(max), currency.map(str::to_owned))),
            "{message}"
        );
        assert_eq!(x.query.as_deref(), Some("headphones"), "{message}");
    }
    for message in [
        "pay 20 dollars, the number is 66120",
        "my order number is 66120, pay 20 EUR",
    ] {
        assert_eq!(
            search(message).order_id.as_deref(),
            Some("66120"),
            "{message}"
        );
    }
}

/// Vietnamese money, orders and price bounds (issue 16): `500.000` thousands, `1,5 triệu`,
/// `200.000đ`, `₫`, đồng and VND, `đơn`/`đơn hàng`, `dưới`, `trên`, `từ … đến`.
#[test]
fn vietnamese_amounts_orders_and_bounds() {
    for (message, amount, order) in [
        ("thanh toán 500.000 VND cho đơn hàng 778", "500000", "778"),
        ("trả 200.000đ cho đơn 55", "200000", "55"),
        ("trả 1,5 triệu cho đơn hàng 12", "1500000", "12"),
        ("thanh toan 500k vnd cho don 778", "500000", "778"),
        ("pay ₫50,000 for order 9", "50000", "9"),
    ] {
        let x = search(message);
        let (value, currency) = paid(&x);
        assert_eq!(value, dec(amount), "{message}");
        if !message.contains("triệu") {
            assert_eq!(currency.as_deref(), Some("VND"), "{message}");
        }
        assert_eq!(x.order_id.as_deref(), Some(order), "{message}");
        assert_eq!(x.query, None, "{message}: a payment's words are no query");
    }
    let vnd = |v: &str| Some((dec(v), Some("VND".to_owned())));
    let x = search("tìm giày chạy bộ dưới 1.000.000 đồng");
    assert_eq!(bound(&x.bounds.max), vnd("1000000"));
    assert_eq!(x.query.as_deref(), Some("giày chạy bộ"));
    let x = search("tìm tai nghe từ 200.000₫ đến 500.000₫");
    assert_eq!(
        (bound(&x.bounds.min), bound(&x.bounds.max)),
        (vnd("200000"), vnd("500000"))
    );
    assert_eq!(x.query.as_deref(), Some("tai nghe"));
    let x = search("tai nghe trên 300.000 đồng");
    assert_eq!(bound(&x.bounds.min), vnd("300000"));
    assert_eq!(x.query.as_deref(), Some("tai nghe"));
}

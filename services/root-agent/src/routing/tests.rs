//! The rules stage against the real agents' descriptions.

use super::{rules::RuleClassifier, *};
use crate::entities::{Vocabulary, extract};

fn route(message: &str) -> Decision {
    let cards = [
        intentmesh_payment_agent::card(),
        intentmesh_search_agent::card(),
    ];
    let vocabulary = Vocabulary::from_cards(&cards);
    let cascade = Cascade::new(vec![Box::new(RuleClassifier::new(&cards))], 0.5, 0.1);
    let extraction = extract(message, &vocabulary);
    cascade.decide(&Input {
        message,
        extraction: &extraction,
    })
}

fn agent_of(message: &str) -> Option<String> {
    match route(message) {
        Decision::Routed { best, stage } => {
            assert_eq!(stage, Stage::Rules);
            Some(best.agent)
        }
        Decision::NeedsClarification { .. } => None,
    }
}

#[test]
fn payments_route_to_payment() {
    for m in [
        "I want to pay $100 for order #12345",
        "pay $100",
        "pay 49.99 EUR for order A-77812",
        "charge my card 20 dollars",
        "please settle order 5531 for 1.250,00 €",
        "send a payment of £15",
        "transfer 30 euros for order 9001",
        "Pay twenty five dollars",
    ] {
        assert_eq!(agent_of(m).as_deref(), Some("payment"), "{m}");
    }
}

#[test]
fn searches_route_to_search() {
    for m in [
        "search for wireless headphones under $50",
        "find running shoes between 40 and 80 dollars",
        "wireless mouse",
        "headphones",
        "do you have black hoodies",
        "books about gardening",
        "show me kitchen knives",
        "looking for a bluetooth speaker under 30 euros",
    ] {
        assert_eq!(agent_of(m).as_deref(), Some("search"), "{m}");
    }
}

#[test]
fn no_match_asks_instead_of_guessing() {
    for m in [
        "hello",
        "what's the weather like?",
        "tell me a joke",
        "asdfgh qwerty",
        "42",
    ] {
        assert_eq!(agent_of(m), None, "{m}");
    }
}

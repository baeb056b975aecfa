//! What the payment agent tells the router about itself.

use intentmesh_proto::pb;

pub const AGENT_NAME: &str = "payment";
pub const SKILL_PAY: &str = "pay";

pub fn card() -> pb::AgentCard {
    let strings = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    pb::AgentCard {
        name: AGENT_NAME.to_owned(),
        version: intentmesh_core::VERSION.to_owned(),
        description: "Makes payments and records each one once in the ledger".to_owned(),
        skills: vec![pb::Skill {
            id: SKILL_PAY.to_owned(),
            name: "Make a payment".to_owned(),
            description: "Charge an amount in a currency, optionally for an order".to_owned(),
            tags: strings(&[
                "pay",
                "payment",
                "charge",
                "checkout",
                "settle",
                "transfer",
                "send money",
                "remit",
                "bill",
                "invoice",
                "wire",
            ]),
            examples: strings(&[
                "I want to pay $100 for order #12345",
                "pay 49.99 EUR for order A-77812",
                "charge my card 20 dollars",
                "please settle order 5531 for 1.250,00 €",
                "send a payment of £15",
                "make a payment of 250 usd",
                "pay $100",
                "transfer 30 euros for order 9001",
            ]),
            patterns: strings(&[
                r"\b(pay|pays|paying|paid|payment|charge|settle|transfer|remit|wire)\b",
                r"\bcheck ?out\b",
            ]),
            default_mode: pb::ExecutionMode::Sync as i32,
            entities: strings(&["amount", "currency", "order_id"]),
            vocabularies: vec![],
            stopwords: strings(&["pay", "payment", "charge", "order"]),
        }],
    }
}

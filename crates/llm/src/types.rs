//! What goes into a classification (the skills on offer) and what comes out.

use crate::StructuredMode;

/// One skill the message may be routed to.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The value the model answers with, e.g. `"payment.pay"`.
    pub id: String,
    pub description: String,
    /// A few example requests; the prompt shows at most three, and drops them first when over budget.
    pub examples: Vec<String>,
    /// Entity keys the skill accepts (`amount`, `currency`, `order_id`, `query`, …).
    pub entities: Vec<String>,
}

impl Choice {
    pub fn new(id: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            description: description.into(),
            examples: Vec::new(),
            entities: Vec::new(),
        }
    }

    pub fn with_examples<I, S>(mut self, examples: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.examples = examples.into_iter().map(Into::into).collect();
        self
    }

    pub fn with_entities<I, S>(mut self, entities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entities = entities.into_iter().map(Into::into).collect();
        self
    }
}

/// A validated answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// One of the choices' ids (as the choice spells it); `None` when the model said "none".
    pub intent: Option<String>,
    /// Clamped to `0..=1`.
    pub confidence: f64,
    pub entities: RawEntities,
    /// Which structured mode answered: `JsonSchema` or `Tools`, never `Auto`.
    pub via: StructuredMode,
    /// Token counts, when the server reports them.
    pub usage: Option<Usage>,
}

/// Entities as the model wrote them: trimmed, empty as `None`, at most 200 characters, `order_id`
/// without a leading `#`. Parsing (money, currencies) is the caller's job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawEntities {
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub order_id: Option<String>,
    pub query: Option<String>,
    pub category: Option<String>,
    pub min_price: Option<String>,
    pub max_price: Option<String>,
}

impl RawEntities {
    /// The keys, in schema order.
    pub const KEYS: [&'static str; 7] = [
        "amount",
        "currency",
        "order_id",
        "query",
        "category",
        "min_price",
        "max_price",
    ];

    pub fn is_empty(&self) -> bool {
        self.iter().all(|(_, v)| v.is_none())
    }

    /// `(key, value)` in schema order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Option<&str>)> {
        [
            &self.amount,
            &self.currency,
            &self.order_id,
            &self.query,
            &self.category,
            &self.min_price,
            &self.max_price,
        ]
        .into_iter()
        .zip(Self::KEYS)
        .map(|(value, key)| (key, value.as_deref()))
    }

    pub(crate) fn slot(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "amount" => &mut self.amount,
            "currency" => &mut self.currency,
            "order_id" => &mut self.order_id,
            "query" => &mut self.query,
            "category" => &mut self.category,
            "min_price" => &mut self.min_price,
            "max_price" => &mut self.max_price,
            _ => return None,
        })
    }
}

/// Token counts reported by the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

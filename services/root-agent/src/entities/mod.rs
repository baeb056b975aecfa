//! Deterministic entity extraction: amounts, currencies, order ids, price bounds, category and
//! the search words, then the caller's `context`, which always wins.

pub(crate) mod bounds;
pub(crate) mod context;
pub(crate) mod money;
pub(crate) mod number;
pub(crate) mod order;
pub(crate) mod tokens;

use std::collections::HashSet;

use intentmesh_core::{AgentError, ErrorCode, money as wire};
use intentmesh_proto::pb;
use rust_decimal::Decimal;

use self::{
    bounds::Bounds,
    money::{Mention, Value},
    tokens::{Token, find_phrase, singular, tokenize, words},
};

/// Words that never carry meaning for routing or search.
pub(crate) const STOPWORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "we",
    "us",
    "our",
    "you",
    "your",
    "a",
    "an",
    "the",
    "for",
    "to",
    "of",
    "in",
    "on",
    "at",
    "with",
    "and",
    "or",
    "please",
    "want",
    "wanna",
    "would",
    "like",
    "need",
    "some",
    "can",
    "could",
    "should",
    "that",
    "this",
    "these",
    "those",
    "is",
    "are",
    "be",
    "do",
    "does",
    "have",
    "has",
    "what",
    "which",
    "there",
    "here",
    "just",
    "also",
    "really",
    "very",
    "let",
    "lets",
    "let's",
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank",
    "it",
    "its",
    "it's",
    "im",
    "i'm",
    "from",
    "by",
    "about",
    "any",
    "something",
    "one",
    "ones",
    "will",
    "now",
    "today",
    "up",
    "under",
    "below",
    "over",
    "above",
    "between",
    "than",
    "less",
    "more",
    "at",
    "most",
    "least",
    "cheaper",
    "max",
    "min",
    "price",
    "priced",
    "costing",
    "cost",
    "budget",
    "dollars",
    "euros",
];

/// Closed vocabularies learnt from the agents' descriptions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vocabulary {
    /// (category value, the phrases naming it)
    categories: Vec<(String, Vec<Vec<String>>)>,
    /// Stop words: the global ones and every skill's own.
    stopwords: HashSet<String>,
}

impl Vocabulary {
    pub(crate) fn from_cards<'a>(cards: impl IntoIterator<Item = &'a pb::AgentCard>) -> Self {
        let mut v = Self {
            stopwords: STOPWORDS.iter().map(|s| (*s).to_owned()).collect(),
            ..Self::default()
        };
        for skill in cards.into_iter().flat_map(|c| &c.skills) {
            v.stopwords
                .extend(skill.stopwords.iter().map(|s| s.to_lowercase()));
            for vocab in skill.vocabularies.iter().filter(|v| v.entity == "category") {
                for term in &vocab.terms {
                    let mut phrases = vec![words(&term.value)];
                    phrases.extend(term.synonyms.iter().map(|s| words(s)));
                    v.categories.push((term.value.to_lowercase(), phrases));
                }
            }
        }
        v
    }

    pub(crate) fn is_stopword(&self, word: &str) -> bool {
        self.stopwords.contains(word) || self.stopwords.contains(singular(word))
    }
}

/// Everything the parsers found in one message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extraction {
    /// The amount to pay: the first amount that is not a price bound.
    pub(crate) amount: Option<Mention>,
    pub(crate) order_id: Option<String>,
    pub(crate) bounds: Bounds,
    pub(crate) category: Option<String>,
    /// Lower-case content words left once amounts, bounds, order ids and stop words are gone.
    pub(crate) query: Option<String>,
    pub(crate) tokens: Vec<Token>,
}

/// Runs every parser over a message.
pub(crate) fn extract(message: &str, vocab: &Vocabulary) -> Extraction {
    let tokens = tokenize(message);
    let order = order::find(message);
    let taken: Vec<(usize, usize)> = order.iter().map(|(_, span)| *span).collect();
    let mentions = money::find(message, &taken, &tokens);
    let bounds = bounds::find(message, &mentions);
    let amount = mentions
        .iter()
        .enumerate()
        .filter(|(i, _)| !bounds.used.contains(i))
        .map(|(_, m)| m)
        .min_by_key(|m| (m.currency.is_none(), m.start))
        .cloned();

    let category = vocab
        .categories
        .iter()
        .flat_map(|(value, phrases)| {
            phrases
                .iter()
                .filter_map(|p| find_phrase(&tokens, p))
                .map(move |span| (value.clone(), span))
        })
        .min_by_key(|(_, (start, _))| *start);

    let mut consumed: Vec<(usize, usize)> = taken;
    consumed.extend(mentions.iter().map(|m| (m.start, m.end)));
    consumed.extend(bounds.spans.iter().copied());
    if let Some((_, span)) = &category {
        consumed.push(*span);
    }
    let query: Vec<&str> = tokens
        .iter()
        .filter(|t| !consumed.iter().any(|(s, e)| t.start >= *s && t.end <= *e))
        .filter(|t| t.text.chars().any(char::is_alphabetic))
        .filter(|t| !vocab.is_stopword(&t.text))
        .map(|t| t.text.as_str())
        .collect();

    Extraction {
        amount,
        order_id: order.map(|(id, _)| id),
        bounds,
        category: category.map(|(value, _)| value),
        query: (!query.is_empty()).then(|| query.join(" ")),
        tokens,
    }
}

impl Extraction {
    /// The entities as the wire type. Fails only for an amount too large to represent.
    pub(crate) fn entities(&self) -> Result<pb::Entities, AgentError> {
        let money = |amount: Decimal, currency: &Option<String>| {
            wire::to_money(amount, currency.as_deref().unwrap_or("")).map_err(|_| {
                AgentError::new(
                    ErrorCode::AmountTooLarge,
                    "the amount is too large to be paid",
                )
                .with("field", "amount")
            })
        };
        let amount = match &self.amount {
            None => None,
            Some(m) => match m.value {
                Value::Amount(a) => Some(money(a, &m.currency)?),
                Value::TooLarge => {
                    return Err(AgentError::new(
                        ErrorCode::AmountTooLarge,
                        "the amount is too large to be paid",
                    )
                    .with("field", "amount"));
                }
            },
        };
        Ok(pb::Entities {
            currency: self.amount.as_ref().and_then(|m| m.currency.clone()),
            amount,
            order_id: self.order_id.clone(),
            query: self.query.clone(),
            category: self.category.clone(),
            min_price: self
                .bounds
                .min
                .as_ref()
                .map(|b| money(b.amount, &b.currency))
                .transpose()?,
            max_price: self
                .bounds
                .max
                .as_ref()
                .map(|b| money(b.amount, &b.currency))
                .transpose()?,
            page: None,
            page_size: None,
        })
    }
}

/// Keeps only the entities a skill accepts (and paging, which any skill may ignore).
pub(crate) fn for_skill(mut e: pb::Entities, accepts: &[String]) -> pb::Entities {
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
mod tests;

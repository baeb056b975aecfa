//! Conversation context: a follow-up in the same session ("make it $120 instead", "only the black
//! ones") goes to the skill the previous turn went to. It runs after the rules, so a message that
//! clearly names another agent ("now search for laptops") has already been routed there; what
//! reaches this stage sticks when it reads like a follow-up: it carries something the previous
//! skill takes (an amount, an order, a price bound, a category, a product word) and is short or
//! says it refers back ("instead", "only", "same", "what about", ...).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use intentmesh_core::agent::AgentCard;
use intentmesh_entities::tokens::singular;

use super::{Classifier, Input, Outcome, Scored, Stage, StageError};
use crate::state::ConversationTurn;

/// How sure a follow-up is of its previous skill: enough to decide, not more.
const STICKY: f64 = 0.75;
/// At most this many words read as a follow-up without a word that refers back.
const SHORT: usize = 6;
/// Longer messages are new requests, whatever they contain.
const LONGEST: usize = 16;

/// Words that refer back to the previous turn (common words like "it" are left out: "is it
/// going to rain" is not a follow-up to a search).
pub(crate) const REFERS_BACK: &[&str] = &[
    "instead",
    "actually",
    "rather",
    "only",
    "same",
    "again",
    "also",
    "cheaper",
    "another",
    "other",
    "ones",
    "those",
    "them",
    "what about",
    "how about",
    "make it",
    "change it",
];

#[derive(Debug)]
pub(crate) struct ContextClassifier {
    /// Entity keys each `agent.skill` accepts.
    accepts: HashMap<String, HashSet<String>>,
    /// Words of the skills' closed vocabularies (product words), singular.
    known_words: HashSet<String>,
}

impl ContextClassifier {
    pub(crate) fn new<'a>(cards: impl IntoIterator<Item = &'a AgentCard>) -> Self {
        let mut accepts = HashMap::new();
        let mut known_words = HashSet::new();
        for card in cards {
            for skill in &card.skills {
                accepts.insert(
                    format!("{}.{}", card.name, skill.id),
                    skill.entities.iter().cloned().collect(),
                );
                for vocabulary in &skill.vocabularies {
                    for term in &vocabulary.terms {
                        known_words.insert(singular(&term.value.to_lowercase()).to_owned());
                    }
                }
            }
        }
        Self {
            accepts,
            known_words,
        }
    }

    fn follows_up(&self, input: &Input<'_>, previous: &ConversationTurn) -> bool {
        let Some(accepts) = self
            .accepts
            .get(&format!("{}.{}", previous.agent, previous.skill))
        else {
            return false;
        };
        let x = input.extraction;
        let takes = |k: &str| accepts.contains(k);
        let words: Vec<String> = x.tokens.iter().map(|t| t.text.to_lowercase()).collect();
        if words.is_empty() || words.len() > LONGEST {
            return false;
        }
        let strong = (takes("amount") && x.amount.is_some())
            || (takes("order_id") && x.order_id.is_some())
            || ((takes("min_price") || takes("max_price"))
                && (x.bounds.min.is_some() || x.bounds.max.is_some()))
            || (takes("category") && x.category.is_some())
            || (takes("query")
                && x.query.as_deref().is_some_and(|q| {
                    q.split_whitespace()
                        .any(|w| self.known_words.contains(singular(w)))
                }));
        let weak = takes("query") && x.query.is_some();
        let refers_back = REFERS_BACK.iter().any(|m| {
            let phrase: Vec<&str> = m.split(' ').collect();
            words
                .windows(phrase.len())
                .any(|w| w.iter().zip(&phrase).all(|(a, b)| a == b))
        });
        (strong && (refers_back || words.len() <= SHORT)) || (weak && refers_back)
    }
}

#[async_trait]
impl Classifier for ContextClassifier {
    fn stage(&self) -> Stage {
        Stage::Context
    }

    async fn classify(&self, input: &Input<'_>) -> Result<Outcome, StageError> {
        Ok(match input.previous {
            Some(previous) if self.follows_up(input, previous) => Outcome::ranked(vec![Scored {
                agent: previous.agent.clone(),
                skill: previous.skill.clone(),
                confidence: STICKY,
            }]),
            _ => Outcome::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::entities::vocabulary;

    async fn sticks(previous: (&str, &str), message: &str) -> bool {
        let cards = [
            intentmesh_payment_agent::card(),
            intentmesh_search_agent::card(),
        ];
        let stage = ContextClassifier::new(&cards);
        let extraction = intentmesh_entities::extract(message, &vocabulary(&cards));
        let turn = ConversationTurn {
            agent: previous.0.into(),
            skill: previous.1.into(),
            ..Default::default()
        };
        let outcome = stage
            .classify(&Input {
                message,
                extraction: &extraction,
                previous: Some(&turn),
                deadline: Instant::now() + Duration::from_secs(1),
            })
            .await
            .unwrap();
        !outcome.ranked.is_empty()
    }

    #[tokio::test]
    async fn follow_ups_stick_and_new_topics_do_not() {
        let pay = ("payment", "pay");
        let search = ("search", "search");
        assert!(sticks(pay, "make it $120 instead").await);
        assert!(sticks(pay, "actually for order 5531").await);
        assert!(sticks(search, "only the black ones").await);
        assert!(sticks(search, "under $30").await);
        assert!(sticks(search, "what about laptops").await);
        assert!(!sticks(search, "is it going to rain tomorrow").await);
        assert!(!sticks(search, "thanks!").await);
        assert!(!sticks(pay, "hello there").await);
        assert!(
            !sticks(pay, "only the black ones").await,
            "nothing a payment takes"
        );
        assert!(
            !sticks(("gone", "skill"), "under $30").await,
            "an agent no longer described"
        );
    }
}

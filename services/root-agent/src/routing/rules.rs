//! The rules stage, built entirely from the agents' `Describe` answers: tags and patterns name a
//! skill, the entities it accepts add evidence, its vocabularies recognise its words, and its
//! examples vote by word overlap. Adding an agent changes no code here.

use std::collections::HashSet;

use rustc_hash::FxHashSet;

use async_trait::async_trait;
use intentmesh_core::agent::AgentCard;
use intentmesh_entities::{
    Lexicon, is_common_stopword,
    tokens::{find_phrase, singular, words},
};
use regex::Regex;

use super::{Classifier, Input, Outcome, Scored, Stage, StageError, compile_patterns};

/// Weights of the evidence. The sum is capped at 1.
const NAMED: f64 = 0.5;
const EACH_MORE_NAMED: f64 = 0.1;
const ENTITY: f64 = 0.2;
const ENTITY_CAP: f64 = 0.35;
const FIRST_WORD: f64 = 0.3;
const EACH_MORE_WORD: f64 = 0.1;
const WORD_CAP: f64 = 0.4;
const EXAMPLES: f64 = 0.3;
/// Every content word is the skill's own (product and category words): "laptops", "furniture".
const COVERED: f64 = 0.3;

#[derive(Debug)]
struct SkillRules {
    agent: String,
    skill: String,
    tags: Vec<Vec<String>>,
    /// The one-word tags, recognised with a slip too (`pya`, `serch`), and the position in
    /// `tags` of each.
    one_word_tags: Lexicon,
    one_word_tag_of: Vec<usize>,
    patterns: Vec<Regex>,
    examples: Vec<FxHashSet<String>>,
    /// Words of the skill's vocabularies other than categories (for search: product words).
    words: Lexicon,
    /// Words of the skill's category names and synonyms.
    category_words: Lexicon,
    accepts: HashSet<String>,
    has_categories: bool,
}

#[derive(Debug)]
pub(crate) struct RuleClassifier {
    skills: Vec<SkillRules>,
}

/// Words in a fixed order (a set's order changes from run to run).
fn sorted(words: HashSet<String>) -> Lexicon {
    let mut words: Vec<String> = words.into_iter().collect();
    words.sort_unstable();
    Lexicon::new(words)
}

fn content_words(text: &str) -> FxHashSet<String> {
    words(text)
        .into_iter()
        .filter(|w| !is_common_stopword(w) && w.chars().any(char::is_alphabetic))
        .map(|w| singular(&w).to_owned())
        .collect()
}

impl RuleClassifier {
    pub(crate) fn new<'a>(cards: impl IntoIterator<Item = &'a AgentCard>) -> Self {
        let mut skills = Vec::new();
        for card in cards {
            for skill in &card.skills {
                let patterns = compile_patterns(card, skill, &skill.patterns);
                let vocabulary: HashSet<String> = skill
                    .vocabularies
                    .iter()
                    .filter(|v| v.entity != "category")
                    .flat_map(|v| &v.terms)
                    .flat_map(|t| std::iter::once(&t.value).chain(&t.synonyms))
                    .flat_map(|t| words(t))
                    .map(|w| singular(&w).to_owned())
                    .filter(|w| !is_common_stopword(w))
                    .collect();
                let tags: Vec<Vec<String>> = skill
                    .tags
                    .iter()
                    .map(|t| words(t))
                    .filter(|t| !t.is_empty())
                    .collect();
                let one_word: Vec<(usize, &String)> = tags
                    .iter()
                    .enumerate()
                    .filter_map(|(i, t)| match t.as_slice() {
                        [only] => Some((i, only)),
                        _ => None,
                    })
                    .collect();
                skills.push(SkillRules {
                    agent: card.name.clone(),
                    skill: skill.id.clone(),
                    one_word_tags: Lexicon::new(one_word.iter().map(|(_, w)| (*w).clone())),
                    one_word_tag_of: one_word.iter().map(|(i, _)| *i).collect(),
                    tags,
                    patterns,
                    examples: skill.examples.iter().map(|e| content_words(e)).collect(),
                    words: sorted(vocabulary),
                    category_words: sorted(
                        skill
                            .vocabularies
                            .iter()
                            .filter(|v| v.entity == "category")
                            .flat_map(|v| &v.terms)
                            .flat_map(|t| std::iter::once(&t.value).chain(&t.synonyms))
                            .flat_map(|t| words(t))
                            .map(|w| singular(&w).to_owned())
                            .collect(),
                    ),
                    accepts: skill.entities.iter().cloned().collect(),
                    has_categories: skill.vocabularies.iter().any(|v| v.entity == "category"),
                });
            }
        }
        Self { skills }
    }

    fn score(rules: &SkillRules, input: &Input<'_>, message_words: &FxHashSet<String>) -> f64 {
        let x = input.extraction;
        // A one-word tag mistyped ("pya", "serch") still names its skill.
        let mut slipped = vec![false; rules.tags.len()];
        for w in &x.tokens {
            for at in rules.one_word_tags.typo_positions(singular(&w.text)) {
                if let Some(tag) = rules.one_word_tag_of.get(at)
                    && let Some(s) = slipped.get_mut(*tag)
                {
                    *s = true;
                }
            }
        }
        let named = rules
            .tags
            .iter()
            .zip(&slipped)
            .filter(|(t, slipped)| **slipped || find_phrase(&x.tokens, t).is_some())
            .count()
            + rules
                .patterns
                .iter()
                .filter(|p| p.is_match(input.message))
                .count();
        let mut score = if named > 0 {
            NAMED + EACH_MORE_NAMED * (named - 1).min(2) as f64
        } else {
            0.0
        };

        let accepts = |k: &str| rules.accepts.contains(k);
        let mut entity = 0.0;
        if accepts("amount") && x.amount.is_some() {
            entity += ENTITY;
        }
        if accepts("order_id") && x.order_id.is_some() {
            entity += ENTITY;
        }
        if (accepts("min_price") || accepts("max_price"))
            && (x.bounds.min.is_some() || x.bounds.max.is_some())
        {
            entity += ENTITY;
        }
        if rules.has_categories && x.category.is_some() {
            entity += ENTITY;
        }
        score += entity.min(ENTITY_CAP);

        // Each word looked up once in the product words.
        let product: Vec<bool> = message_words.iter().map(|w| rules.words.knows(w)).collect();
        let known = product.iter().filter(|k| **k).count();
        if known > 0 {
            score += (FIRST_WORD + EACH_MORE_WORD * (known - 1) as f64).min(WORD_CAP);
        }
        if !message_words.is_empty()
            && message_words
                .iter()
                .zip(&product)
                .all(|(w, product)| *product || rules.category_words.knows(w))
        {
            score += COVERED;
        }
        if !message_words.is_empty() {
            let overlap = rules
                .examples
                .iter()
                .map(|e| e.intersection(message_words).count() as f64 / message_words.len() as f64)
                .fold(0.0, f64::max);
            score += EXAMPLES * overlap;
        }
        score.min(1.0)
    }
}

#[async_trait]
impl Classifier for RuleClassifier {
    fn stage(&self) -> Stage {
        Stage::Rules
    }

    async fn classify(&self, input: &Input<'_>) -> Result<Outcome, StageError> {
        Ok(self.rank(input))
    }
}

impl RuleClassifier {
    /// Every skill, best first (synchronous: the rules take microseconds).
    pub(crate) fn rank(&self, input: &Input<'_>) -> Outcome {
        // Looked up in every skill's examples: hashed the cheap way (the words are not secret).
        let message_words: FxHashSet<String> = input
            .extraction
            .tokens
            .iter()
            .map(|t| singular(&t.text).to_owned())
            .filter(|w| !is_common_stopword(w) && w.chars().any(char::is_alphabetic))
            .collect();
        let scored: Vec<Scored> = self
            .skills
            .iter()
            .map(|r| Scored {
                agent: r.agent.clone(),
                skill: r.skill.clone(),
                confidence: (Self::score(r, input, &message_words) * 1000.0).round() / 1000.0,
            })
            .collect();
        Outcome::ranked(scored)
    }
}

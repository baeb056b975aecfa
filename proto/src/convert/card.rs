//! Agent cards: what `Describe` answers.

use intentmesh_core::agent::{AgentCard, Skill, Term, Vocabulary};

use crate::pb;

impl From<&AgentCard> for pb::AgentCard {
    fn from(card: &AgentCard) -> Self {
        Self {
            name: card.name.clone(),
            version: card.version.clone(),
            description: card.description.clone(),
            skills: card.skills.iter().map(pb::Skill::from).collect(),
        }
    }
}

impl From<&Skill> for pb::Skill {
    fn from(s: &Skill) -> Self {
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            description: s.description.clone(),
            tags: s.tags.clone(),
            examples: s.examples.clone(),
            patterns: s.patterns.clone(),
            default_mode: pb::ExecutionMode::from(s.default_mode) as i32,
            entities: s.entities.clone(),
            vocabularies: s
                .vocabularies
                .iter()
                .map(|v| pb::Vocabulary {
                    entity: v.entity.clone(),
                    terms: v
                        .terms
                        .iter()
                        .map(|t| pb::Term {
                            value: t.value.clone(),
                            synonyms: t.synonyms.clone(),
                        })
                        .collect(),
                })
                .collect(),
            stopwords: s.stopwords.clone(),
            counter_examples: s.counter_examples.clone(),
            exclude_patterns: s.exclude_patterns.clone(),
        }
    }
}

impl From<pb::AgentCard> for AgentCard {
    fn from(card: pb::AgentCard) -> Self {
        Self {
            name: card.name,
            version: card.version,
            description: card.description,
            skills: card.skills.into_iter().map(Skill::from).collect(),
        }
    }
}

impl From<pb::Skill> for Skill {
    fn from(s: pb::Skill) -> Self {
        Self {
            default_mode: pb::ExecutionMode::try_from(s.default_mode)
                .unwrap_or_default()
                .into(),
            id: s.id,
            name: s.name,
            description: s.description,
            tags: s.tags,
            examples: s.examples,
            patterns: s.patterns,
            entities: s.entities,
            vocabularies: s
                .vocabularies
                .into_iter()
                .map(|v| Vocabulary {
                    entity: v.entity,
                    terms: v
                        .terms
                        .into_iter()
                        .map(|t| Term {
                            value: t.value,
                            synonyms: t.synonyms,
                        })
                        .collect(),
                })
                .collect(),
            stopwords: s.stopwords,
            counter_examples: s.counter_examples,
            exclude_patterns: s.exclude_patterns,
        }
    }
}

#[cfg(test)]
mod tests {
    use intentmesh_core::agent::ExecutionMode;

    use super::*;

    #[test]
    fn a_card_survives_the_wire() {
        let card = AgentCard {
            name: "search".into(),
            version: "1".into(),
            description: "finds".into(),
            skills: vec![Skill {
                id: "search".into(),
                default_mode: ExecutionMode::Async,
                vocabularies: vec![Vocabulary {
                    entity: "category".into(),
                    terms: vec![Term {
                        value: "toys".into(),
                        synonyms: vec!["games".into()],
                    }],
                }],
                ..Skill::default()
            }],
        };
        assert_eq!(AgentCard::from(pb::AgentCard::from(&card)), card);
    }
}

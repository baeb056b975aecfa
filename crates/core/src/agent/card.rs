//! How an agent describes itself (`Describe`): its skills, and what routing learns from them.

use serde::{Deserialize, Serialize};

use super::ExecutionMode;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCard {
    pub name: String,
    pub version: String,
    pub description: String,
    pub skills: Vec<Skill>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skill {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Words and phrases that signal this skill.
    pub tags: Vec<String>,
    /// Example requests.
    pub examples: Vec<String>,
    /// Regular expressions (Rust `regex` syntax) that signal this skill.
    pub patterns: Vec<String>,
    pub default_mode: ExecutionMode,
    /// Entity keys the skill accepts (`amount`, `currency`, `order_id`, `query`, ...).
    pub entities: Vec<String>,
    /// Closed vocabularies for entities, such as the catalog's categories.
    pub vocabularies: Vec<Vocabulary>,
    /// Words that must not be taken for the skill's entities (verbs of the skill).
    pub stopwords: Vec<String>,
    /// Requests that look like this skill but are not it: routing learns them as "none".
    pub counter_examples: Vec<String>,
    /// Regular expressions that rule this skill out even when its own patterns match.
    pub exclude_patterns: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// The entity the terms are values of (`category`, `query`).
    pub entity: String,
    pub terms: Vec<Term>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    pub value: String,
    pub synonyms: Vec<String>,
}

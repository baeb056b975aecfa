//! What the search agent tells the router about itself.

use intentmesh_proto::pb;

use crate::catalog::generate::{category_synonyms, product_words};

pub const AGENT_NAME: &str = "search";
pub const SKILL_SEARCH: &str = "search";

pub fn card() -> pb::AgentCard {
    let strings = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let categories = pb::Vocabulary {
        entity: "category".to_owned(),
        terms: category_synonyms()
            .into_iter()
            .map(|(value, synonyms)| pb::Term {
                value: value.to_owned(),
                synonyms: strings(&synonyms),
            })
            .collect(),
    };
    let products = pb::Vocabulary {
        entity: "query".to_owned(),
        terms: product_words()
            .into_iter()
            .map(|w| pb::Term {
                value: w.to_owned(),
                synonyms: vec![],
            })
            .collect(),
    };
    pb::AgentCard {
        name: AGENT_NAME.to_owned(),
        version: intentmesh_core::VERSION.to_owned(),
        description: "Searches the product catalog with full-text ranking and filters".to_owned(),
        skills: vec![pb::Skill {
            id: SKILL_SEARCH.to_owned(),
            name: "Search products".to_owned(),
            description: "Find products by words, category and price".to_owned(),
            tags: strings(&[
                "search",
                "find",
                "look for",
                "looking for",
                "show me",
                "browse",
                "shop for",
                "products",
                "items",
                "cheapest",
                "recommend",
                "in stock",
                "options",
            ]),
            examples: strings(&[
                "search for wireless headphones under $50",
                "find running shoes between 40 and 80 dollars",
                "show me cheap kitchen knives",
                "looking for a bluetooth speaker",
                "i need a yoga mat",
                "do you have black hoodies",
                "wireless mouse",
                "books about gardening",
                "best rated coffee maker over $100",
            ]),
            patterns: strings(&[
                r"\b(search|find|look(ing)? for|show me|browse|shop(ping)? for|recommend)\b",
                r"\b(under|below|less than|cheaper than|at most|over|above|more than|between)\s*[$€£]?\s*\d",
                r"\b(do you (have|sell)|any)\b",
            ]),
            default_mode: pb::ExecutionMode::Async as i32,
            entities: strings(&[
                "query",
                "category",
                "min_price",
                "max_price",
                "page",
                "page_size",
            ]),
            vocabularies: vec![categories, products],
            stopwords: strings(&[
                "search",
                "find",
                "look",
                "looking",
                "show",
                "browse",
                "shop",
                "shopping",
                "recommend",
                "products",
                "product",
                "items",
                "item",
                "things",
                "stuff",
                "options",
                "cheap",
                "cheapest",
                "best",
                "rated",
                "top",
                "good",
                "nice",
                "new",
                "sell",
                "have",
                "stock",
                "available",
                "buy",
                "get",
            ]),
        }],
    }
}

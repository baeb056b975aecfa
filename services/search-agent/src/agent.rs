//! The search agent as the mesh sees it: the agent contract's request in, a page of products out
//! — the one handler behind both its gRPC `Process` and its queue.

use std::sync::Arc;

use async_trait::async_trait;
use intentmesh_core::{
    AgentError, ErrorCode,
    agent::{AgentRequest, Entities, Product as ProductReply, Reply, SearchResults},
    money::{Decimal, Money},
};
use intentmesh_tasks::TaskHandler;
use tokio::time::Instant;

use crate::{
    card::SKILL_SEARCH,
    domain::{
        catalog::{Catalog, Product},
        query::{self, CATALOG_CURRENCY},
    },
};

#[derive(Debug, Clone)]
pub struct SearchAgent {
    catalog: Arc<dyn Catalog>,
}

/// An amount in cents of `currency` (prices and bounds).
fn cents(minor: i64, currency: &str) -> Result<Money, AgentError> {
    Money::new(Decimal::new(minor, 2), Some(currency.to_owned()))
        .map_err(|e| AgentError::internal("cannot show a price").caused_by(e))
}

fn product(p: Product) -> Result<ProductReply, AgentError> {
    Ok(ProductReply {
        price: cents(p.price_minor, &p.currency)?,
        id: p.id,
        name: p.name,
        description: p.description,
        category: p.category,
        rating: p.rating,
        score: p.score,
    })
}

impl SearchAgent {
    pub fn new(catalog: Arc<dyn Catalog>) -> Self {
        Self { catalog }
    }

    /// Searches the catalog for what `request` asks.
    pub async fn search(&self, request: &AgentRequest) -> Result<Reply, AgentError> {
        if let Some(skill) = request.skill.as_deref().filter(|s| *s != SKILL_SEARCH) {
            return Err(AgentError::new(
                ErrorCode::UnknownSkill,
                format!("the search agent has no skill {skill:?}"),
            )
            .with("field", "skill"));
        }
        // A direct caller (grpcurl) may send only a message: search for its words.
        let words;
        let entities = match &request.entities {
            Some(entities) => entities,
            None => {
                words = Entities {
                    query: Some(request.message.clone()).filter(|m| !m.trim().is_empty()),
                    ..Entities::default()
                };
                &words
            }
        };
        let q = query::from_entities(entities)?;
        let page = self.catalog.search(&q).await.map_err(|e| {
            AgentError::unavailable("the product catalog is unavailable").caused_by(e)
        })?;
        let bound = |minor: Option<i64>| minor.map(|m| cents(m, CATALOG_CURRENCY)).transpose();
        Ok(Reply::Search(SearchResults {
            products: page
                .products
                .into_iter()
                .map(product)
                .collect::<Result<_, _>>()?,
            total: page.total,
            page: q.page,
            page_size: q.page_size,
            query: q.text(),
            category: q.category.clone(),
            min_price: bound(q.min_price_minor)?,
            max_price: bound(q.max_price_minor)?,
        }))
    }
}

#[async_trait]
impl TaskHandler for SearchAgent {
    async fn handle(&self, request: AgentRequest, _deadline: Instant) -> Result<Reply, AgentError> {
        self.search(&request).await
    }
}

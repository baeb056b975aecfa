//! The gRPC `Agent` service of the search agent: convert, call the domain, convert back.

use std::sync::Arc;

use intentmesh_core::{AgentError, ErrorCode, money};
use intentmesh_proto::pb;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

use crate::{
    card::{self, AGENT_NAME, SKILL_SEARCH},
    domain::{
        catalog::{Catalog, Product},
        query::{self, CATALOG_CURRENCY},
    },
};

#[derive(Debug, Clone)]
pub struct SearchAgent {
    catalog: Arc<dyn Catalog>,
}

impl SearchAgent {
    pub fn new(catalog: Arc<dyn Catalog>) -> Self {
        Self { catalog }
    }

    async fn search(&self, req: pb::ProcessRequest) -> Result<pb::ProcessResponse, AgentError> {
        if !req.skill.is_empty() && req.skill != SKILL_SEARCH {
            return Err(AgentError::new(
                ErrorCode::UnknownSkill,
                format!("the search agent has no skill {:?}", req.skill),
            )
            .with("field", "skill"));
        }
        // A direct caller (grpcurl) may send only a message: search for its words.
        let entities = req.entities.unwrap_or_else(|| pb::Entities {
            query: Some(req.message.clone()).filter(|m| !m.trim().is_empty()),
            ..Default::default()
        });
        let q = query::from_entities(&entities)?;
        let page = self.catalog.search(&q).await.map_err(|e| {
            tracing::error!(error = %e, "catalog failure");
            AgentError::unavailable("the product catalog is unavailable")
        })?;
        let usd = |cents: i64| money::to_money(Decimal::new(cents, 2), CATALOG_CURRENCY).ok();
        Ok(pb::ProcessResponse {
            agent: AGENT_NAME.to_owned(),
            skill: SKILL_SEARCH.to_owned(),
            route: None,
            result: Some(pb::process_response::Result::Search(pb::SearchResult {
                products: page.products.into_iter().map(product).collect(),
                total: page.total,
                page: q.page,
                page_size: q.page_size,
                query: q.text(),
                category: q.category.clone().unwrap_or_default(),
                min_price: q.min_price_minor.and_then(usd),
                max_price: q.max_price_minor.and_then(usd),
            })),
        })
    }
}

fn product(p: Product) -> pb::Product {
    pb::Product {
        price: money::to_money(Decimal::new(p.price_minor, 2), &p.currency).ok(),
        id: p.id,
        name: p.name,
        description: p.description,
        category: p.category,
        rating: p.rating,
        score: p.score,
    }
}

#[tonic::async_trait]
impl pb::agent_server::Agent for SearchAgent {
    async fn process(
        &self,
        request: Request<pb::ProcessRequest>,
    ) -> Result<Response<pb::ProcessResponse>, Status> {
        intentmesh_core::telemetry::record_request_id(&request.get_ref().request_id);
        Ok(Response::new(self.search(request.into_inner()).await?))
    }

    async fn describe(
        &self,
        _request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::AgentCard>, Status> {
        Ok(Response::new(card::card()))
    }
}

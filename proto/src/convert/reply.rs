//! Answers: a domain result, a question back, or a queued task.

use intentmesh_core::agent::{
    AgentResponse, Candidate, Clarification, PaymentReceipt, PaymentStatus, Product, QueueReason,
    Queued, Reply, RouteDecision, SearchResults,
};

use super::{WireError, money_field, request::context_from_struct, request::context_to_struct};
use crate::pb::{self, process_response::Result as Wire};

impl From<&Candidate> for pb::Candidate {
    fn from(c: &Candidate) -> Self {
        Self {
            agent: c.agent.clone(),
            skill: c.skill.clone(),
            confidence: c.confidence,
            description: c.description.clone(),
        }
    }
}

impl From<pb::Candidate> for Candidate {
    fn from(c: pb::Candidate) -> Self {
        Self {
            agent: c.agent,
            skill: c.skill,
            confidence: c.confidence,
            description: c.description,
        }
    }
}

impl From<PaymentStatus> for pb::PaymentStatus {
    fn from(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Completed => Self::Completed,
            PaymentStatus::Declined => Self::Declined,
        }
    }
}

impl From<Reply> for Wire {
    fn from(reply: Reply) -> Self {
        match reply {
            Reply::Payment(p) => Wire::Payment(pb::PaymentResult {
                transaction_id: p.transaction_id,
                amount: Some(pb::Money::from(&p.amount)),
                status: pb::PaymentStatus::from(p.status) as i32,
                order_id: p.order_id.unwrap_or_default(),
                user_id: p.user_id,
                idempotency_key: p.idempotency_key,
                created_at: p.created_at,
                replayed: p.replayed,
            }),
            Reply::Search(s) => Wire::Search(pb::SearchResult {
                products: s
                    .products
                    .into_iter()
                    .map(|p| pb::Product {
                        price: Some(pb::Money::from(&p.price)),
                        id: p.id,
                        name: p.name,
                        description: p.description,
                        category: p.category,
                        rating: p.rating,
                        score: p.score,
                    })
                    .collect(),
                total: s.total,
                page: s.page,
                page_size: s.page_size,
                query: s.query,
                category: s.category.unwrap_or_default(),
                min_price: s.min_price.as_ref().map(pb::Money::from),
                max_price: s.max_price.as_ref().map(pb::Money::from),
            }),
            Reply::Clarification(c) => Wire::Clarification(pb::Clarification {
                question: c.question,
                candidates: c.candidates.iter().map(pb::Candidate::from).collect(),
            }),
            Reply::Queued(q) => Wire::Queued(pb::TaskQueued {
                task_id: q.task_id,
                reason: q.reason.as_str().to_owned(),
            }),
            Reply::Generic { fields } => Wire::Generic(context_to_struct(fields)),
        }
    }
}

impl TryFrom<Wire> for Reply {
    type Error = WireError;

    fn try_from(wire: Wire) -> Result<Self, WireError> {
        Ok(match wire {
            Wire::Payment(p) => {
                let under = |e: WireError| e.under("payment");
                Reply::Payment(PaymentReceipt {
                    amount: money_field(p.amount.as_ref(), "amount")
                        .map_err(under)?
                        .ok_or_else(|| WireError::new("payment.amount", "missing"))?,
                    status: match pb::PaymentStatus::try_from(p.status) {
                        Ok(pb::PaymentStatus::Completed) => PaymentStatus::Completed,
                        Ok(pb::PaymentStatus::Declined) => PaymentStatus::Declined,
                        _ => return Err(WireError::new("payment.status", "unspecified")),
                    },
                    transaction_id: p.transaction_id,
                    order_id: Some(p.order_id).filter(|o| !o.is_empty()),
                    user_id: p.user_id,
                    idempotency_key: p.idempotency_key,
                    created_at: p.created_at,
                    replayed: p.replayed,
                })
            }
            Wire::Search(s) => {
                let under = |e: WireError| e.under("search");
                let products = s
                    .products
                    .into_iter()
                    .map(|p| {
                        Ok(Product {
                            price: money_field(p.price.as_ref(), "price")?
                                .ok_or_else(|| WireError::new("price", "missing"))?,
                            id: p.id,
                            name: p.name,
                            description: p.description,
                            category: p.category,
                            rating: p.rating,
                            score: p.score,
                        })
                    })
                    .collect::<Result<Vec<_>, WireError>>()
                    .map_err(|e| e.under("search.products"))?;
                Reply::Search(SearchResults {
                    products,
                    total: s.total,
                    page: s.page,
                    page_size: s.page_size,
                    query: s.query,
                    category: Some(s.category).filter(|c| !c.is_empty()),
                    min_price: money_field(s.min_price.as_ref(), "min_price").map_err(under)?,
                    max_price: money_field(s.max_price.as_ref(), "max_price").map_err(under)?,
                })
            }
            Wire::Clarification(c) => Reply::Clarification(Clarification {
                question: c.question,
                candidates: c.candidates.into_iter().map(Candidate::from).collect(),
            }),
            Wire::Queued(q) => Reply::Queued(Queued {
                reason: QueueReason::from(q.reason),
                task_id: q.task_id,
            }),
            Wire::Generic(s) => Reply::Generic {
                fields: context_from_struct(s),
            },
        })
    }
}

impl From<AgentResponse> for pb::ProcessResponse {
    fn from(r: AgentResponse) -> Self {
        Self {
            agent: r.agent,
            skill: r.skill,
            route: None,
            result: r.reply.map(Wire::from),
        }
    }
}

/// An agent's answer off the wire, and the routing decision the root attached to it.
pub fn response_from_wire(
    response: pb::ProcessResponse,
) -> Result<(AgentResponse, Option<RouteDecision>), WireError> {
    let reply = response.result.map(Reply::try_from).transpose()?;
    let route = response
        .route
        .map(RouteDecision::try_from)
        .transpose()
        .map_err(|e| e.under("route"))?;
    Ok((
        AgentResponse {
            agent: response.agent,
            skill: response.skill,
            reply,
        },
        route,
    ))
}

/// An answer and the routing decision behind it (the root's answers).
pub fn response_to_wire(
    response: AgentResponse,
    route: Option<&RouteDecision>,
) -> pb::ProcessResponse {
    pb::ProcessResponse {
        route: route.map(pb::RouteDecision::from),
        ..pb::ProcessResponse::from(response)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use intentmesh_core::money::{Decimal, Money};

    use super::*;

    #[test]
    fn replies_survive_the_wire() {
        let usd = |s: &str| Money::new(Decimal::from_str(s).unwrap(), Some("USD".into())).unwrap();
        for reply in [
            Reply::Payment(PaymentReceipt {
                transaction_id: "txn_1".into(),
                amount: usd("100"),
                status: PaymentStatus::Completed,
                order_id: Some("12345".into()),
                user_id: "u".into(),
                idempotency_key: "key:u:k".into(),
                created_at: "2026-12-07T00:00:00.000Z".into(),
                replayed: false,
            }),
            Reply::Search(SearchResults {
                products: vec![Product {
                    id: "p1".into(),
                    name: "Desk lamp".into(),
                    description: "bright".into(),
                    category: "home".into(),
                    price: usd("19.99"),
                    rating: 4.5,
                    score: 1.25,
                }],
                total: 1,
                page: 1,
                page_size: 10,
                query: "lamp".into(),
                category: None,
                min_price: None,
                max_price: Some(usd("50")),
            }),
            Reply::Queued(Queued {
                task_id: "task_1".into(),
                reason: QueueReason::CircuitOpen,
            }),
        ] {
            let wire = pb::ProcessResponse::from(AgentResponse {
                agent: "a".into(),
                skill: "s".into(),
                reply: Some(reply.clone()),
            });
            let (back, route) = response_from_wire(wire).unwrap();
            assert_eq!(back.reply, Some(reply));
            assert!(route.is_none());
        }
    }
}

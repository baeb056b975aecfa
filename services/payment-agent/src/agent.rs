//! The payment agent as the mesh sees it: the agent contract's request in, a receipt out — the
//! one handler behind both its gRPC `Process` and its queue.

use std::sync::Arc;

use async_trait::async_trait;
use intentmesh_core::{
    AgentError,
    agent::{AgentRequest, PaymentReceipt, Reply},
    metrics::ServiceMetrics,
    money::Money,
};
use intentmesh_tasks::TaskHandler;
use tokio::time::Instant;

use crate::domain::{
    error::PaymentError,
    ledger::{ChargeOutcome, Ledger},
    payments::{Paid, PaymentOrder, Payments},
    validate::{PaymentPolicy, from_minor_units},
};

#[derive(Debug, Clone)]
pub struct PaymentAgent {
    payments: Arc<Payments>,
    /// Where daily-limit checks are counted (`quota_checks{quota="daily_budget"}`).
    metrics: Arc<ServiceMetrics>,
}

impl PaymentAgent {
    pub fn new(
        ledger: Arc<dyn Ledger>,
        policy: PaymentPolicy,
        metrics: Arc<ServiceMetrics>,
    ) -> Self {
        Self {
            payments: Arc::new(Payments::new(ledger, policy)),
            metrics,
        }
    }

    /// Pays what `request` asks for, by `deadline`.
    pub async fn pay(
        &self,
        request: &AgentRequest,
        deadline: Instant,
    ) -> Result<Reply, AgentError> {
        // A direct gRPC caller that sends no request id gets one, so the payment still has a key.
        let generated;
        let request_id = if request.request_id.is_empty() {
            generated = format!("req-{}", uuid::Uuid::new_v4().simple());
            generated.as_str()
        } else {
            request.request_id.as_str()
        };
        let order = PaymentOrder {
            skill: request.skill.as_deref(),
            user_id: &request.user_id,
            entities: request.entities.as_ref(),
            attempt_id: &request.attempt_id,
            request_id,
            idempotency_key: request.idempotency_key.as_deref(),
        };
        let Paid { outcome, payment } = match self.payments.pay(order, deadline).await {
            Ok(paid) => {
                if matches!(paid.outcome, ChargeOutcome::Charged(_))
                    && self.payments.has_daily_limit(paid.payment.currency)
                {
                    self.metrics.quota("daily_budget", "allowed");
                }
                paid
            }
            Err(err @ PaymentError::BudgetExceeded { .. }) => {
                self.metrics.quota("daily_budget", "refused");
                return Err(err.into());
            }
            Err(err) => return Err(err.into()),
        };
        let replayed = matches!(outcome, ChargeOutcome::Replayed(_));
        let p = outcome.payment();
        tracing::info!(transaction_id = %p.transaction_id, currency = %p.currency, replayed, "payment recorded");
        let amount = Money::new(
            from_minor_units(p.amount_minor, payment.exponent),
            Some(p.currency.clone()),
        )
        .map_err(|e| AgentError::internal("cannot show the amount").caused_by(e))?;
        Ok(Reply::Payment(PaymentReceipt {
            transaction_id: p.transaction_id.clone(),
            amount,
            status: p.status,
            order_id: p.order_id.clone(),
            user_id: p.user_id.clone(),
            idempotency_key: p.idempotency_key.clone(),
            created_at: p.created_at.clone(),
            replayed,
        }))
    }
}

#[async_trait]
impl TaskHandler for PaymentAgent {
    async fn handle(&self, request: AgentRequest, deadline: Instant) -> Result<Reply, AgentError> {
        self.pay(&request, deadline).await
    }
}

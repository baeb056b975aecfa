//! The gRPC `Agent` service of the payment agent: convert, call the domain, convert back.

use std::sync::Arc;

use intentmesh_core::{AgentError, ErrorCode, money};
use intentmesh_proto::pb;
use tonic::{Request, Response, Status};

use crate::{
    card::{self, AGENT_NAME, SKILL_PAY},
    domain::{
        idempotency,
        ledger::{ChargeOutcome, Ledger, LedgerError, NewPayment},
        validate::{PaymentPolicy, from_minor_units, validate},
    },
};

#[derive(Debug, Clone)]
pub struct PaymentAgent {
    ledger: Arc<dyn Ledger>,
    policy: PaymentPolicy,
}

impl PaymentAgent {
    pub fn new(ledger: Arc<dyn Ledger>, policy: PaymentPolicy) -> Self {
        Self { ledger, policy }
    }

    async fn pay(&self, req: pb::ProcessRequest) -> Result<pb::ProcessResponse, AgentError> {
        if !req.skill.is_empty() && req.skill != SKILL_PAY {
            return Err(AgentError::new(
                ErrorCode::UnknownSkill,
                format!("the payment agent has no skill {:?}", req.skill),
            )
            .with("field", "skill"));
        }
        let user_id = req.user_id.trim();
        if user_id.is_empty() {
            return Err(
                AgentError::new(ErrorCode::MissingField, "user_id is required")
                    .with("field", "user_id"),
            );
        }
        let entities = req.entities.unwrap_or_default();
        let valid = validate(&entities, &self.policy)?;
        // A direct gRPC caller that sends no request id gets one, so the payment still has a key.
        let request_id = if req.request_id.is_empty() {
            format!("req-{}", uuid::Uuid::new_v4().simple())
        } else {
            req.request_id
        };
        let header_key = Some(req.idempotency_key.as_str()).filter(|k| !k.is_empty());
        let new = NewPayment {
            idempotency_key: idempotency::key_for(user_id, header_key, &request_id, &valid),
            fingerprint: idempotency::fingerprint(user_id, &valid),
            user_id: user_id.to_owned(),
            order_id: valid.order_id.clone(),
            amount_minor: valid.amount_minor,
            currency: valid.currency.to_owned(),
            request_id,
        };

        // The charge runs in a task of its own: a caller that hangs up must not cut it in half.
        let ledger = Arc::clone(&self.ledger);
        let outcome = tokio::spawn(async move { ledger.charge(new).await })
            .await
            .map_err(|e| AgentError::internal(format!("the charge task failed: {e}")))?
            .map_err(ledger_error)?;

        let replayed = matches!(outcome, ChargeOutcome::Replayed(_));
        let p = outcome.payment();
        tracing::info!(transaction_id = %p.transaction_id, currency = %p.currency, replayed, "payment recorded");
        let amount = from_minor_units(p.amount_minor, valid.exponent);
        let amount = money::to_money(amount, &p.currency)
            .map_err(|e| AgentError::internal(format!("cannot encode the amount: {e}")))?;
        Ok(pb::ProcessResponse {
            agent: AGENT_NAME.to_owned(),
            skill: SKILL_PAY.to_owned(),
            route: None,
            result: Some(pb::process_response::Result::Payment(pb::PaymentResult {
                transaction_id: p.transaction_id.clone(),
                amount: Some(amount),
                status: pb::PaymentStatus::Completed as i32,
                order_id: p.order_id.clone().unwrap_or_default(),
                user_id: p.user_id.clone(),
                idempotency_key: p.idempotency_key.clone(),
                created_at: p.created_at.clone(),
                replayed,
            })),
        })
    }
}

fn ledger_error(err: LedgerError) -> AgentError {
    match err {
        LedgerError::IdempotencyConflict { existing } => AgentError::new(
            ErrorCode::IdempotencyConflict,
            "this idempotency key was already used for a different payment",
        )
        .with("transaction_id", existing.transaction_id),
        LedgerError::OrderAlreadyPaid { order_id } => AgentError::new(
            ErrorCode::OrderAlreadyPaid,
            format!("order {order_id} is already paid with a different amount or currency"),
        )
        .with("order_id", order_id),
        other => {
            tracing::error!(error = %other, "ledger failure");
            AgentError::unavailable("the payment ledger is unavailable")
        }
    }
}

/// The least time a caller must leave for a charge to start (a ledger commit with `fsync` takes
/// a few milliseconds on the machines measured; see bench/).
const MIN_CHARGE_BUDGET: std::time::Duration = std::time::Duration::from_millis(20);

#[tonic::async_trait]
impl pb::agent_server::Agent for PaymentAgent {
    async fn process(
        &self,
        request: Request<pb::ProcessRequest>,
    ) -> Result<Response<pb::ProcessResponse>, Status> {
        intentmesh_core::telemetry::record_request_id(&request.get_ref().request_id);
        // A charge is not started with its caller's time nearly gone: the caller would be told
        // the request failed while the payment went through.
        if let Some(left) = intentmesh_core::deadline::incoming_timeout(request.metadata())
            && left < MIN_CHARGE_BUDGET
        {
            return Err(AgentError::new(
                ErrorCode::DeadlineExceeded,
                "too little time left to record a payment; nothing was charged",
            )
            .into());
        }
        Ok(Response::new(self.pay(request.into_inner()).await?))
    }

    async fn describe(
        &self,
        _request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::AgentCard>, Status> {
        Ok(Response::new(card::card()))
    }
}

//! Paying: a charge is validated, keyed so that no retry can make it twice, and recorded in the
//! ledger — the same steps whether the request came over gRPC or through the queue.

use std::{sync::Arc, time::Duration};

use intentmesh_core::agent::Entities;
use tokio::time::Instant;

use super::{
    error::PaymentError,
    idempotency,
    ledger::{ChargeOutcome, Ledger, LedgerError, NewPayment},
    validate::{PaymentPolicy, ValidPayment, from_minor_units, validate},
};

/// The least time a caller must leave for a charge to start (a ledger commit with `fsync` takes
/// a few milliseconds on the machines measured; see bench/). With less, the caller would be told
/// the request failed while the payment went through.
pub const MIN_CHARGE_BUDGET: Duration = Duration::from_millis(20);

/// The skill of this agent.
pub const SKILL_PAY: &str = "pay";

/// A payment as asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PaymentOrder<'a> {
    /// The skill the router chose (`None`: this agent's default).
    pub skill: Option<&'a str>,
    pub user_id: &'a str,
    pub entities: Option<&'a Entities>,
    /// The gateway's attempt id: with the user, the last-resort idempotency key.
    pub attempt_id: &'a str,
    /// Carried on every hop: the key when there is no attempt id (a caller inside the mesh).
    pub request_id: &'a str,
    /// The caller's `Idempotency-Key`.
    pub idempotency_key: Option<&'a str>,
}

/// A recorded charge and what was validated on the way.
#[derive(Debug)]
pub(crate) struct Paid {
    pub outcome: ChargeOutcome,
    pub payment: ValidPayment,
}

/// Payments against one ledger, under one policy.
#[derive(Debug)]
pub(crate) struct Payments {
    ledger: Arc<dyn Ledger>,
    policy: PaymentPolicy,
}

impl Payments {
    pub(crate) fn new(ledger: Arc<dyn Ledger>, policy: PaymentPolicy) -> Self {
        Self { ledger, policy }
    }

    /// Whether payments in `currency` count against a daily limit.
    pub(crate) fn has_daily_limit(&self, currency: &str) -> bool {
        self.policy.daily_limits.contains_key(currency)
    }

    /// Charges `order` once, if it is valid and there is time to record it before `deadline`.
    pub(crate) async fn pay(
        &self,
        order: PaymentOrder<'_>,
        deadline: Instant,
    ) -> Result<Paid, PaymentError> {
        if deadline.saturating_duration_since(Instant::now()) < MIN_CHARGE_BUDGET {
            return Err(PaymentError::NoTime);
        }
        if let Some(skill) = order.skill.filter(|s| *s != SKILL_PAY) {
            return Err(PaymentError::UnknownSkill(skill.to_owned()));
        }
        let user_id = order.user_id.trim();
        if user_id.is_empty() {
            return Err(PaymentError::MissingUser);
        }
        let none = Entities::default();
        let payment = validate(order.entities.unwrap_or(&none), &self.policy)?;
        let new = NewPayment {
            idempotency_key: idempotency::key_for(
                user_id,
                order.idempotency_key,
                order.attempt_id,
                order.request_id,
                &payment,
            ),
            fingerprint: idempotency::fingerprint(user_id, &payment),
            user_id: user_id.to_owned(),
            order_id: payment.order_id.clone(),
            amount_minor: payment.amount_minor,
            currency: payment.currency.to_owned(),
            request_id: order.request_id.to_owned(),
            daily_limit_minor: self.policy.daily_limit_minor(&payment),
        };
        // The charge runs in a task of its own: a caller that hangs up must not cut it in half.
        let ledger = Arc::clone(&self.ledger);
        let outcome = tokio::spawn(async move { ledger.charge(new).await })
            .await
            .map_err(PaymentError::ChargeInterrupted)?
            .map_err(|err| match err {
                // The limit the ledger held, in the currency's own unit for the caller.
                LedgerError::BudgetExceeded {
                    currency,
                    limit_minor,
                } => PaymentError::BudgetExceeded {
                    currency,
                    limit: from_minor_units(limit_minor, payment.exponent).normalize(),
                },
                other => PaymentError::from(other),
            })?;
        Ok(Paid { outcome, payment })
    }
}

//! Why a payment was not made, as the domain sees it. Each becomes an answer with a stable code
//! at the edge (`AgentError`); the message is written for the caller.

use intentmesh_core::{AgentError, ErrorCode, money::Decimal};

use super::ledger::LedgerError;

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("the payment agent has no skill {0:?}")]
    UnknownSkill(String),
    #[error("user_id is required")]
    MissingUser,
    #[error("no amount was given for the payment")]
    MissingAmount,
    #[error("no currency was given: use an ISO 4217 code such as USD or a symbol such as $")]
    MissingCurrency,
    #[error("{0} is not an ISO 4217 currency code that can be paid in")]
    InvalidCurrency(String),
    #[error("the amount must be greater than zero, got {0}")]
    NotPositive(Decimal),
    #[error("the amount exceeds the maximum of {max} {currency}")]
    AboveMaximum {
        max: Decimal,
        currency: &'static str,
    },
    #[error("{currency} allows {exponent} decimal places, got {amount}")]
    TooPrecise {
        currency: &'static str,
        exponent: u32,
        amount: Decimal,
    },
    #[error("the amount is too large")]
    Unrepresentable,
    #[error(
        "an order id is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidOrderId(String),
    #[error("too little time left to record a payment; nothing was charged")]
    NoTime,
    #[error("this idempotency key was already used for a different payment")]
    IdempotencyConflict { transaction_id: String },
    #[error("order {0} is already paid with a different amount or currency")]
    OrderAlreadyPaid(String),
    #[error("this payment would exceed today's limit of {limit} {currency} for this user")]
    BudgetExceeded { currency: String, limit: Decimal },
    #[error("the payment ledger is unavailable")]
    LedgerUnavailable(#[source] LedgerError),
    #[error("the charge task failed")]
    ChargeInterrupted(#[source] tokio::task::JoinError),
}

impl From<LedgerError> for PaymentError {
    fn from(err: LedgerError) -> Self {
        match err {
            LedgerError::IdempotencyConflict { existing } => Self::IdempotencyConflict {
                transaction_id: existing.transaction_id,
            },
            LedgerError::OrderAlreadyPaid { order_id } => Self::OrderAlreadyPaid(order_id),
            // `LedgerError::BudgetExceeded` counts in minor units: `Payments::pay`, which knows
            // the currency's exponent, turns it into `BudgetExceeded` before this.
            other => Self::LedgerUnavailable(other),
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

impl From<PaymentError> for AgentError {
    fn from(err: PaymentError) -> Self {
        use PaymentError as E;
        let message = err.to_string();
        let error = |code| AgentError::new(code, message.clone());
        match err {
            E::UnknownSkill(_) => error(ErrorCode::UnknownSkill).with("field", "skill"),
            E::MissingUser => error(ErrorCode::MissingField).with("field", "user_id"),
            E::MissingAmount => error(ErrorCode::MissingAmount).with("field", "amount"),
            E::MissingCurrency => error(ErrorCode::MissingCurrency).with("field", "currency"),
            E::InvalidCurrency(code) => AgentError::new(
                ErrorCode::InvalidCurrency,
                format!(
                    "{} is not an ISO 4217 currency code that can be paid in",
                    truncate(&code, 16)
                ),
            )
            .with("field", "currency")
            .with("value", truncate(&code, 16)),
            E::NotPositive(_) => error(ErrorCode::InvalidAmount).with("field", "amount"),
            E::AboveMaximum { max, .. } => error(ErrorCode::AmountTooLarge)
                .with("field", "amount")
                .with("max", max),
            E::TooPrecise { exponent, .. } => error(ErrorCode::InvalidAmount)
                .with("field", "amount")
                .with("max_decimals", exponent),
            E::Unrepresentable => error(ErrorCode::AmountTooLarge).with("field", "amount"),
            E::InvalidOrderId(value) => error(ErrorCode::InvalidOrderId)
                .with("field", "order_id")
                .with("value", truncate(&value, 80)),
            E::NoTime => error(ErrorCode::DeadlineExceeded),
            E::IdempotencyConflict { transaction_id } => {
                error(ErrorCode::IdempotencyConflict).with("transaction_id", transaction_id)
            }
            E::OrderAlreadyPaid(order_id) => {
                error(ErrorCode::OrderAlreadyPaid).with("order_id", order_id)
            }
            E::BudgetExceeded { currency, limit } => error(ErrorCode::BudgetExceeded)
                .with("currency", currency)
                .with("daily_limit", limit),
            E::LedgerUnavailable(source) => error(ErrorCode::Unavailable).caused_by(source),
            E::ChargeInterrupted(source) => error(ErrorCode::Internal).caused_by(source),
        }
    }
}

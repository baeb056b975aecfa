//! The ledger port: where a payment is charged at most once.

use async_trait::async_trait;
pub use intentmesh_core::agent::PaymentStatus;

/// A charge to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub idempotency_key: String,
    /// The request's identity (user, order, amount, currency); a replay must match it.
    pub fingerprint: String,
    pub user_id: String,
    pub order_id: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub request_id: String,
    /// The most `user_id` may pay in `currency` on the charge's UTC day, in minor units
    /// (`None`: no limit). Checked in the charge's own transaction.
    pub daily_limit_minor: Option<i64>,
}

/// A recorded payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub transaction_id: String,
    pub idempotency_key: String,
    pub fingerprint: String,
    pub user_id: String,
    pub order_id: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub status: PaymentStatus,
    pub request_id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// What a charge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// A new payment was recorded.
    Charged(Payment),
    /// The same payment was recorded before; nothing was charged now.
    Replayed(Payment),
}

impl ChargeOutcome {
    pub fn payment(&self) -> &Payment {
        match self {
            Self::Charged(p) | Self::Replayed(p) => p,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The idempotency key was used before for a different payment.
    #[error("idempotency key already used for a different payment")]
    IdempotencyConflict { existing: Box<Payment> },
    /// The order was paid before with a different amount, currency or payer.
    #[error("order {order_id} is already paid")]
    OrderAlreadyPaid { order_id: String },
    /// The charge would take the user past its daily limit in the currency; nothing was written.
    #[error("daily limit of {limit_minor} minor units of {currency} reached")]
    BudgetExceeded { currency: String, limit_minor: i64 },
    #[error("ledger storage error")]
    Storage(#[from] sqlx::Error),
    #[error("ledger migration error")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("ledger is inconsistent: {0}")]
    Inconsistent(String),
    /// The transaction this charge was written in (with others) failed: none of it was kept.
    #[error("ledger batch failed")]
    Batch(#[source] std::sync::Arc<LedgerError>),
}

/// Records payments under a unique idempotency key.
#[async_trait]
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// Charges once per idempotency key: a repeat of the same payment returns the first record.
    async fn charge(&self, payment: NewPayment) -> Result<ChargeOutcome, LedgerError>;
    /// Looks up a payment by transaction id.
    async fn get(&self, transaction_id: &str) -> Result<Option<Payment>, LedgerError>;
    /// Number of recorded payments for an order (0 or 1 by construction).
    async fn count_for_order(&self, order_id: &str) -> Result<u64, LedgerError>;
    /// Number of recorded payments.
    async fn count(&self) -> Result<u64, LedgerError>;
    /// Fails while the storage is unreachable.
    async fn ready(&self) -> Result<(), LedgerError>;
}

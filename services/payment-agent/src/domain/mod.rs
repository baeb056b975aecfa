//! The payment domain: validation, idempotency keys and the ledger port. No tonic, no SQL.

pub mod idempotency;
pub(crate) mod ledger;
pub(crate) mod validate;

//! The payment domain: validation, idempotency keys, the ledger port and paying itself. No
//! tonic, no SQL.

pub(crate) mod error;
pub mod idempotency;
pub(crate) mod ledger;
pub(crate) mod payments;
pub(crate) mod validate;

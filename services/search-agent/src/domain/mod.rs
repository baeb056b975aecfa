//! The search domain: queries, results and the catalog port. No tonic, no SQL.

pub(crate) mod catalog;
pub(crate) mod query;

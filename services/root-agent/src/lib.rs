//! The root agent: learns its workers from their `Describe`, routes each request through a
//! cascade of classifiers, extracts entities, and dispatches to the chosen worker over gRPC.

mod entities;

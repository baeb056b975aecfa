//! The agent contract in Rust terms: what every agent takes ([`AgentRequest`] with its
//! [`Entities`]), how it describes itself ([`AgentCard`]), what it answers ([`Reply`]), and what
//! the router decided ([`RouteDecision`]).
//!
//! These are the types the services reason about. The wire form is `intentmesh.v1` (protobuf,
//! `proto/`); the proto crate converts between the two, once, and queued work and cached answers
//! keep these types as JSON (serde). Each agent adds its own types for its own domain (payment's
//! ledger record, search's query) and converts them to and from these.

mod card;
mod reply;
mod request;
mod route;

pub use card::{AgentCard, Skill, Term, Vocabulary};
pub use reply::{
    AgentResponse, Candidate, Clarification, PaymentReceipt, PaymentStatus, Product, QueueReason,
    Queued, Reply, SearchResults,
};
pub use request::{AgentRequest, Context, Entities, ExecutionMode, Mode};
pub use route::{Route, RouteDecision, Stage};

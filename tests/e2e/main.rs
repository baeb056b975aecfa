//! End-to-end tests: the four services on real ports, driven over HTTP and gRPC.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod auth;
mod crowd;
mod errors;
mod examples;
mod faults;
mod grpc;
mod hostile;
mod launcher;
mod limits;
mod observability;
mod payments;
mod proxy;
mod quotas;
mod resilience;
mod routing;
mod support;
mod tasks;
mod tls;
mod traces;

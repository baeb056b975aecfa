//! The payment agent: validates payments and records each one once in a SQL ledger, answering
//! over gRPC and, with a queue, as a worker of queued payments.
//!
//! Layout: `service` (the gRPC adapter) → `agent` (the contract's request in, a receipt out; also
//! the task handler) → `domain` (validation, idempotency keys, the `Ledger` port, paying) ←
//! `adapters` (the ledger on sqlx).

mod adapters;
mod agent;
mod card;
mod config;
mod domain;
mod service;

use std::sync::Arc;

use intentmesh_core::{
    errors::Chain,
    metrics::ServiceMetrics,
    serve::{AgentServer, ServeError},
};
use intentmesh_proto::pb::agent_server::AgentServer as AgentGrpc;
use intentmesh_tasks::{TaskMetrics, TaskPorts, attach_worker};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use adapters::sql::{SQLITE_PRAGMAS, SqlLedger};
pub use agent::PaymentAgent;
pub use card::{AGENT_NAME, SKILL_PAY, card};
pub use config::Config;
pub use domain::{
    error::PaymentError,
    idempotency,
    ledger::{ChargeOutcome, Ledger, LedgerError, NewPayment, Payment, PaymentStatus},
    payments::MIN_CHARGE_BUDGET,
    validate::{PaymentPolicy, ValidPayment, validate},
};
pub use service::PaymentService;

/// Serves the payment agent over a ledger the caller opened and, with `tasks`, consumes its
/// queue of asynchronous payments (charged through the same ledger, so once).
pub async fn serve(
    config: Config,
    ledger: Arc<dyn Ledger>,
    tasks: Option<TaskPorts>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let task_metrics = TaskMetrics::new(AGENT_NAME);
    let metrics = ServiceMetrics::with(AGENT_NAME, &[&task_metrics]);
    let agent = PaymentAgent::new(Arc::clone(&ledger), config.policy, Arc::clone(&metrics));
    let service = PaymentService::new(agent.clone(), config.server.request_timeout);
    let server = AgentServer::new(AGENT_NAME, config.server, metrics)
        .reflection(intentmesh_proto::FILE_DESCRIPTOR_SET)
        .add_service(AgentGrpc::new(service))
        .readiness(Arc::new(move || {
            let ledger = Arc::clone(&ledger);
            Box::pin(async move { ledger.ready().await.map_err(|e| Chain::of(&e).to_string()) })
        }));
    attach_worker(
        server,
        AGENT_NAME,
        tasks,
        Arc::new(agent),
        task_metrics,
        &shutdown,
    )
    .serve(listener, shutdown)
    .await
}

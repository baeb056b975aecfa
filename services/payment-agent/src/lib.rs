//! The payment agent: validates payments and records each one once in a SQL ledger.

mod adapters;
mod card;
mod config;
mod domain;
mod service;

use std::sync::Arc;

use intentmesh_core::{
    metrics::ServiceMetrics,
    serve::{AgentServer, ServeError},
    tasks::{AgentHandler, PortsError, TaskPorts},
};
use intentmesh_proto::pb::agent_server::AgentServer as AgentGrpc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use adapters::sql::{SQLITE_PRAGMAS, SqlLedger};
pub use card::{AGENT_NAME, SKILL_PAY, card};
pub use config::Config;
pub use domain::{
    idempotency,
    ledger::{ChargeOutcome, Ledger, LedgerError, NewPayment, Payment},
    validate::{PaymentPolicy, ValidPayment, validate},
};
pub use service::PaymentAgent;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot open the ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Tasks(#[from] PortsError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// Opens the ledger named by the config (failing fast) and serves until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let ledger = SqlLedger::connect(&config.database, config.pool_size).await?;
    let tasks = TaskPorts::connect(&config.tasks, AGENT_NAME, false).await?;
    serve(config, Arc::new(ledger), tasks, listener, shutdown).await
}

/// Serves the payment agent over a ledger the caller opened and, with `tasks`, consumes its
/// queue of asynchronous payments (charged through the same ledger, so once).
pub async fn serve(
    config: Config,
    ledger: Arc<dyn Ledger>,
    tasks: Option<TaskPorts>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let ready_ledger = Arc::clone(&ledger);
    let agent = PaymentAgent::new(ledger, config.policy);
    AgentServer::new(AGENT_NAME, config.server, ServiceMetrics::new(AGENT_NAME))
        .add_service(AgentGrpc::new(agent.clone()))
        .readiness(Arc::new(move || {
            let ledger = Arc::clone(&ready_ledger);
            Box::pin(async move { ledger.ready().await.map_err(|e| e.to_string()) })
        }))
        .tasks(tasks)
        .worker(Arc::new(AgentHandler(agent)))
        .serve(listener, shutdown)
        .await?;
    Ok(())
}

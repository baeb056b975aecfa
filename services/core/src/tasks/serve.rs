//! A worker agent's two faces side by side: its gRPC server and, when asynchronous work is
//! configured, the consumer of its queue.

use std::{future::Future, sync::Arc};

use tokio_util::sync::CancellationToken;

use super::{TaskHandler, TaskPorts, Worker};
use crate::{metrics::ServiceMetrics, ports::BrokerError};

/// Runs `server` and (with `tasks`) a worker draining `agent`'s queue through `handler`, both
/// until `shutdown`. Either stopping with an error stops the other.
pub(crate) async fn serve_with_worker<E>(
    agent: &str,
    tasks: Option<TaskPorts>,
    handler: Arc<dyn TaskHandler>,
    metrics: Arc<ServiceMetrics>,
    shutdown: CancellationToken,
    server: impl Future<Output = Result<(), E>>,
) -> Result<(), E>
where
    E: From<BrokerError>,
{
    let Some(ports) = tasks else {
        return server.await;
    };
    let worker = Worker::new(agent, ports, handler).with_metrics(metrics);
    let stop = shutdown.clone();
    let consume = async move {
        let result = worker.run(stop.clone()).await;
        if result.is_err() {
            stop.cancel();
        }
        result
    };
    let (served, consumed) = tokio::join!(
        async {
            let r = server.await;
            shutdown.cancel();
            r
        },
        consume
    );
    served?;
    consumed.map_err(E::from)
}

/// The readiness of asynchronous work, for a service's ready check.
pub async fn ready(tasks: Option<&TaskPorts>) -> Result<(), String> {
    match tasks {
        Some(ports) if !ports.broker.ready().await => Err("RabbitMQ is unreachable".to_owned()),
        Some(ports) if !ports.store.ready().await => Err("Redis is unreachable".to_owned()),
        _ => Ok(()),
    }
}

//! Serving the gateway's HTTP within bounds: at most `MAX_CONNECTIONS` open (past it a new
//! connection gets `503 overloaded` and is closed, while open ones are served), headers within
//! `HEADER_READ_TIMEOUT_SECS`, bodies within `BODY_READ_TIMEOUT_SECS` (in `crate::app`), idle
//! connections closed (HTTP/2 ones too: the gateway sends no keep-alive pings), HTTP/2 streams
//! bounded, and admission control in front of the work ([`HttpAdmission`]).

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Request, Response},
    response::IntoResponse,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use intentmesh_core::{
    AgentError,
    config::ConnectionLimits,
    metrics::ServiceMetrics,
    resilience::{AdmissionPolicy, Admit, Overloaded},
    serve::{Connections, Refuse},
};
use tokio::{io::AsyncWriteExt, net::TcpListener};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::{Limits, error::ApiError, extract::Prefer};

/// What a connection past `MAX_CONNECTIONS` is told before it is closed.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 114\r\n\
\r\n\
{\"status\":\"error\",\"error\":{\"code\":\"overloaded\",\"message\":\"too many open connections; retry shortly\",\"details\":{}}}";

/// Writes [`REFUSAL`] and closes.
pub(crate) fn refuse_connection() -> Refuse {
    Arc::new(|mut stream| {
        Box::pin(async move {
            if stream.write_all(REFUSAL).await.is_ok() {
                let _ = stream.shutdown().await;
            }
        })
    })
}

/// Serves `app` on `listener` until `shutdown`, then lets open requests finish (the caller
/// bounds how long).
pub(crate) async fn run(
    app: Router,
    listener: TcpListener,
    limits: ConnectionLimits,
    metrics: Arc<ServiceMetrics>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let connections = Connections::new(limits, metrics).refusing_with(refuse_connection());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    // No keep-alive pings of our own: hyper's server pings idle connections too, and their
    // answers would count as activity, so an idle HTTP/2 client would hold its slot for ever.
    // A silent connection (a dead peer included) is closed by IDLE_TIMEOUT_SECS instead.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams);
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            stream = connections.accept(&listener) => stream,
        };
        // Each request knows its client's address (the rate limit's key without a principal).
        let client = crate::rate_limit::ClientAddr(
            tonic::transport::server::Connected::connect_info(&stream).remote_addr(),
        );
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut request: Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(client);
                request
            },
        ));
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    // No new connections; open ones finish their requests and close.
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Admission at the gateway: the work routes (`/process`, `/route`, the task API but its event
/// streams, which have their own cap), waiting no longer than the request's own budget (a
/// `Prefer: wait` one's is longer and is no latency sample); refused with `503 overloaded`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpAdmission {
    pub(crate) limits: Limits,
}

impl<B> AdmissionPolicy<B, Body> for HttpAdmission {
    fn admit(&self, request: &Request<B>) -> Admit {
        let path = request.uri().path();
        let exempt = crate::is_operational(path)
            || (path.starts_with("/tasks/") && path.ends_with("/events"));
        if exempt {
            return Admit::Exempt;
        }
        let waits = Prefer::from_headers(request.headers())
            .wait
            .map(|w| w.min(self.limits.max_wait));
        let budget = waits.map_or(self.limits.request_timeout, |w| {
            w.max(self.limits.request_timeout)
        });
        Admit::Govern {
            deadline: Some(tokio::time::Instant::now() + budget),
            sample: waits.is_none(),
        }
    }

    fn refuse(&self, why: Overloaded) -> Response<Body> {
        ApiError(
            AgentError::overloaded("the gateway is at capacity; retry shortly")
                .with("reason", why.reason()),
        )
        .into_response()
    }

    fn is_sample(&self, response: &Response<Body>) -> bool {
        !response.status().is_server_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_refusal_is_a_complete_json_503() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len());
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "overloaded");
    }
}

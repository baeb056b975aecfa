//! Admits only the gRPC callers whose client certificate names an allowed client
//! (`TLS_ALLOWED_CLIENTS`, `config::tls`).

use std::task::{Context, Poll};

use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use crate::config::tls::AllowedClients;

/// Refuses a request whose client certificate is not allowed (`PermissionDenied`), before it
/// takes a turn in admission control. Without [`AllowedClients`] it passes everything on.
#[derive(Debug, Clone)]
pub struct AllowedClientsLayer {
    allowed: Option<AllowedClients>,
}

impl AllowedClientsLayer {
    pub fn new(allowed: Option<AllowedClients>) -> Self {
        Self { allowed }
    }
}

impl<S> tower::Layer<S> for AllowedClientsLayer {
    type Service = AllowedClientsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AllowedClientsService {
            inner,
            allowed: self.allowed.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AllowedClientsService<S> {
    inner: S,
    allowed: Option<AllowedClients>,
}

impl<S, B> tower::Service<http::Request<B>> for AllowedClientsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::Either<
        S::Future,
        std::future::Ready<Result<http::Response<tonic::body::Body>, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if let Some(allowed) = &self.allowed {
            let certs = request
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(TlsConnectInfo::peer_certs);
            if !allowed.admits(certs.as_deref().map(Vec::as_slice)) {
                tracing::warn!(path = %request.uri().path(), "refused a client whose certificate is not allowed here");
                let status = tonic::Status::permission_denied(
                    "this client's certificate does not name a client allowed here",
                );
                return futures::future::Either::Right(std::future::ready(Ok(status.into_http())));
            }
        }
        futures::future::Either::Left(self.inner.call(request))
    }
}

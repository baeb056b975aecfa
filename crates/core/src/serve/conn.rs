//! Accepted TCP connections that count themselves in `agent_active_connections` and have
//! `TCP_NODELAY` set (small gRPC frames must not wait for Nagle).

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};

use crate::metrics::{ConnectionGuard, ServiceMetrics};

#[derive(Debug)]
pub struct TrackedStream {
    inner: TcpStream,
    _guard: ConnectionGuard,
}

impl TrackedStream {
    pub fn new(inner: TcpStream, metrics: &Arc<ServiceMetrics>) -> Self {
        if let Err(err) = inner.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        Self {
            inner,
            _guard: metrics.connection_opened(),
        }
    }
}

impl tonic::transport::server::Connected for TrackedStream {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An axum listener yielding [`TrackedStream`]s.
#[derive(Debug)]
pub struct TrackedListener {
    inner: TcpListener,
    metrics: Arc<ServiceMetrics>,
}

impl TrackedListener {
    pub fn new(inner: TcpListener, metrics: Arc<ServiceMetrics>) -> Self {
        Self { inner, metrics }
    }
}

impl axum::serve::Listener for TrackedListener {
    type Io = TrackedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        (TrackedStream::new(stream, &self.metrics), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

//! Accepting connections within bounds: at most `MAX_CONNECTIONS` open per process (past it a new
//! one is refused: answered by a `refuse` callback, then closed, while open ones are served), each
//! counted in `agent_active_connections`, with `TCP_NODELAY` (small gRPC frames must not wait for
//! Nagle) and closed after `IDLE_TIMEOUT_SECS` without a byte either way.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};

use crate::{
    config::ConnectionLimits,
    metrics::{ConnectionGuard, ServiceMetrics},
};

/// What is done with a connection refused for want of a slot, before it is closed.
pub type Refuse = Arc<dyn Fn(TcpStream) -> BoxFuture<'static, ()> + Send + Sync>;

/// Refusals being written at once; more are closed without a word.
const MAX_REFUSING: usize = 256;
/// How long a refusal may take to write.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(2);

/// One process's open connections.
#[derive(Clone)]
pub struct Connections {
    slots: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    limits: ConnectionLimits,
    metrics: Arc<ServiceMetrics>,
    refuse: Option<Refuse>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("limits", &self.limits)
            .field("free", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl Connections {
    pub fn new(limits: ConnectionLimits, metrics: Arc<ServiceMetrics>) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
            limits,
            metrics,
            refuse: None,
        }
    }

    /// Answers a refused connection with `refuse` before closing it (an HTTP `503`).
    #[must_use]
    pub fn refusing_with(mut self, refuse: Refuse) -> Self {
        self.refuse = Some(refuse);
        self
    }

    /// The next connection that has a slot. Refused ones are dealt with on the side; accept
    /// errors (out of file descriptors) are logged and retried after a pause, never returned.
    pub async fn accept(&self, listener: &TcpListener) -> TrackedStream {
        let mut pause = Duration::from_millis(5);
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    pause = Duration::from_millis(5);
                    match Arc::clone(&self.slots).try_acquire_owned() {
                        Ok(slot) => return TrackedStream::new(stream, slot, self),
                        Err(_) => self.turn_away(stream),
                    }
                }
                Err(err) => {
                    tracing::warn!(%err, retry_in = ?pause, "cannot accept a connection");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// The accepted connections as a stream, for tonic's `serve_with_incoming`.
    pub fn incoming(
        self,
        listener: TcpListener,
    ) -> impl futures::Stream<Item = io::Result<TrackedStream>> + Send + 'static {
        futures::stream::unfold((self, listener), |(this, listener)| async move {
            let stream = this.accept(&listener).await;
            Some((Ok(stream), (this, listener)))
        })
    }

    fn turn_away(&self, stream: TcpStream) {
        self.metrics.refused("connections");
        let (Some(refuse), Ok(turn)) = (
            self.refuse.clone(),
            Arc::clone(&self.refusing).try_acquire_owned(),
        ) else {
            return; // dropped: closed
        };
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REFUSE_TIMEOUT, refuse(stream)).await;
            drop(turn);
        });
    }
}

/// An accepted connection: holds its slot and its place in the connection gauge, and fails
/// reads with `TimedOut` once it has been idle (no byte read or written) for the idle timeout.
#[derive(Debug)]
pub struct TrackedStream {
    inner: TcpStream,
    _slot: OwnedSemaphorePermit,
    _guard: ConnectionGuard,
    idle_timeout: Duration,
    last_active: Instant,
    idle: Pin<Box<Sleep>>,
}

impl TrackedStream {
    fn new(inner: TcpStream, slot: OwnedSemaphorePermit, connections: &Connections) -> Self {
        if let Err(err) = inner.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        let idle_timeout = connections.limits.idle_timeout;
        let now = Instant::now();
        Self {
            inner,
            _slot: slot,
            _guard: connections.metrics.connection_opened(),
            idle_timeout,
            last_active: now,
            idle: Box::pin(tokio::time::sleep_until(now + idle_timeout)),
        }
    }

    /// Whether the connection has been idle too long. Activity only records the time; the timer
    /// is moved when it fires early, so a busy connection costs no timer work per read.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.idle.as_mut().poll(cx).is_pending() {
                return false;
            }
            let expires = self.last_active + self.idle_timeout;
            if expires <= Instant::now() {
                return true;
            }
            self.idle.as_mut().reset(expires);
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
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(res) => {
                if buf.filled().len() > before {
                    this.last_active = Instant::now();
                }
                Poll::Ready(res)
            }
            Poll::Pending if this.poll_idle(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.last_active = Instant::now();
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.last_active = Instant::now();
        }
        res
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn limits(max_connections: usize, idle_ms: u64) -> ConnectionLimits {
        ConnectionLimits {
            max_connections,
            idle_timeout: Duration::from_millis(idle_ms),
            ..ConnectionLimits::default()
        }
    }

    /// Past the limit a connection is answered by the refusal and closed; the open ones go on,
    /// and a slot given back is taken by the next.
    #[tokio::test]
    async fn past_the_limit_new_connections_are_refused_and_open_ones_served() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = ServiceMetrics::new("test");
        let connections = Connections::new(limits(2, 60_000), Arc::clone(&metrics)).refusing_with(
            Arc::new(|mut stream: TcpStream| {
                Box::pin(async move {
                    let _ = stream.write_all(b"busy").await;
                })
            }),
        );
        let server = tokio::spawn(async move {
            loop {
                let mut conn = connections.accept(&listener).await;
                tokio::spawn(async move {
                    let mut buf = [0u8; 16];
                    while let Ok(n) = conn.read(&mut buf).await {
                        if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let echo = |mut c: TcpStream| async move {
            c.write_all(b"hi").await.unwrap();
            let mut buf = [0u8; 2];
            c.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hi");
            c
        };
        let a = echo(TcpStream::connect(addr).await.unwrap()).await;
        let b = echo(TcpStream::connect(addr).await.unwrap()).await;

        let mut third = TcpStream::connect(addr).await.unwrap();
        let mut answer = Vec::new();
        third.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"busy");
        let b = echo(b).await; // still served
        assert!(metrics.encode().contains(r#"reason="connections"} 1"#));

        drop(a);
        // The slot comes back once the server sees the close.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut next = TcpStream::connect(addr).await.unwrap();
            next.write_all(b"ok").await.unwrap();
            let mut buf = [0u8; 4];
            let n = next.read(&mut buf).await.unwrap_or(0);
            if &buf[..n] == b"ok" {
                break;
            }
            assert!(Instant::now() < deadline, "the slot never came back");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(b);
        server.abort();
    }

    /// A connection that sends nothing is closed after the idle timeout; one that keeps talking
    /// is not.
    #[tokio::test]
    async fn an_idle_connection_is_closed_and_a_busy_one_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Connections::new(limits(10, 300), ServiceMetrics::new("test"));
        let server = tokio::spawn(async move {
            loop {
                let mut conn = connections.accept(&listener).await;
                tokio::spawn(async move {
                    let mut buf = [0u8; 16];
                    loop {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let _ = conn.write_all(&buf[..n]).await;
                            }
                        }
                    }
                });
            }
        });
        let mut idle = TcpStream::connect(addr).await.unwrap();
        let mut busy = TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 1];
        while start.elapsed() < Duration::from_millis(900) {
            busy.write_all(b"x").await.unwrap();
            busy.read_exact(&mut buf).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let closed = tokio::time::timeout(Duration::from_secs(1), idle.read(&mut buf))
            .await
            .expect("the idle connection was closed long ago");
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
        busy.write_all(b"y").await.unwrap();
        busy.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"y");
        server.abort();
    }
}

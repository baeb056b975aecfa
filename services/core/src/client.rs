//! Outbound gRPC channels: lazily connected, `TCP_NODELAY`, kept alive.
//!
//! One HTTP/2 connection per downstream service. Spreading calls over two connections
//! (`Channel::balance_list`) was measured in `make bench` and was no faster on two cores.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// A channel to `url` that connects on first use and reconnects by itself.
pub fn lazy_channel(url: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

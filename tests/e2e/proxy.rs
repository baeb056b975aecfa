//! A TCP proxy the test owns, between a service and RabbitMQ: it can cut every live connection
//! (as a network failure or a broker restart would) and refuse new ones for a while.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    generation: watch::Sender<u64>,
    refusing: Arc<AtomicBool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (generation, _) = watch::channel(0u64);
        let refusing = Arc::new(AtomicBool::new(false));
        let (gen_tx, refuse) = (generation.clone(), Arc::clone(&refusing));
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if refuse.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut = gen_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                    // Dropping both sockets is the cut.
                });
            }
        });
        Self {
            addr,
            generation,
            refusing,
            accept,
        }
    }

    /// Drops every live connection; new ones are still accepted.
    pub(crate) fn cut(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// Cuts, and refuses new connections until [`Proxy::restore`].
    pub(crate) fn down(&self) {
        self.refusing.store(true, Ordering::SeqCst);
        self.cut();
    }

    pub(crate) fn restore(&self) {
        self.refusing.store(false, Ordering::SeqCst);
    }

    /// An AMQP URL through this proxy.
    pub(crate) fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

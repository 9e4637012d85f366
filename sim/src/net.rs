//! turmoil adapters for the system's injected network edges: a listener that `axum::serve`
//! accepts and a [`Dial`] that opens simulated TCP connections.
//!
//! These two small types are all it takes to run the unchanged `rbee` server and clients
//! on turmoil's simulated network.

use futures::future::BoxFuture;
use rbee::dial::{BoxIo, Dial};
use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Listens on a simulated host's port for `axum::serve`.
pub struct SimListener(pub turmoil::net::TcpListener);

impl SimListener {
    /// Binds `0.0.0.0:port` on the current simulated host.
    pub async fn bind(port: u16) -> io::Result<Self> {
        Ok(Self(
            turmoil::net::TcpListener::bind(("0.0.0.0", port)).await?,
        ))
    }
}

impl axum::serve::Listener for SimListener {
    type Io = turmoil::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok(pair) => return pair,
                // A failed accept is retried after a short pause on the simulated clock.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// The hosts whose process is down (crashed, not restarted yet), shared by a run's dialers.
pub type DownHosts = Arc<Mutex<BTreeSet<String>>>;

/// Dials simulated hosts by name.
///
/// A connect to a host whose process is down is refused at once, as a real machine whose
/// process died refuses it (its port is closed). turmoil itself would deliver nothing to a
/// crashed host and leave the connect waiting until the host restarts; running the same
/// scenario against real processes (`rbee-sim real`) showed the difference.
#[derive(Clone, Debug, Default)]
pub struct SimDial {
    down: DownHosts,
}

impl SimDial {
    /// A dialer that refuses connects to the hosts in `down`.
    pub fn new(down: DownHosts) -> Self {
        Self { down }
    }
}

impl Dial for SimDial {
    fn dial(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<BoxIo>> {
        let host = host.to_owned();
        let down = self
            .down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&host);
        Box::pin(async move {
            if down {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("{host}:{port}: its process is down"),
                ));
            }
            let stream = turmoil::net::TcpStream::connect((host.as_str(), port)).await?;
            Ok(Box::new(stream) as BoxIo)
        })
    }
}

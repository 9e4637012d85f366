//! A TCP proxy on loopback that gives one real link the faults the simulator gives a
//! simulated link: `partition`, `repair`, `hold`, `release`, and "nothing listens" while
//! the process behind it is crashed.
//!
//! Each connection through the proxy runs through [`crate::link::connect`], the same pumps
//! every simulated connection runs through, so a fault does the same to the bytes in both
//! worlds (the semantics are documented there). A partition also closes the proxy's
//! listening socket: a connect is refused and retried by the clients, as a turmoil connect
//! whose SYN a partition drops.
//!
//! While the process behind it is down, the proxy closes its listening socket, so a
//! connect is refused (and retried by the clients) exactly as it is in the simulator.

use crate::link::{current, LinkEvent, LinkState, Log};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};

/// One proxied link: listens on `addr`, forwards each connection to `upstream`.
pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    link: watch::Sender<Log>,
    tasks: Arc<Mutex<JoinSet<()>>>,
    accept: Option<AbortHandle>,
    /// The process behind the proxy is down (crashed).
    down: bool,
}

impl Proxy {
    /// Starts a proxy on an ephemeral loopback port in front of `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<Self> {
        let mut proxy = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream,
            link: watch::Sender::new(Log::new()),
            tasks: Arc::default(),
            accept: None,
            down: false,
        };
        proxy.listen()?;
        Ok(proxy)
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The link's fault state now.
    pub fn state(&self) -> LinkState {
        current(&self.link.borrow())
    }

    /// Drops traffic from now on, and whatever a hold kept; refuses new connections (a
    /// dropped SYN makes turmoil's connect fail at once, and clients retry refused
    /// connects).
    pub fn partition(&mut self) -> io::Result<()> {
        self.apply(LinkEvent::Partition)
    }

    /// Lets new traffic and connections through again (held bytes stay held until a
    /// release).
    pub fn repair(&mut self) -> io::Result<()> {
        self.apply(LinkEvent::Repair)
    }

    /// Keeps traffic from now on.
    pub fn hold(&mut self) -> io::Result<()> {
        self.apply(LinkEvent::Hold)
    }

    /// Delivers held traffic and lets traffic flow.
    pub fn release(&mut self) -> io::Result<()> {
        self.apply(LinkEvent::Release)
    }

    fn apply(&mut self, event: LinkEvent) -> io::Result<()> {
        self.link.send_modify(|log| log.push(event));
        self.listen()
    }

    /// The process behind the proxy is gone: stop listening, so connects are refused, as
    /// they are by a machine whose process died. Connections already open stay open until
    /// the process's side of them closes.
    pub fn down(&mut self) -> io::Result<()> {
        self.down = true;
        self.listen()
    }

    /// The process is back: listen again on the same address (unless partitioned).
    pub fn up(&mut self) -> io::Result<()> {
        self.down = false;
        self.listen()
    }

    /// Listens exactly when the process is up and the link is not partitioned.
    fn listen(&mut self) -> io::Result<()> {
        let wanted = !self.down && self.state() != LinkState::Partitioned;
        if !wanted {
            if let Some(accept) = self.accept.take() {
                accept.abort();
            }
            return Ok(());
        }
        if self.accept.is_some() {
            return Ok(());
        }
        // The listener a moment ago closed is dropped by its aborted task asynchronously:
        // SO_REUSEPORT lets the new one bind the address meanwhile (a repair right after
        // a partition, a restart right after a crash).
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.bind(self.addr)?;
        let listener = socket.listen(1024)?;
        self.addr = listener.local_addr()?;
        let (upstream, link, tasks) = (self.upstream, self.link.clone(), self.tasks.clone());
        let accept = async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let link = link.subscribe();
                let connection = async move {
                    // The process may have died between accept and connect: close at once.
                    if let Ok(outbound) = TcpStream::connect(upstream).await {
                        let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
                        crate::link::connect(inbound, outbound, link).await;
                    }
                };
                lock(&tasks).spawn(connection);
            }
        };
        self.accept = Some(lock(&self.tasks).spawn(accept));
        Ok(())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        lock(&self.tasks).abort_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// An upstream that echoes every byte back.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    /// Sends `msg` and returns what came back within `wait` (`None`: silence).
    async fn round_trip(s: &mut TcpStream, msg: &[u8], wait: Duration) -> Option<Vec<u8>> {
        s.write_all(msg).await.expect("write");
        let mut buf = vec![0u8; msg.len()];
        tokio::time::timeout(wait, s.read_exact(&mut buf))
            .await
            .ok()
            .map(|r| r.map(|_| buf).expect("read"))
    }

    const SHORT: Duration = Duration::from_millis(150);
    const LONG: Duration = Duration::from_secs(5);

    /// Proves a partition refuses new connections and silences a connection that sends
    /// during it, for good (as turmoil's TCP, which never resends), while a connection idle
    /// during the partition, and a new one, work again after the repair.
    #[tokio::test]
    async fn a_partition_silences_what_it_touched_and_repair_heals_the_rest() {
        let mut proxy = Proxy::start(echo().await).expect("proxy");
        let mut touched = TcpStream::connect(proxy.addr()).await.expect("connect");
        let mut idle = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(
            round_trip(&mut touched, b"hi", LONG).await.as_deref(),
            Some(&b"hi"[..])
        );
        proxy.partition().expect("partition");
        tokio::task::yield_now().await;
        let refused = TcpStream::connect(proxy.addr()).await.expect_err("refused");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(round_trip(&mut touched, b"lost", SHORT).await, None);
        proxy.repair().expect("repair");
        assert_eq!(round_trip(&mut touched, b"more", SHORT).await, None);
        assert_eq!(
            round_trip(&mut idle, b"ok", LONG).await.as_deref(),
            Some(&b"ok"[..])
        );
        let mut fresh = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(
            round_trip(&mut fresh, b"new", LONG).await.as_deref(),
            Some(&b"new"[..])
        );
    }

    /// Proves a hold keeps bytes, in order, until the release delivers them; a repair of a
    /// held link delivers nothing, and a partition discards what was held.
    #[tokio::test]
    async fn a_hold_keeps_bytes_until_the_release() {
        let mut proxy = Proxy::start(echo().await).expect("proxy");
        let mut s = TcpStream::connect(proxy.addr()).await.expect("connect");
        proxy.hold().expect("hold");
        assert_eq!(round_trip(&mut s, b"ab", SHORT).await, None);
        proxy.repair().expect("repair");
        assert_eq!(round_trip(&mut s, b"cd", SHORT).await, None);
        proxy.release().expect("release");
        let mut buf = [0u8; 4];
        tokio::time::timeout(LONG, s.read_exact(&mut buf))
            .await
            .expect("released in time")
            .expect("read");
        assert_eq!(&buf, b"abcd", "echoed in order");
        let mut dropped = TcpStream::connect(proxy.addr()).await.expect("connect");
        proxy.hold().expect("hold");
        assert_eq!(round_trip(&mut dropped, b"x", SHORT).await, None);
        proxy.partition().expect("partition");
        proxy.release().expect("release");
        assert_eq!(round_trip(&mut dropped, b"y", SHORT).await, None);
    }

    /// Proves a proxy that is down refuses connects and accepts them again on the same
    /// address once up.
    #[tokio::test]
    async fn down_refuses_connects_and_up_listens_on_the_same_address() {
        let mut proxy = Proxy::start(echo().await).expect("proxy");
        let addr = proxy.addr();
        proxy.down().expect("down");
        proxy
            .up()
            .expect("up again at once, before the old listener is dropped");
        proxy.down().expect("down");
        tokio::task::yield_now().await;
        let refused = TcpStream::connect(addr).await.expect_err("nothing listens");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        proxy.up().expect("listens again");
        let mut s = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(
            round_trip(&mut s, b"back", LONG).await.as_deref(),
            Some(&b"back"[..])
        );
    }
}

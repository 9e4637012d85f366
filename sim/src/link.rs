//! What a fault does to the bytes of a connection: the one semantics of `partition`,
//! `repair`, `hold` and `release` on a link, shared by the simulator (every simulated
//! connection runs through [`connect`], see `net.rs`) and by the proxy `rbee-sim real` puts
//! on every real link (`real/proxy.rs`), so both worlds hold and drop the same bytes.
//!
//! A link's faults are a log of [`LinkEvent`]s. Each connection over the link is two
//! [`pump`]s, one per direction, that replay the log in order (two faults in quick
//! succession, a partition right before a release, are never seen as one). Bytes are
//! forwarded the way turmoil treats segments (read in `turmoil-0.7/src/top.rs` and
//! `host.rs`):
//! - partitioned: bytes are dropped, and because turmoil's TCP never resends and its
//!   receiver re-orders by sequence number, a direction that lost bytes stays silent for
//!   good, repair or not (its end of stream is never delivered either);
//! - a partition also drops whatever a hold was keeping;
//! - held: bytes (and the end of stream) are kept, in order, and delivered on `release`;
//!   a `repair` of a held link does not deliver them (turmoil's repair releases nothing),
//!   and later bytes queue behind them;
//! - a connection that carried nothing during a partition works again after the repair;
//! - a held direction keeps at most [`WINDOW`] bytes and then stops reading, so its
//!   sender's writes wait, as behind a stalled real link: backpressure, not an unbounded
//!   buffer (a reader stalled by a hold is how the relay's buffer fills and waits).
//!
//! A hold keeps bytes, not connects: a connect over a held link completes (a real kernel
//! completes the handshake, and a proxy cannot hold it), and its request waits. turmoil's
//! own `hold` would keep the connect itself, and a partition would then drop it and let the
//! client retry it after the repair, where a real request, sent on a connection that was
//! already open, is lost.

use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// The most bytes a held direction keeps before it stops reading from its sender: a TCP
/// window without scaling. Beyond it the sender's socket fills (turmoil's flow control in
/// the simulator, the kernel's buffers behind the proxy) and its writes wait.
pub const WINDOW: usize = 64 * 1024;

/// The fault state of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Bytes flow.
    Healthy,
    /// Bytes are dropped.
    Partitioned,
    /// Bytes are kept until a release.
    Held,
}

/// A fault applied to a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// Drop bytes from now on, and what a hold kept.
    Partition,
    /// Let new bytes through (held bytes stay held).
    Repair,
    /// Keep bytes from now on.
    Hold,
    /// Deliver held bytes and let bytes flow.
    Release,
}

impl LinkEvent {
    /// The state a link is in after this event.
    pub fn state(self) -> LinkState {
        match self {
            Self::Partition => LinkState::Partitioned,
            Self::Hold => LinkState::Held,
            Self::Repair | Self::Release => LinkState::Healthy,
        }
    }
}

/// Every fault applied to a link so far.
pub type Log = Vec<LinkEvent>;

/// The state a link is in after its log.
pub fn current(log: &Log) -> LinkState {
    log.last().map_or(LinkState::Healthy, |e| e.state())
}

/// The links of one simulated run, by the pair of hosts they join (in either order), each
/// with its log: the world appends faults, every connection between the two hosts follows.
#[derive(Clone, Debug, Default)]
pub struct Links(Arc<Mutex<BTreeMap<Pair, watch::Sender<Log>>>>);

/// The two hosts a link joins, the smaller name first.
type Pair = (String, String);

impl Links {
    /// Applies `event` to the link between `a` and `b`.
    pub fn apply(&self, a: &str, b: &str, event: LinkEvent) {
        self.sender(a, b).send_modify(|log| log.push(event));
    }

    /// The log of the link between `a` and `b`, for a connection to follow.
    pub fn watch(&self, a: &str, b: &str) -> watch::Receiver<Log> {
        self.sender(a, b).subscribe()
    }

    fn sender(&self, a: &str, b: &str) -> watch::Sender<Log> {
        let key = if a <= b { (a, b) } else { (b, a) };
        let mut links = self.0.lock().unwrap_or_else(|e| e.into_inner());
        links
            .entry((key.0.to_owned(), key.1.to_owned()))
            .or_insert_with(|| watch::Sender::new(Log::new()))
            .clone()
    }
}

/// Runs both directions of one connection, `a` and `b` being its two ends' streams; the
/// streams are dropped (and close) when both directions have ended. A direction that went
/// silent must not close its peer's stream just because its own source ended, so each
/// pump hands back its write half.
pub async fn connect<A, B>(a: A, b: B, link: watch::Receiver<Log>)
where
    A: AsyncRead + AsyncWrite,
    B: AsyncRead + AsyncWrite,
{
    let (a_read, a_write) = tokio::io::split(a);
    let (b_read, b_write) = tokio::io::split(b);
    let _halves = tokio::join!(
        pump(a_read, b_write, link.clone()),
        pump(b_read, a_write, link)
    );
}

/// What travels in one direction: bytes, or the end of the stream.
enum Segment {
    Data(Bytes),
    End,
}

/// One direction of a connection, with turmoil's segment semantics (module docs).
pub async fn pump<R, W>(mut from: R, mut to: W, mut link: watch::Receiver<Log>) -> W
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut held: VecDeque<Segment> = VecDeque::new();
    let mut held_bytes = 0;
    let (mut silent, mut ended) = (false, false);
    let (mut state, mut seen) = {
        let log = link.borrow_and_update();
        (current(&log), log.len())
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let events: Log = link.borrow_and_update()[seen..].to_vec();
        seen += events.len();
        for event in events {
            state = event.state();
            match event {
                LinkEvent::Partition if !held.is_empty() => {
                    held.clear();
                    held_bytes = 0;
                    silent = true;
                }
                LinkEvent::Release => {
                    held_bytes = 0;
                    while let Some(segment) = held.pop_front() {
                        if !deliver(&mut to, segment).await {
                            return to;
                        }
                    }
                }
                _ => {}
            }
        }
        if ended && held.is_empty() {
            return to;
        }
        tokio::select! {
            read = from.read(&mut buf), if !ended && held_bytes < WINDOW => {
                let segment = match read {
                    Ok(0) | Err(_) => {
                        ended = true;
                        Segment::End
                    }
                    Ok(n) => Segment::Data(Bytes::copy_from_slice(&buf[..n])),
                };
                if silent || state == LinkState::Partitioned {
                    silent = true;
                } else if state == LinkState::Held || !held.is_empty() {
                    if let Segment::Data(bytes) = &segment {
                        held_bytes += bytes.len();
                    }
                    held.push_back(segment);
                } else if !deliver(&mut to, segment).await {
                    return to;
                }
            }
            changed = link.changed() => {
                if changed.is_err() {
                    return to;
                }
            }
        }
    }
}

/// Writes a segment; `false` once the direction is over (end delivered or peer gone).
async fn deliver<W: AsyncWrite + Unpin>(to: &mut W, segment: Segment) -> bool {
    match segment {
        Segment::Data(bytes) => to.write_all(&bytes).await.is_ok() && to.flush().await.is_ok(),
        Segment::End => {
            let _ = to.shutdown().await;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::DuplexStream;

    /// A connection through `links`' link between `a` and `b`: the client's end and the
    /// server's end, as `net.rs` and the proxy build it.
    fn connection(links: &Links) -> (DuplexStream, DuplexStream) {
        let (client, near) = tokio::io::duplex(1024);
        let (far, server) = tokio::io::duplex(1024);
        tokio::spawn(connect(near, far, links.watch("b", "a")));
        (client, server)
    }

    /// What `from` has to read within a second of simulated time (`None`: silence).
    async fn read(from: &mut DuplexStream, n: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; n];
        tokio::time::timeout(Duration::from_secs(1), from.read_exact(&mut buf))
            .await
            .ok()
            .map(|r| r.map(|_| buf).expect("read"))
    }

    /// Proves a hold keeps a connection's bytes in order until the release, in both
    /// directions, and a repair of a held link delivers nothing: the sim's connections
    /// (the proxy's tests prove the same over real sockets).
    #[tokio::test(start_paused = true)]
    async fn a_hold_keeps_bytes_in_order_until_the_release() {
        let links = Links::default();
        let (mut client, mut server) = connection(&links);
        links.apply("a", "b", LinkEvent::Hold);
        client.write_all(b"ab").await.expect("write");
        server.write_all(b"xy").await.expect("write");
        assert_eq!(read(&mut server, 2).await, None);
        links.apply("a", "b", LinkEvent::Repair);
        client.write_all(b"cd").await.expect("write");
        assert_eq!(read(&mut server, 2).await, None);
        assert_eq!(read(&mut client, 2).await, None);
        links.apply("a", "b", LinkEvent::Release);
        assert_eq!(read(&mut server, 4).await.as_deref(), Some(&b"abcd"[..]));
        assert_eq!(read(&mut client, 2).await.as_deref(), Some(&b"xy"[..]));
    }

    /// Proves a partition drops what a hold kept and silences that direction for good,
    /// its end of stream too, while the other direction, which kept nothing, works after
    /// the release; a connection opened later is not silenced.
    #[tokio::test(start_paused = true)]
    async fn a_partition_drops_held_bytes_and_silences_their_direction() {
        let links = Links::default();
        let (mut client, mut server) = connection(&links);
        links.apply("a", "b", LinkEvent::Hold);
        client.write_all(b"lost").await.expect("write");
        assert_eq!(read(&mut server, 4).await, None);
        links.apply("a", "b", LinkEvent::Partition);
        links.apply("a", "b", LinkEvent::Release);
        client.write_all(b"more").await.expect("write");
        drop(client.shutdown().await);
        assert_eq!(read(&mut server, 4).await, None);
        server.write_all(b"back").await.expect("write");
        assert_eq!(read(&mut client, 4).await.as_deref(), Some(&b"back"[..]));
        let (mut fresh, mut served) = connection(&links);
        fresh.write_all(b"new").await.expect("write");
        assert_eq!(read(&mut served, 3).await.as_deref(), Some(&b"new"[..]));
    }

    /// Proves a held direction keeps at most a window of bytes and then stops reading, so
    /// its sender's write waits (backpressure) until the release delivers everything.
    #[tokio::test(start_paused = true)]
    async fn a_held_direction_keeps_a_window_and_then_holds_its_sender_back() {
        let links = Links::default();
        let (mut client, mut server) = connection(&links);
        links.apply("a", "b", LinkEvent::Hold);
        let sent = vec![7u8; WINDOW + 8 * 1024];
        let expected = sent.len();
        let mut writer = tokio::spawn(async move {
            client.write_all(&sent).await.expect("write");
            client
        });
        let waited = tokio::time::timeout(Duration::from_secs(1), &mut writer).await;
        assert!(waited.is_err(), "the sender wrote past the window");
        links.apply("a", "b", LinkEvent::Release);
        let got = read(&mut server, expected).await.expect("released");
        assert_eq!(got.len(), expected);
        writer.await.expect("the write completes after the release");
    }
}

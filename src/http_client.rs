//! A minimal HTTP/1.1 client over an injected [`Dial`]: one connection per request, the
//! connection driven by a sub-task that dies with the response.
//!
//! Refused connects are retried with a short backoff on the process clock (a peer may not
//! have bound its port yet); every wait has a limit, so nothing hangs on a silent network.

use crate::context::{self, SubTask};
use crate::dial::{Dial, Endpoint};
use crate::probe::Probe;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::io;
use std::time::Duration;
use tokio::time::timeout;

/// How long one connect, one request head or one reply body may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// How many times a refused connect is retried before giving up.
pub const CONNECT_ATTEMPTS: u32 = 8;

/// A response whose body is still streaming; keeps its connection alive while held.
pub struct Response {
    /// Status line.
    pub status: StatusCode,
    /// Body frames.
    pub body: Incoming,
    _conn: SubTask<()>,
}

impl Response {
    /// Reads the whole body (bounded by [`IO_TIMEOUT`]).
    pub async fn bytes(self) -> io::Result<Bytes> {
        let collected = timeout(IO_TIMEOUT, self.body.collect())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "reply body timed out"))?
            .map_err(io::Error::other)?;
        Ok(collected.to_bytes())
    }

    /// Reads the body as JSON.
    pub async fn json(self) -> io::Result<serde_json::Value> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// Connects, retrying refused connects with a doubling backoff from 20 ms.
pub async fn connect(dial: &dyn Dial, to: &Endpoint) -> io::Result<crate::dial::BoxIo> {
    let mut backoff = Duration::from_millis(20);
    let mut attempt = 1;
    loop {
        let result = timeout(IO_TIMEOUT, dial.dial(&to.host, to.port))
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connect to {to} timed out"),
                ))
            });
        match result {
            Err(e)
                if e.kind() == io::ErrorKind::ConnectionRefused && attempt < CONNECT_ATTEMPTS =>
            {
                // Only a job's outgoing connection has a context: the queen's relay.
                context::probe(Probe::RelayConnectRetry);
                context::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Sends one request and returns once the response head has arrived.
pub async fn send(
    dial: &dyn Dial,
    to: &Endpoint,
    method: Method,
    path: &str,
    body: Option<Bytes>,
) -> io::Result<Response> {
    let io = connect(dial, to).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(io::Error::other)?;
    let conn = context::spawn_driver(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, to.authority());
    if body.is_some() {
        req = req.header(http::header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(Full::new(body.unwrap_or_default()))
        .map_err(io::Error::other)?;
    let resp = timeout(IO_TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("{to} did not answer")))?
        .map_err(io::Error::other)?;
    let (parts, body) = resp.into_parts();
    Ok(Response {
        status: parts.status,
        body,
        _conn: conn,
    })
}

/// The `error` message of a JSON error reply, or the raw body.
pub fn error_message(body: &serde_json::Value) -> String {
    body.get("error")
        .and_then(|e| e.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| body.to_string())
}

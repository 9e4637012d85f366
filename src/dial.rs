//! The network edge of every outgoing connection: [`Dial`] opens a byte stream to a host.
//!
//! Real processes use [`TcpDial`] (tokio sockets); the simulator plugs in a turmoil dialer.
//! Everything that talks HTTP — the keeper and the queen's relay — takes an `Arc<dyn Dial>`,
//! so the same client code runs on either network.

use futures::future::BoxFuture;
use std::fmt;
use std::io;
use tokio::io::{AsyncRead, AsyncWrite};

/// A connected byte stream.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A boxed connected byte stream.
pub type BoxIo = Box<dyn Io>;

/// Opens connections. Implementations must return `ConnectionRefused` when nothing listens
/// yet, which clients retry with a short backoff (a peer may not have bound its port).
pub trait Dial: Send + Sync + 'static {
    /// Connects to `host:port`.
    fn dial(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<BoxIo>>;
}

/// Dials real TCP sockets.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpDial;

impl Dial for TcpDial {
    fn dial(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<BoxIo>> {
        let host = host.to_owned();
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxIo)
        })
    }
}

/// Where a server is: `http://host:port`, parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// Parses `http://host:port` (a trailing `/` is allowed; `http://` may be omitted).
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("http://").unwrap_or(url);
        if url.starts_with("https://") {
            return Err(format!("'{url}': only http:// is supported"));
        }
        let rest = rest.trim_end_matches('/');
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("'{url}': expected http://HOST:PORT"))?;
        let port = port
            .parse()
            .map_err(|_| format!("'{url}': port '{port}' is not a number from 0 to 65535"))?;
        if host.is_empty() || host.contains('/') {
            return Err(format!("'{url}': expected http://HOST:PORT"));
        }
        Ok(Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        })
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_print() {
        let e = Endpoint::parse("http://hive-a:9000/").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("hive-a", 9000));
        assert_eq!(e.to_string(), "http://hive-a:9000");
        assert_eq!(Endpoint::parse("127.0.0.1:1").unwrap().port, 1);
        assert!(Endpoint::parse("http://nohost").is_err());
        assert!(Endpoint::parse("http://h:99999").is_err());
        assert!(Endpoint::parse("https://h:1").is_err());
    }
}

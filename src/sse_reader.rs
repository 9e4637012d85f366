//! Reads a job stream from an HTTP body: SSE framing (docs/spec.md §3) and the silence rule.
//!
//! The framing is parsed here rather than by a generic SSE crate because the reader must
//! see *bytes*, not just events: a keep-alive comment proves the peer is alive, and 15 s
//! without any byte means the peer is lost (turmoil's TCP, like a real partition, stalls
//! silently). Silence is never taken as success.

use crate::event::StreamEvent;
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use std::fmt::Display;
use std::time::Duration;

/// A reader that gets no bytes at all for this long treats the peer as lost.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(15);

/// Why a stream ended without a terminal event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// No byte for [`SILENCE_LIMIT`].
    #[error("no data for {}s", .0.as_secs())]
    Silent(Duration),
    /// The connection closed or failed before the terminal event.
    #[error("connection lost: {0}")]
    Lost(String),
    /// The peer sent something that is not the format of docs/spec.md §3.
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// One thing a job stream carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// An event.
    Event(StreamEvent),
    /// A comment line (`: keep-alive`): the peer is alive, nothing happened.
    KeepAlive,
}

/// Incremental SSE parser over a response body: hyper's `Incoming` in use, any byte body
/// in tests (so the framing can be checked without a server).
pub struct SseReader<B = Incoming> {
    body: B,
    buf: BytesMut,
    silence: Duration,
    event: String,
    data: Vec<String>,
}

impl<B> SseReader<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Display,
{
    /// Wraps a `text/event-stream` body.
    pub fn new(body: B) -> Self {
        Self::with_silence(body, SILENCE_LIMIT)
    }

    /// Wraps a body with a custom silence limit.
    pub fn with_silence(body: B, silence: Duration) -> Self {
        Self {
            body,
            buf: BytesMut::new(),
            silence,
            event: String::new(),
            data: Vec::new(),
        }
    }

    /// The next event. `Ok(None)` if the body ended cleanly between events (which, for a job
    /// stream without a terminal, the caller treats as a lost connection).
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, StreamError> {
        loop {
            match self.next_item().await? {
                Some(Item::Event(event)) => return Ok(Some(event)),
                Some(Item::KeepAlive) => {}
                None => return Ok(None),
            }
        }
    }

    /// The next event or keep-alive comment: for a reader that must show when its peer
    /// proved it was alive (a harness judging the keep-alive rule), not only what it said.
    pub async fn next_item(&mut self) -> Result<Option<Item>, StreamError> {
        loop {
            while let Some(line) = self.take_line()? {
                if let Some(item) = self.on_line(&line)? {
                    return Ok(Some(item));
                }
            }
            let frame = tokio::time::timeout(self.silence, self.body.frame())
                .await
                .map_err(|_| StreamError::Silent(self.silence))?;
            match frame {
                None => return Ok(None),
                Some(Err(e)) => return Err(StreamError::Lost(e.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    fn take_line(&mut self) -> Result<Option<String>, StreamError> {
        let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let mut line = self.buf.split_to(end);
        self.buf.advance(1);
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        String::from_utf8(line.to_vec())
            .map(Some)
            .map_err(|_| StreamError::Protocol("stream is not UTF-8".into()))
    }

    fn on_line(&mut self, line: &str) -> Result<Option<Item>, StreamError> {
        if line.is_empty() {
            if self.data.is_empty() {
                self.event.clear();
                return Ok(None);
            }
            let event = if self.event.is_empty() {
                "message"
            } else {
                &self.event
            };
            let parsed = StreamEvent::from_sse(event, &self.data.join("\n"))
                .map_err(StreamError::Protocol)?;
            self.event.clear();
            self.data.clear();
            return Ok(Some(Item::Event(parsed)));
        }
        if line.starts_with(':') {
            return Ok(Some(Item::KeepAlive)); // a comment: the server's keep-alive
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = value.to_owned(),
            "data" => self.data.push(value.to_owned()),
            _ => {} // id, retry: not needed by a job reader
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Terminal;
    use futures::stream;
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use std::convert::Infallible;

    /// A body delivering `chunks` as separate frames, then ending.
    fn body(
        chunks: &[&[u8]],
    ) -> StreamBody<impl futures::Stream<Item = Result<Frame<Bytes>, Infallible>>> {
        let frames: Vec<_> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        StreamBody::new(stream::iter(frames))
    }

    async fn read_all<B>(mut reader: SseReader<B>) -> Result<Vec<StreamEvent>, StreamError>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Display,
    {
        let mut events = Vec::new();
        while let Some(e) = reader.next().await? {
            events.push(e);
        }
        Ok(events)
    }

    const NARRATION: &str =
        r#"{"seq":0,"job_id":"job-1","actor":"hive","action":"a","human":"h","at_ms":1}"#;

    #[tokio::test]
    async fn crlf_line_endings_read_like_lf() {
        let lf =
            format!(": keep-alive\n\nevent: narration\nid: 0\ndata: {NARRATION}\n\nevent: done\ndata: [DONE]\n\n");
        let crlf = lf.replace('\n', "\r\n");
        let from_lf = read_all(SseReader::new(body(&[lf.as_bytes()])))
            .await
            .unwrap();
        let from_crlf = read_all(SseReader::new(body(&[crlf.as_bytes()])))
            .await
            .unwrap();
        assert_eq!(from_lf.len(), 2, "{from_lf:?}");
        assert_eq!(from_lf.last(), Some(&StreamEvent::Terminal(Terminal::Done)));
        assert_eq!(from_crlf, from_lf);
    }

    #[tokio::test]
    async fn events_split_across_frames_at_any_byte_are_reassembled() {
        let text = format!("event: narration\ndata: {NARRATION}\n\nevent: done\ndata: [DONE]\n\n");
        let whole = read_all(SseReader::new(body(&[text.as_bytes()])))
            .await
            .unwrap();
        for cut in 1..text.len() {
            let (a, b) = text.as_bytes().split_at(cut);
            let split = read_all(SseReader::new(body(&[a, b]))).await.unwrap();
            assert_eq!(split, whole, "split at byte {cut}");
        }
    }

    /// Keep-alive comments are items of their own for a reader that asks for them, and
    /// invisible to one that reads events.
    #[tokio::test]
    async fn keep_alives_are_items_but_not_events() {
        let text =
            format!(": keep-alive\n\nevent: narration\ndata: {NARRATION}\n\n: keep-alive\n\n");
        let mut reader = SseReader::new(body(&[text.as_bytes()]));
        let mut items = Vec::new();
        while let Some(item) = reader.next_item().await.unwrap() {
            items.push(matches!(item, Item::KeepAlive));
        }
        assert_eq!(items, [true, false, true]);
        let events = read_all(SseReader::new(body(&[text.as_bytes()]))).await;
        assert_eq!(events.map(|e| e.len()), Ok(1));
    }

    #[tokio::test]
    async fn bytes_that_are_not_utf8_are_a_protocol_error() {
        let got = read_all(SseReader::new(body(&[b"data: \xff\xfe\n\n"]))).await;
        assert_eq!(
            got,
            Err(StreamError::Protocol("stream is not UTF-8".into()))
        );
    }
}

//! The keeper: the client library that submits a job to a queen (or hive), follows its
//! stream and reports how it ended. The CLI and the simulator's keepers both use it.
//!
//! Outcome is decided by the stream's terminal event only; a stream that ends or goes silent
//! without one is a lost connection, never a success (historical bug 6).

use crate::dial::{Dial, Endpoint};
use crate::event::{StreamEvent, Terminal};
use crate::http_client::{self, error_message};
use crate::ids::JobId;
use crate::sse_reader::{Item, SseReader, StreamError, SILENCE_LIMIT};
use bytes::Bytes;
use http::{Method, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// A created job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// Its id.
    pub job_id: JobId,
    /// The path of its stream.
    pub sse_url: String,
}

/// A request the server refused or could not be sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeeperError {
    /// The server answered with an error status.
    #[error("{status}: {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The server's `error` message.
        message: String,
    },
    /// No connection, or it broke before a reply.
    #[error("cannot reach {0}")]
    Unreachable(String),
    /// The reply was not what the API promises.
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// How following a job ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `done`.
    Done,
    /// `error`, with its message.
    Failed(String),
    /// `cancelled`.
    Cancelled,
    /// The stream ended or went silent without a terminal event.
    Lost(String),
    /// The caller stopped reading (its callback returned [`Flow::Stop`]).
    Detached,
}

impl Outcome {
    /// The CLI exit code: 0 done, 1 error, 2 cancelled, 3 connection lost.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Done | Self::Detached => 0,
            Self::Failed(_) => 1,
            Self::Cancelled => 2,
            Self::Lost(_) => 3,
        }
    }

    /// Short name for transcripts: `done`, `error`, `cancelled`, `lost`, `detached`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed(_) => "error",
            Self::Cancelled => "cancelled",
            Self::Lost(_) => "lost",
            Self::Detached => "detached",
        }
    }
}

/// What a stream showed its reader: an event, or a keep-alive comment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Seen<'a> {
    /// An event.
    Event(&'a StreamEvent),
    /// A `: keep-alive` comment.
    KeepAlive,
}

/// Whether to keep reading a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Drop the stream now (the server cancels the job).
    Stop,
}

/// A client of one queen (or hive) API.
#[derive(Clone)]
pub struct Keeper {
    dial: Arc<dyn Dial>,
    server: Endpoint,
    silence: Duration,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper")
            .field("server", &self.server)
            .finish()
    }
}

impl Keeper {
    /// A keeper talking to `server` through `dial`.
    pub fn new(dial: Arc<dyn Dial>, server: Endpoint) -> Self {
        Self {
            dial,
            server,
            silence: SILENCE_LIMIT,
        }
    }

    /// How this keeper connects (for requests the library does not wrap).
    pub fn dial(&self) -> &dyn Dial {
        self.dial.as_ref()
    }

    /// The server this keeper talks to.
    pub fn server(&self) -> &Endpoint {
        &self.server
    }

    /// Submits an operation (any JSON: the server validates it).
    pub async fn submit(&self, operation: &serde_json::Value) -> Result<Submitted, KeeperError> {
        let body = Bytes::from(operation.to_string());
        let resp = http_client::send(
            self.dial.as_ref(),
            &self.server,
            Method::POST,
            "/v1/jobs",
            Some(body),
        )
        .await
        .map_err(|e| KeeperError::Unreachable(format!("{}: {e}", self.server)))?;
        let status = resp.status;
        let json = resp
            .json()
            .await
            .map_err(|e| KeeperError::Protocol(e.to_string()))?;
        if status != StatusCode::CREATED {
            return Err(KeeperError::Rejected {
                status: status.as_u16(),
                message: error_message(&json),
            });
        }
        let job_id = json
            .get("job_id")
            .and_then(|j| j.as_str())
            .and_then(|j| JobId::parse(j).ok())
            .ok_or_else(|| KeeperError::Protocol(format!("no job_id in {json}")))?;
        let sse_url = json
            .get("sse_url")
            .and_then(|u| u.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("/v1/jobs/{job_id}/stream"));
        Ok(Submitted { job_id, sse_url })
    }

    /// Streams a submitted job, handing every event to `on_event`, until its terminal event,
    /// a lost connection, or `on_event` returning [`Flow::Stop`].
    pub async fn follow(
        &self,
        job: &Submitted,
        mut on_event: impl FnMut(&StreamEvent) -> Flow,
    ) -> Result<Outcome, KeeperError> {
        self.watch(job, |seen| match seen {
            Seen::Event(event) => on_event(event),
            Seen::KeepAlive => Flow::Continue,
        })
        .await
    }

    /// [`Keeper::follow`], also telling `on_seen` of every keep-alive: for a caller that
    /// judges when the server proved it was alive (the simulator's keepers record both).
    pub async fn watch(
        &self,
        job: &Submitted,
        mut on_seen: impl FnMut(Seen<'_>) -> Flow,
    ) -> Result<Outcome, KeeperError> {
        let resp = http_client::send(
            self.dial.as_ref(),
            &self.server,
            Method::GET,
            &job.sse_url,
            None,
        )
        .await
        .map_err(|e| KeeperError::Unreachable(format!("{}: {e}", self.server)))?;
        if resp.status != StatusCode::OK {
            let status = resp.status.as_u16();
            let message = resp
                .json()
                .await
                .map(|j| error_message(&j))
                .unwrap_or_default();
            return Err(KeeperError::Rejected { status, message });
        }
        let mut reader = SseReader::with_silence(resp.body, self.silence);
        loop {
            let event = match reader.next_item().await {
                Ok(Some(Item::Event(event))) => event,
                Ok(Some(Item::KeepAlive)) => {
                    if on_seen(Seen::KeepAlive) == Flow::Stop {
                        return Ok(Outcome::Detached);
                    }
                    continue;
                }
                Ok(None) => {
                    return Ok(Outcome::Lost(
                        "stream ended without a terminal event".into(),
                    ))
                }
                Err(e @ (StreamError::Silent(_) | StreamError::Lost(_))) => {
                    return Ok(Outcome::Lost(e.to_string()))
                }
                Err(e @ StreamError::Protocol(_)) => {
                    return Err(KeeperError::Protocol(e.to_string()))
                }
            };
            let flow = on_seen(Seen::Event(&event));
            if let StreamEvent::Terminal(t) = event {
                return Ok(match t {
                    Terminal::Done => Outcome::Done,
                    Terminal::Error(m) => Outcome::Failed(m),
                    Terminal::Cancelled => Outcome::Cancelled,
                });
            }
            if flow == Flow::Stop {
                return Ok(Outcome::Detached);
            }
        }
    }

    /// Submits and follows.
    pub async fn run(
        &self,
        operation: &serde_json::Value,
        on_event: impl FnMut(&StreamEvent) -> Flow,
    ) -> Result<(Submitted, Outcome), KeeperError> {
        let job = self.submit(operation).await?;
        let outcome = self.follow(&job, on_event).await?;
        Ok((job, outcome))
    }

    /// Cancels a job (DELETE). `Ok` with the server's reply on 200.
    pub async fn cancel(&self, job: &JobId) -> Result<serde_json::Value, KeeperError> {
        let path = format!("/v1/jobs/{job}");
        let resp = http_client::send(
            self.dial.as_ref(),
            &self.server,
            Method::DELETE,
            &path,
            None,
        )
        .await
        .map_err(|e| KeeperError::Unreachable(format!("{}: {e}", self.server)))?;
        let status = resp.status;
        let json = resp
            .json()
            .await
            .map_err(|e| KeeperError::Protocol(e.to_string()))?;
        if status != StatusCode::OK {
            return Err(KeeperError::Rejected {
                status: status.as_u16(),
                message: error_message(&json),
            });
        }
        Ok(json)
    }
}

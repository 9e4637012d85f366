//! The HTTP API of a queen or hive (docs/spec.md §2) and the SSE rendering of a job stream (§3).
//!
//! Handlers are thin: they validate input, call [`Node`], and map each outcome to a status
//! and a JSON body. Every error is a 4xx with `{"error": "..."}` and creates nothing. The
//! server is generic over its listener, so a turmoil listener plugs in unchanged.

use crate::event::{StreamEvent, Terminal};
use crate::hub::{JobReceiver, TakeError};
use crate::ids::JobId;
use crate::node::{CancelError, Node};
use crate::observer::{JobState, Route};
use crate::operation::Operation;
use crate::registry::Job;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures::Stream;
use serde_json::json;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;

/// Largest accepted request body (docs/spec.md §2): larger ones get 413.
pub const MAX_BODY: usize = 64 * 1024;

/// The routes of docs/spec.md §2 for `node`.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/v1/jobs", post(create_job))
        .route("/v1/jobs/{id}/stream", get(stream_job))
        .route("/v1/jobs/{id}", axum::routing::delete(cancel_job))
        .route("/v1/health", get(|| async { Json(json!({"ok": true})) }))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(node)
}

/// Serves `node` on `listener` until `shutdown` resolves: one HTTP/1.1 connection task per
/// accepted connection, spawned through [`crate::spawn`] (so the simulator can keep a
/// host's tasks in an order of its own; `axum::serve` would spawn them itself). Connections
/// still open at shutdown end with the process.
pub async fn serve<L>(
    mut listener: L,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let router = router(node);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return Ok(()),
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        crate::spawn::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(io), service);
            // A client that goes away mid-request is its own business.
            let _ = connection.await;
        });
    }
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

async fn create_job(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("request body is larger than {MAX_BODY} bytes")
            } else {
                rejection.body_text()
            };
            node.refused(Route::Submit, None, status.as_u16());
            return error(status, msg);
        }
    };
    let op = match Operation::from_json(&body) {
        Ok(op) => op,
        Err(e) => {
            node.refused(Route::Submit, None, StatusCode::BAD_REQUEST.as_u16());
            return error(StatusCode::BAD_REQUEST, e);
        }
    };
    match node.create(op) {
        Ok(id) => (
            StatusCode::CREATED,
            Json(json!({ "job_id": id, "sse_url": format!("/v1/jobs/{id}/stream") })),
        )
            .into_response(),
        Err(e) => error(status_of(e.status()), e),
    }
}

/// A status code from a refusal's number (every one the node's errors give is valid).
fn status_of(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

async fn stream_job(State(node): State<Arc<Node>>, Path(raw): Path<String>) -> Response {
    let id = match JobId::parse(&raw) {
        Ok(id) => id,
        Err(e) => {
            node.refused(Route::Stream, Some(raw), StatusCode::BAD_REQUEST.as_u16());
            return error(StatusCode::BAD_REQUEST, e);
        }
    };
    match node.take(&id).await {
        Ok((job, rx)) => Sse::new(job_stream(node.clone(), job, rx))
            .keep_alive(
                KeepAlive::new()
                    .interval(node.keep_alive())
                    .text("keep-alive"),
            )
            .into_response(),
        Err(e) => {
            let status = status_of(e.status());
            let msg = match e {
                TakeError::Unknown => {
                    format!("unknown job '{id}' (never created, expired or finished)")
                }
                TakeError::Taken => format!("the stream of job '{id}' is already taken"),
            };
            error(status, msg)
        }
    }
}

async fn cancel_job(State(node): State<Arc<Node>>, Path(raw): Path<String>) -> Response {
    let id = match JobId::parse(&raw) {
        Ok(id) => id,
        Err(e) => {
            node.refused(Route::Cancel, Some(raw), StatusCode::BAD_REQUEST.as_u16());
            return error(StatusCode::BAD_REQUEST, e);
        }
    };
    match node.cancel(&id).await {
        Ok(()) => Json(json!({ "job_id": id, "state": "cancelled" })).into_response(),
        Err(e @ CancelError::Unknown) => {
            error(status_of(e.status()), format!("unknown job '{id}'"))
        }
        Err(e @ CancelError::Terminal(_)) => {
            error(status_of(e.status()), format!("job '{id}': {e}"))
        }
    }
}

/// Ends the job if the stream is dropped before its terminal event (client disconnect):
/// the job is cancelled, channel and entry removed (historical bug 9).
struct StreamGuard {
    node: Arc<Node>,
    job: Arc<Job>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.node.stream_finished(&self.job);
    }
}

/// The terminal event of a job in `state`: derived from the job's final state, never
/// from narration text or a timer (historical bugs 6, 7, 8).
pub fn terminal_for(state: &JobState) -> Terminal {
    match state {
        JobState::Completed => Terminal::Done,
        JobState::Failed(msg) => Terminal::Error(msg.clone()),
        JobState::Cancelled => Terminal::Cancelled,
        JobState::Expired => Terminal::Error("job expired before it was streamed".into()),
        JobState::Queued | JobState::Running => {
            Terminal::Error("job channel closed before the job ended".into())
        }
    }
}

fn sse(event: &StreamEvent) -> Event {
    let sse = Event::default()
        .event(event.event_name())
        .data(event.data_line());
    match event.seq() {
        Some(seq) => sse.id(seq.to_string()),
        None => sse,
    }
}

fn job_stream(
    node: Arc<Node>,
    job: Arc<Job>,
    rx: JobReceiver,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let guard = StreamGuard { node, job };
    futures::stream::unfold(Some((rx, guard)), |state| async move {
        let (mut rx, guard) = state?;
        match rx.recv().await {
            Some(event) => Some((Ok(sse(&event)), Some((rx, guard)))),
            None => {
                let terminal = StreamEvent::Terminal(terminal_for(&guard.job.state()));
                drop(guard); // removes the job: the terminal is the last thing it does
                Some((Ok(sse(&terminal)), None))
            }
        }
    })
}

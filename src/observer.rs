//! The observer hook: how a harness sees, as it happens, every hub operation and job state
//! change of a process, stamped with the process clock.
//!
//! The simulator's recorder implements [`Observer`]; real processes use [`NoObserver`].
//! Records are structured, so no checker ever parses human log text.

use crate::ids::JobId;
use crate::probe::Probe;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The life-cycle state of a job (docs/spec.md §4).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "message")]
pub enum JobState {
    /// Created, waiting for its stream to be taken.
    Queued,
    /// Its stream was taken and its payload is executing.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error (the message is what the stream's `[ERROR]` carries).
    Failed(String),
    /// Cancelled by a DELETE, a client disconnect or the queen.
    Cancelled,
    /// Never streamed within the TTL; nothing was executed.
    Expired,
}

impl JobState {
    /// Whether the state is final: no transition leaves it.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }

    /// Short lower-case name, as used in JSON replies.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed(_) => "failed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }
}

/// One thing that happened in a process's hub or registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum HubRecord {
    /// A job was registered and its channel created (one step).
    Create {
        /// The new job.
        job: JobId,
        /// The operation name, e.g. `model_list`.
        operation: String,
    },
    /// The job's receiver was taken by a stream request.
    Take {
        /// The job.
        job: JobId,
    },
    /// The job's payload was taken for execution (at most once per job).
    Execute {
        /// The job.
        job: JobId,
    },
    /// An event was accepted into the job's channel.
    Deliver {
        /// The job the event was routed to.
        job: JobId,
        /// Its sequence number.
        seq: u64,
        /// `narration` or `data`.
        kind: String,
        /// The narration action or data action.
        action: String,
        /// What the event says ([`crate::event::narration_fingerprint`],
        /// [`crate::event::data_fingerprint`]): lets a harness tell a relayed copy from an
        /// altered one without recording every line's text.
        fingerprint: u64,
    },
    /// An event named a job that has no channel here; it was counted and dropped.
    DropNoChannel {
        /// The job id the event carried.
        job: JobId,
        /// The narration action.
        action: String,
    },
    /// The job's buffer was full on the synchronous path; the event was dropped.
    DropFull {
        /// The job.
        job: JobId,
        /// The sequence number the dropped event had.
        seq: u64,
        /// The action of the dropped event (a checker tells droppable lines from lost ones).
        action: String,
    },
    /// The job's channel sender was dropped (the stream drains and ends).
    Remove {
        /// The job.
        job: JobId,
    },
    /// The job's state changed.
    State {
        /// The job.
        job: JobId,
        /// The new state.
        state: JobState,
    },
    /// The job's registry entry was removed.
    Forget {
        /// The job.
        job: JobId,
    },
    /// A queen job was forwarded to a hive job (relayed events count for the queen job).
    Forward {
        /// The queen's job.
        job: JobId,
        /// The hive it went to.
        hive: String,
        /// The hive's job id.
        hive_job: JobId,
    },
    /// A rare situation happened (see [`crate::probe`]).
    Probe {
        /// Which.
        probe: Probe,
        /// The job it happened to, if any.
        job: Option<JobId>,
    },
    /// An API request arrived and is about to be decided: everything recorded between it
    /// and its [`HubRecord::Reply`] is what that request did (the two are recorded around
    /// one synchronous step, so no other task's record falls in between on a
    /// single-threaded process). A harness judges the reply against the state before it.
    Request {
        /// Which request.
        route: Route,
        /// The job id as the request named it (the path segment; `None` for a submit).
        job: Option<String>,
    },
    /// The status the request of the preceding [`HubRecord::Request`] got.
    Reply {
        /// Which request.
        route: Route,
        /// The job id: as requested, or the created job's id for a `201`.
        job: Option<String>,
        /// The HTTP status sent.
        status: u16,
    },
}

/// The API requests of docs/spec.md §2 that concern jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// `POST /v1/jobs`.
    Submit,
    /// `GET /v1/jobs/{id}/stream`.
    Stream,
    /// `DELETE /v1/jobs/{id}`.
    Cancel,
}

impl Route {
    /// Stable name, as reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Stream => "stream",
            Self::Cancel => "cancel",
        }
    }
}

/// Receives every [`HubRecord`] of one process, with the process clock in ms.
///
/// Called synchronously on the emitting task and possibly with internal locks held:
/// implementations must be quick and must not call back into the hub.
pub trait Observer: Send + Sync + 'static {
    /// One record, at process time `at_ms`.
    fn record(&self, at_ms: u64, record: HubRecord);

    /// Whether records are wanted at all. When `false` the hub builds none: no clock read,
    /// no allocation on the emit hot path of a real process.
    fn enabled(&self) -> bool {
        true
    }
}

/// The observer of real processes: records nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn record(&self, _: u64, _: HubRecord) {}

    fn enabled(&self) -> bool {
        false
    }
}

/// Shared handle to an observer.
pub type SharedObserver = Arc<dyn Observer>;

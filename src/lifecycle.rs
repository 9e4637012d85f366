//! The job life cycle of one process (docs/spec.md §4) as plain synchronous steps over its hub and
//! registry: register, take, start, finish, close, forget, cancel.
//!
//! No task is spawned and no timer is awaited here. That is the point: every step is a
//! short critical section that another thread may interleave with, so the model checker
//! (`tests/model`) can drive these very functions from several threads and explore the
//! orders in which a stream, an executor, a cancel and an expiry meet. [`crate::node::Node`]
//! strings the steps together with its tasks (the TTL timer, the executor).
//!
//! The orders inside each step are the contract:
//! - [`Lifecycle::register`] creates the channel *before* the job entry, so there is no
//!   moment at which a job exists without a channel (historical bug 3);
//! - [`Lifecycle::conclude`] records the final state *before* it hands out the channel's
//!   close, so a stream that sees its channel end always reads a terminal state (historical
//!   bug 7);
//! - [`Lifecycle::start`] hands the payload out at most once (at-most-once).

use crate::clock::Clock;
use crate::hub::{Body, Hub, JobReceiver, TakeError};
use crate::ids::JobId;
use crate::observer::{HubRecord, JobState, SharedObserver};
use crate::operation::Operation;
use crate::registry::{Job, JobRegistry};
use crate::sync::Arc;

/// Why a job could not be cancelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    /// No such job (404).
    #[error("unknown job")]
    Unknown,
    /// The job already ended (409).
    #[error("job already {0}")]
    Terminal(&'static str),
}

impl CancelError {
    /// The HTTP status of the refusal (docs/spec.md §2).
    pub fn status(&self) -> u16 {
        match self {
            Self::Unknown => 404,
            Self::Terminal(_) => 409,
        }
    }
}

/// The close of an ended job's channel, handed out by [`Lifecycle::conclude`] once the job's
/// final state is recorded.
#[must_use = "a job whose channel is never closed keeps its stream open"]
pub struct Close {
    lifecycle: Lifecycle,
    job: Arc<Job>,
}

impl Close {
    /// The job it closes.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// Closes the channel: the stream drains, sends the terminal and ends.
    pub fn run(self) {
        self.lifecycle.close(&self.job);
    }
}

/// One process's hub and registry, and the steps that move a job through them. Cheap to
/// clone (shared handles).
#[derive(Clone)]
pub struct Lifecycle {
    hub: Hub,
    jobs: JobRegistry,
    observer: SharedObserver,
    clock: Clock,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("hub", &self.hub)
            .field("jobs", &self.jobs)
            .finish()
    }
}

impl Lifecycle {
    /// The life cycle over `hub` and `jobs`, reporting to `observer`.
    pub fn new(hub: Hub, jobs: JobRegistry, observer: SharedObserver, clock: Clock) -> Self {
        Self {
            hub,
            jobs,
            observer,
            clock,
        }
    }

    /// The hub.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The registry.
    pub fn jobs(&self) -> &JobRegistry {
        &self.jobs
    }

    /// Registers job `id` running `op`: its channel first, then its entry, then the
    /// `job_create` line (seq 0) that `actor` narrates while the job waits for its client.
    pub fn register(&self, id: JobId, op: Operation, actor: &str) -> Arc<Job> {
        let name = op.name();
        self.hub.create(&id);
        let job = self.jobs.insert(id.clone(), op);
        if self.observer.enabled() {
            self.observer.record(
                self.clock.now_ms(),
                HubRecord::Create {
                    job: id.clone(),
                    operation: name.to_owned(),
                },
            );
        }
        self.hub.send(
            &id,
            Body::Narration {
                actor: actor.to_owned(),
                action: "job_create".into(),
                human: format!("Job {id} created ({name}), waiting for client"),
                at_ms: self.clock.now_ms(),
            },
        );
        job
    }

    /// Takes the job's single receiver: the stream request's step. It does not start the
    /// job; [`Lifecycle::start`] does, once.
    pub fn take(&self, id: &JobId) -> Result<(Arc<Job>, JobReceiver), TakeError> {
        let job = self.jobs.get(id).ok_or(TakeError::Unknown)?;
        let rx = self.hub.take(id)?;
        Ok((job, rx))
    }

    /// Hands out the job's payload and moves it to `running`; `None` if it is not queued
    /// any more or its payload is gone (a job executes at most once).
    pub fn start(&self, job: &Job) -> Option<Operation> {
        self.jobs.start(job)
    }

    /// Records a terminal state unless the job already has one; returns the state it left.
    fn finish(&self, job: &Job, state: JobState) -> Option<JobState> {
        self.jobs.finish(job, state)
    }

    /// Drops the job's channel sender: its stream drains, sends the terminal and ends. Only
    /// ever after the job's final state is recorded.
    fn close(&self, job: &Job) {
        self.hub.remove(&job.id);
    }

    /// Ends a job whose handler returned, as its executor does: records `state` (unless
    /// the job already ended: a cancel won), and only then hands the channel's close to
    /// `defer`, which may run it later (the node does, through a perturbation point) but
    /// cannot run it first — so a stream that sees its channel end reads a terminal state
    /// (historical bug 7). Returns the state the job left, `None` if it had already ended.
    pub fn conclude(
        &self,
        job: &Arc<Job>,
        state: JobState,
        defer: impl FnOnce(Close),
    ) -> Option<JobState> {
        let left = self.finish(job, state);
        defer(Close {
            lifecycle: self.clone(),
            job: job.clone(),
        });
        left
    }

    /// Ends a job nobody streams (its TTL expired) — only while it is still queued: a
    /// stream that has started it keeps it. Its entry goes at once. Returns whether this
    /// call ended it.
    pub fn end_unstreamed(&self, job: &Job, state: JobState) -> bool {
        let ended = self.jobs.finish_queued(job, state);
        if ended {
            self.close(job);
            self.jobs.remove(&job.id);
        }
        ended
    }

    /// Called by a stream once it has sent the terminal event, or when its client went
    /// away: cancels the job if it is still going, and removes channel and entry. Returns
    /// whether the job was still going (its client disconnected mid-stream).
    pub fn stream_finished(&self, job: &Job) -> bool {
        let cancelled = self.finish(job, JobState::Cancelled).is_some();
        self.close(job);
        self.jobs.remove(&job.id);
        cancelled
    }

    /// Cancels a job (DELETE) and returns the state it left. A queued job is removed at
    /// once; a running job's stream sends `cancelled` and then removes it — at once, or,
    /// for a job that drains ([`Job::drain_on_cancel`]), once its executor has drained.
    pub fn cancel(&self, id: &JobId) -> Result<JobState, CancelError> {
        let job = self.jobs.get(id).ok_or(CancelError::Unknown)?;
        match self.finish(&job, JobState::Cancelled) {
            Some(previous) => {
                // A draining job's executor closes the channel once it has drained.
                if !(previous == JobState::Running && job.drains()) {
                    self.close(&job);
                }
                if previous == JobState::Queued {
                    self.jobs.remove(id);
                }
                Ok(previous)
            }
            None => Err(CancelError::Terminal(job.state().name())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::StreamEvent;
    use crate::observer::NoObserver;

    fn lifecycle() -> Lifecycle {
        let clock = Clock::start();
        let observer: SharedObserver = Arc::new(NoObserver);
        Lifecycle::new(
            Hub::new(16, clock, observer.clone()),
            JobRegistry::new(clock, observer.clone()),
            observer,
            clock,
        )
    }

    /// `{:?}` of a life cycle is what a failing assertion or a log line shows of it: the
    /// hub's live channels and the registry's live jobs.
    #[test]
    fn debug_output_shows_the_live_channels_and_jobs() {
        let lc = lifecycle();
        lc.register(JobId::from_bits(1), Operation::Status {}, "queen");
        let shown = format!("{lc:?}");
        for part in ["Lifecycle", "live_channels: 1", "JobRegistry { live: 1 }"] {
            assert!(shown.contains(part), "{part:?} missing from {shown}");
        }
    }

    #[tokio::test]
    async fn a_registered_job_has_its_channel_and_its_create_line() {
        let lc = lifecycle();
        let id = JobId::from_bits(1);
        lc.register(id.clone(), Operation::Status {}, "queen");
        assert!(lc.hub().contains(&id));
        let (job, mut rx) = lc.take(&id).expect("take");
        assert!(
            matches!(rx.recv().await, Some(StreamEvent::Narration(n)) if n.action == "job_create")
        );
        assert_eq!(lc.start(&job), Some(Operation::Status {}));
        assert_eq!(lc.start(&job), None, "a job executes at most once");
        lc.conclude(&job, JobState::Completed, Close::run);
        assert_eq!(rx.recv().await, None);
        assert_eq!(
            job.state(),
            JobState::Completed,
            "the channel ends after the final state is recorded"
        );
        lc.stream_finished(&job);
        assert_eq!((lc.hub().stats().live_channels, lc.jobs().len()), (0, 0));
    }

    #[tokio::test]
    async fn cancel_removes_a_queued_job_at_once_and_refuses_a_second_time() {
        let lc = lifecycle();
        let id = JobId::from_bits(2);
        lc.register(id.clone(), Operation::Status {}, "queen");
        assert_eq!(lc.cancel(&id), Ok(JobState::Queued));
        assert_eq!((lc.hub().stats().live_channels, lc.jobs().len()), (0, 0));
        assert_eq!(lc.cancel(&id), Err(CancelError::Unknown));
        assert!(matches!(lc.take(&id), Err(TakeError::Unknown)));
    }

    /// A running job cancelled while its stream still drains keeps its entry but not its
    /// channel: a stream request then is for a finished job, `404` (docs/spec.md §2), not
    /// `409` as if the stream were still to be had. No generated keeper asks in that
    /// window (it lasts until the draining stream ends), so this is pinned here.
    #[tokio::test]
    async fn a_stream_request_for_a_cancelled_draining_job_is_404() {
        let lc = lifecycle();
        let id = JobId::from_bits(3);
        lc.register(id.clone(), Operation::Status {}, "queen");
        let (job, _rx) = lc.take(&id).expect("take");
        assert!(lc.start(&job).is_some());
        assert_eq!(lc.cancel(&id), Ok(JobState::Running));
        assert_eq!(lc.jobs().len(), 1, "the entry stays until the stream ends");
        let err = lc.take(&id).err().expect("refused");
        assert!(matches!(err, TakeError::Unknown));
        assert_eq!(err.status(), 404);
    }
}

//! The job registry: one per process, the jobs and their states (docs/spec.md §4).
//!
//! It enforces the state machine `queued → running → completed | failed | cancelled |
//! expired`: a terminal state is final (a late completion cannot overwrite a cancel), and the
//! payload is taken at most once (a job executes at most once). It also holds each job's
//! abort handles, so that cancel and expiry stop the work they name.

use crate::clock::Clock;
use crate::ids::JobId;
use crate::observer::{HubRecord, JobState, SharedObserver};
use crate::operation::Operation;
use crate::perturb::{Perturb, Point};
use crate::sync::{Arc, Mutex, MutexGuard};
use std::collections::BTreeMap;
use tokio::task::AbortHandle;

/// One job's entry.
#[derive(Debug)]
pub struct Job {
    /// The job's id.
    pub id: JobId,
    /// The operation, kept for naming and deadlines after the payload is taken.
    pub operation: Operation,
    inner: Mutex<JobInner>,
}

#[derive(Debug)]
struct JobInner {
    state: JobState,
    payload: Option<Operation>,
    tasks: Vec<AbortHandle>,
    /// Set for a job whose executor finishes a cancel itself ([`Job::drain_on_cancel`]):
    /// told of the cancel instead of being aborted.
    drain: Option<tokio::sync::watch::Sender<bool>>,
}

impl Job {
    fn lock(&self) -> MutexGuard<'_, JobInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The job's current state.
    pub fn state(&self) -> JobState {
        self.lock().state.clone()
    }

    /// Makes a cancel of this running job a request to its executor rather than an abort:
    /// the job becomes `cancelled` at once (a late completion still cannot overwrite it),
    /// the returned receiver turns `true`, and the executor keeps the job's channel open
    /// until it has finished what it must (the queen's relay: until the hive confirms the
    /// cancel, so that a hive job that committed first shows its commit line before the
    /// queen's `cancelled`, docs/spec.md §9 `semantics`). `None` if the job already ended.
    pub fn drain_on_cancel(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        let mut inner = self.lock();
        if inner.state.is_terminal() {
            return None;
        }
        let (tx, rx) = tokio::sync::watch::channel(false);
        inner.drain = Some(tx);
        Some(rx)
    }

    /// Whether a cancel of this job is left to its executor ([`Job::drain_on_cancel`]).
    pub fn drains(&self) -> bool {
        self.lock().drain.is_some()
    }

    /// Registers a task that belongs to the job (its executor, its TTL timer), so that a
    /// cancel or expiry can abort it. A task registered after the job ended is aborted now.
    pub fn attach(&self, task: AbortHandle) {
        let mut inner = self.lock();
        if inner.state.is_terminal() {
            task.abort();
        } else {
            inner.tasks.push(task);
        }
    }
}

/// The per-process job table. Cheap to clone (shared handle).
#[derive(Clone)]
pub struct JobRegistry {
    jobs: Arc<Mutex<BTreeMap<JobId, Arc<Job>>>>,
    clock: Clock,
    observer: SharedObserver,
    perturb: Perturb,
}

impl std::fmt::Debug for JobRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRegistry")
            .field("live", &self.len())
            .finish()
    }
}

impl JobRegistry {
    /// An empty registry reporting to `observer`.
    pub fn new(clock: Clock, observer: SharedObserver) -> Self {
        Self {
            jobs: Arc::default(),
            clock,
            observer,
            perturb: Perturb::off(),
        }
    }

    /// The same registry with perturbation: the aborts of an ended job's tasks may lag
    /// ([`Point::AbortLag`]), as they do for a task running on another worker thread.
    pub fn with_perturb(mut self, perturb: Perturb) -> Self {
        self.perturb = perturb;
        self
    }

    fn table(&self) -> MutexGuard<'_, BTreeMap<JobId, Arc<Job>>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, record: HubRecord) {
        self.observer.record(self.clock.now_ms(), record);
    }

    /// Registers a queued job holding `operation` as its payload.
    pub fn insert(&self, id: JobId, operation: Operation) -> Arc<Job> {
        let job = Arc::new(Job {
            id: id.clone(),
            operation: operation.clone(),
            inner: Mutex::new(JobInner {
                state: JobState::Queued,
                payload: Some(operation),
                tasks: Vec::new(),
                drain: None,
            }),
        });
        self.table().insert(id.clone(), job.clone());
        self.record(HubRecord::State {
            job: id,
            state: JobState::Queued,
        });
        job
    }

    /// Looks a job up.
    pub fn get(&self, id: &JobId) -> Option<Arc<Job>> {
        self.table().get(id).cloned()
    }

    /// Takes the payload and moves the job to `running`. `None` if the job is not queued or
    /// its payload is gone: a job executes at most once.
    pub fn start(&self, job: &Job) -> Option<Operation> {
        let mut inner = job.lock();
        if inner.state != JobState::Queued {
            return None;
        }
        let payload = inner.payload.take()?;
        inner.state = JobState::Running;
        // The TTL timer is no longer needed once the stream is taken.
        for t in inner.tasks.drain(..) {
            t.abort();
        }
        drop(inner);
        self.record(HubRecord::Execute {
            job: job.id.clone(),
        });
        self.record(HubRecord::State {
            job: job.id.clone(),
            state: JobState::Running,
        });
        Some(payload)
    }

    /// Moves the job to a terminal `state` unless it is already terminal, aborting its
    /// remaining tasks. Returns the state it left, or `None` if the job had already ended.
    pub fn finish(&self, job: &Job, state: JobState) -> Option<JobState> {
        self.finish_from(job, state, |from| !from.is_terminal())
    }

    /// Moves the job to a terminal `state` only if it is still *queued* (nobody took its
    /// stream): an expiry. Checked under the job's lock, so a stream that starts the job at
    /// the same moment wins or loses as a whole — a timer that fired as the job started
    /// must not end a running job. Returns whether it did.
    pub fn finish_queued(&self, job: &Job, state: JobState) -> bool {
        self.finish_from(job, state, |from| *from == JobState::Queued)
            .is_some()
    }

    fn finish_from(
        &self,
        job: &Job,
        state: JobState,
        leaves: impl FnOnce(&JobState) -> bool,
    ) -> Option<JobState> {
        debug_assert!(state.is_terminal());
        let mut inner = job.lock();
        if !leaves(&inner.state) {
            return None;
        }
        let previous = std::mem::replace(&mut inner.state, state.clone());
        inner.payload = None;
        // A draining job's executor is told of a cancel and ends the job itself.
        let told = state == JobState::Cancelled
            && inner
                .drain
                .as_ref()
                .is_some_and(|drain| drain.send(true).is_ok());
        let tasks = if told {
            Vec::new()
        } else {
            std::mem::take(&mut inner.tasks)
        };
        drop(inner);
        self.record(HubRecord::State {
            job: job.id.clone(),
            state,
        });
        self.perturb.defer(Point::AbortLag, move || {
            for t in tasks {
                t.abort();
            }
        });
        Some(previous)
    }

    /// Removes the job's entry. Returns whether it was present.
    pub fn remove(&self, id: &JobId) -> bool {
        let removed = self.table().remove(id).is_some();
        if removed {
            self.record(HubRecord::Forget { job: id.clone() });
        }
        removed
    }

    /// Number of jobs currently registered.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// Whether no job is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::NoObserver;

    fn registry() -> JobRegistry {
        JobRegistry::new(Clock::start(), Arc::new(NoObserver))
    }

    #[tokio::test]
    async fn the_payload_is_taken_once() {
        let reg = registry();
        let job = reg.insert(JobId::from_bits(1), Operation::Status {});
        assert_eq!(reg.start(&job), Some(Operation::Status {}));
        assert_eq!(reg.start(&job), None);
        assert_eq!(job.state(), JobState::Running);
    }

    #[tokio::test]
    async fn a_late_completion_cannot_overwrite_a_cancel() {
        let reg = registry();
        let job = reg.insert(JobId::from_bits(1), Operation::Status {});
        reg.start(&job);
        assert_eq!(
            reg.finish(&job, JobState::Cancelled),
            Some(JobState::Running)
        );
        assert_eq!(reg.finish(&job, JobState::Completed), None);
        assert_eq!(job.state(), JobState::Cancelled);
    }

    /// An expiry ends a queued job and nothing else: once the stream has started the job,
    /// a TTL timer that fired a moment too late changes nothing.
    #[tokio::test]
    async fn an_expiry_ends_only_a_queued_job() {
        let reg = registry();
        let queued = reg.insert(JobId::from_bits(1), Operation::Status {});
        assert!(reg.finish_queued(&queued, JobState::Expired));
        assert_eq!(queued.state(), JobState::Expired);
        let running = reg.insert(JobId::from_bits(2), Operation::Status {});
        reg.start(&running);
        assert!(!reg.finish_queued(&running, JobState::Expired));
        assert_eq!(running.state(), JobState::Running);
    }

    #[tokio::test]
    async fn a_cancelled_queued_job_never_starts() {
        let reg = registry();
        let job = reg.insert(JobId::from_bits(1), Operation::Status {});
        reg.finish(&job, JobState::Cancelled);
        assert_eq!(reg.start(&job), None);
    }

    #[tokio::test]
    async fn finishing_aborts_attached_tasks_and_late_tasks_are_aborted_at_once() {
        let reg = registry();
        let job = reg.insert(JobId::from_bits(1), Operation::Status {});
        let t = tokio::spawn(std::future::pending::<()>());
        job.attach(t.abort_handle());
        reg.finish(&job, JobState::Cancelled);
        assert!(t.await.unwrap_err().is_cancelled());
        let late = tokio::spawn(std::future::pending::<()>());
        job.attach(late.abort_handle());
        assert!(late.await.unwrap_err().is_cancelled());
    }

    /// A draining job's executor is told of a cancel, not aborted; the cancel is final.
    #[tokio::test]
    async fn a_draining_job_is_told_of_its_cancel_instead_of_aborted() {
        let reg = registry();
        let job = reg.insert(JobId::from_bits(1), Operation::Status {});
        reg.start(&job);
        let mut told = job.drain_on_cancel().expect("a running job drains");
        let executor = tokio::spawn(async move { told.wait_for(|c| *c).await.map(|_| ()).is_ok() });
        job.attach(executor.abort_handle());
        assert_eq!(
            reg.finish(&job, JobState::Cancelled),
            Some(JobState::Running)
        );
        assert!(executor.await.expect("not aborted"), "told of the cancel");
        assert_eq!(reg.finish(&job, JobState::Completed), None);
        assert_eq!(job.state(), JobState::Cancelled);
        assert!(
            job.drain_on_cancel().is_none(),
            "an ended job does not start draining"
        );
    }

    #[test]
    fn len_and_is_empty_follow_insert_and_remove() {
        let reg = registry();
        assert!(reg.is_empty());
        assert_eq!(reg.len(), 0);
        let id = JobId::from_bits(1);
        reg.insert(id.clone(), Operation::Status {});
        assert!(!reg.is_empty());
        assert_eq!(reg.len(), 1);
        assert!(reg.remove(&id));
        assert!(!reg.remove(&id), "a second remove finds nothing");
        assert!(reg.is_empty());
    }
}

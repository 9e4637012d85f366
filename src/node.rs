//! One process of the system — a queen or a hive — and its job life cycle (docs/spec.md §4).
//!
//! A [`Node`] owns the process's hub, registry, clock, id source, observer and role. It is
//! the single place where a job moves through create → take → execute → remove, so cleanup
//! is tied to job completion, never to the scope of an HTTP handler (historical bug 1).

use crate::clock::Clock;
use crate::context::{self, NarrationContext};
use crate::dial::{Dial, Endpoint};
use crate::hive::Hive;
use crate::hub::{Body, Hub, TakeError};
use crate::ids::{IdGen, JobId};
use crate::lifecycle::Lifecycle;
use crate::nw;
use crate::observer::{HubRecord, JobState, NoObserver, Route, SharedObserver};
use crate::operation::Operation;
use crate::perturb::{Perturb, Point};
use crate::probe::Probe;
use crate::registry::{Job, JobRegistry};
use futures::FutureExt;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

pub use crate::event::QUEEN_ACTOR;
pub use crate::lifecycle::CancelError;

/// How a queen reaches a hive.
#[derive(Clone, Debug)]
pub enum HiveTarget {
    /// Distributed mode: a hive process at this address.
    Remote(Endpoint),
    /// Integrated mode: the hive's handlers run inside the queen process.
    Local(Arc<Hive>),
}

/// What a process is.
#[derive(Clone, Debug)]
pub enum Role {
    /// A queen and the hives it knows, by name (sorted: status output is deterministic).
    Queen(BTreeMap<String, HiveTarget>),
    /// A hive.
    Hive(Arc<Hive>),
}

impl Role {
    fn actor(&self) -> &'static str {
        match self {
            Self::Queen(_) => QUEEN_ACTOR,
            Self::Hive(_) => crate::hive::ACTOR,
        }
    }
}

/// Everything a node needs from its surroundings: injected, so the same node runs on real
/// sockets, on tokio's test clock and inside turmoil.
#[derive(Clone)]
pub struct NodeConfig {
    /// The role.
    pub role: Role,
    /// Job id source.
    pub ids: IdGen,
    /// Outgoing connections (the queen's relay).
    pub dial: Arc<dyn Dial>,
    /// Receives every hub and registry record.
    pub observer: SharedObserver,
    /// How long a never-streamed job lives.
    pub ttl: Duration,
    /// Interval of `: keep-alive` comments on idle streams.
    pub keep_alive: Duration,
    /// Buffer of each job channel; `None` takes the role's default (1,000 queen, 10,000 hive).
    pub capacity: Option<usize>,
    /// In-process perturbation points ([`crate::perturb`]); off outside the simulator.
    pub perturb: Perturb,
    /// How long the process had been up when the node started: its clock (`at_ms`) starts
    /// there ([`Clock::with_uptime`]). 0 for a real process; a simulator gives its hives
    /// other values than the queen's, as processes started at different times have.
    pub uptime_ms: u64,
}

impl NodeConfig {
    /// Defaults of docs/spec.md §3-4 for `role`: OS ids, real TCP, no observer, 60 s TTL, 5 s
    /// keep-alive, the role's buffer size.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            ids: IdGen::Os,
            dial: Arc::new(crate::dial::TcpDial),
            observer: Arc::new(NoObserver),
            ttl: Duration::from_secs(60),
            keep_alive: Duration::from_secs(5),
            capacity: None,
            perturb: Perturb::off(),
            uptime_ms: 0,
        }
    }
}

/// Why a job was not created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    /// The operation names a hive this process does not know (404).
    #[error("unknown hive '{0}'")]
    UnknownHive(String),
    /// The operation cannot run here (400).
    #[error("{0}")]
    Invalid(String),
}

impl CreateError {
    /// The HTTP status of the refusal (docs/spec.md §2).
    pub fn status(&self) -> u16 {
        match self {
            Self::UnknownHive(_) => 404,
            Self::Invalid(_) => 400,
        }
    }
}

/// One queen or hive process.
pub struct Node {
    role: Role,
    jobs: Lifecycle,
    clock: Clock,
    ids: IdGen,
    dial: Arc<dyn Dial>,
    observer: SharedObserver,
    ttl: Duration,
    keep_alive: Duration,
    perturb: Perturb,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("role", &self.role)
            .field("hub", self.jobs.hub())
            .field("jobs", self.jobs.jobs())
            .finish()
    }
}

/// How the failure message of a job whose handler panicked begins: the simulator's
/// no-panic invariant looks for it in recorded job states.
pub const HANDLER_PANICKED: &str = "internal error: the job's handler panicked";

/// The text of a panic payload (`panic!` with a literal gives `&str`, with a format string
/// `String`); `None` for any other payload. Shared with the simulator, which records the
/// panics of whole hosts.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

/// Runs a job's handler to its terminal state. A handler that panics ends its job `failed`
/// with an internal-error message instead of taking the job's task down silently: without
/// this the job would stay `running` with its channel open, and its client would wait on
/// keep-alives forever (a hang is worse than an error, docs/spec.md §2).
async fn outcome(handler: impl Future<Output = Result<(), String>>) -> JobState {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(Ok(())) => JobState::Completed,
        Ok(Err(msg)) => JobState::Failed(msg),
        Err(panic) => {
            let why = panic_message(panic.as_ref()).unwrap_or_else(|| "unknown cause".to_owned());
            tracing::error!(%why, "job handler panicked");
            JobState::Failed(format!("{HANDLER_PANICKED} ({why})"))
        }
    }
}

impl Node {
    /// Starts a node; its clock starts now. Must be called inside a tokio runtime.
    pub fn new(config: NodeConfig) -> Arc<Self> {
        let clock = Clock::with_uptime(config.uptime_ms);
        let capacity = config.capacity.unwrap_or(match config.role {
            Role::Queen(_) => crate::hub::QUEEN_CAPACITY,
            Role::Hive(_) => crate::hub::HIVE_CAPACITY,
        });
        Arc::new(Self {
            jobs: Lifecycle::new(
                Hub::new(capacity, clock, config.observer.clone()),
                JobRegistry::new(clock, config.observer.clone())
                    .with_perturb(config.perturb.clone()),
                config.observer.clone(),
                clock,
            ),
            perturb: config.perturb,
            role: config.role,
            clock,
            ids: config.ids,
            dial: config.dial,
            observer: config.observer,
            ttl: config.ttl,
            keep_alive: config.keep_alive,
        })
    }

    /// The process's hub (tests read its counters).
    pub fn hub(&self) -> &Hub {
        self.jobs.hub()
    }

    /// The process's job registry.
    pub fn jobs(&self) -> &JobRegistry {
        self.jobs.jobs()
    }

    /// The process clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Keep-alive interval of this node's streams.
    pub fn keep_alive(&self) -> Duration {
        self.keep_alive
    }

    /// The role.
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// Reports the record `make` builds, if the observer wants records (a real process
    /// builds none).
    pub(crate) fn record(&self, make: impl FnOnce() -> HubRecord) {
        if self.observer.enabled() {
            self.observer.record(self.clock.now_ms(), make());
        }
    }

    fn check_target(&self, op: &Operation) -> Result<(), CreateError> {
        match (&self.role, op.hive_id()) {
            (Role::Queen(_), None) => Ok(()),
            (Role::Queen(hives), Some(h)) if hives.contains_key(h) => Ok(()),
            (Role::Hive(hive), Some(h)) if hive.name() == h => Ok(()),
            (Role::Hive(_), None) => Err(CreateError::Invalid(format!(
                "operation '{}' runs on the queen, not on a hive",
                op.name()
            ))),
            (_, Some(h)) => Err(CreateError::UnknownHive(h.to_owned())),
        }
    }

    /// Registers a job and creates its channel in one step (there is no moment at which the
    /// job exists without a channel), and arms its TTL. Nothing is created on error.
    pub fn create(self: &Arc<Self>, op: Operation) -> Result<JobId, CreateError> {
        self.record(|| HubRecord::Request {
            route: Route::Submit,
            job: None,
        });
        let created = self.create_job(op);
        self.record(|| HubRecord::Reply {
            route: Route::Submit,
            job: created.as_ref().ok().map(ToString::to_string),
            status: created.as_ref().map_or_else(CreateError::status, |_| 201),
        });
        created
    }

    fn create_job(self: &Arc<Self>, op: Operation) -> Result<JobId, CreateError> {
        self.check_target(&op)?;
        let id = self.ids.next_id();
        let job = self.jobs.register(id.clone(), op, self.role.actor());
        let node = self.clone();
        let ttl = self.ttl;
        let timer = crate::spawn::spawn({
            let job = job.clone();
            async move {
                node.perturb.sleep(ttl).await;
                if node.jobs.end_unstreamed(&job, JobState::Expired) {
                    node.probe(Probe::TtlExpired, &job.id);
                    node.straggle(&job.id);
                }
            }
        });
        job.attach(timer.abort_handle());
        if self.perturb.at(Point::Stray).is_some() {
            if let Some(bits) = self.perturb.bits() {
                self.late_line(
                    &JobId::from_bits(bits),
                    "a line for a job this process never created",
                );
            }
        }
        Ok(id)
    }

    /// Takes the job's receiver and starts execution. The caller (the stream) then owns
    /// the job's end: it sends the terminal event and calls [`Node::stream_finished`].
    pub async fn take(
        self: &Arc<Self>,
        id: &JobId,
    ) -> Result<(Arc<Job>, crate::hub::JobReceiver), TakeError> {
        self.record(|| HubRecord::Request {
            route: Route::Stream,
            job: Some(id.to_string()),
        });
        let taken = self.jobs.take(id);
        self.record(|| HubRecord::Reply {
            route: Route::Stream,
            job: Some(id.to_string()),
            status: taken.as_ref().map_or_else(|e| e.status(), |_| 200),
        });
        let (job, rx) = taken?;
        self.perturb.pause(Point::TakeStart).await;
        match self.jobs.start(&job) {
            Some(op) => {
                let node = self.clone();
                let task = crate::spawn::spawn({
                    let job = job.clone();
                    async move { node.execute(job, op).await }
                });
                job.attach(task.abort_handle());
            }
            // The job ended (cancel, expiry) between take and start: it never executes, and
            // its stream sends the terminal of that end.
            None => self.probe(Probe::ExecuteRefused, id),
        }
        Ok((job, rx))
    }

    async fn execute(self: Arc<Self>, job: Arc<Job>, op: Operation) {
        let ctx = NarrationContext::new(
            job.id.clone(),
            self.jobs.hub().clone(),
            self.clock,
            self.perturb.clone(),
        );
        // A forwarded job drains a cancel: its relay asks the hive to cancel and relays
        // until the hive's marker, so the stream shows everything the hive committed. A job
        // that ended before its executor first ran (a cancel between `start` and this task's
        // first poll, whose abort may lag) does not start its handler: a forward would make
        // its effect on a hive whose stream nobody shows (local handlers are held back by
        // their commit points anyway).
        let cancelled = if self.forwards(&op) {
            job.drain_on_cancel()
        } else {
            None
        };
        let state = if job.state().is_terminal() || (self.forwards(&op) && cancelled.is_none()) {
            self.probe(Probe::ExecuteRefused, &job.id);
            JobState::Cancelled
        } else {
            outcome(context::scope(ctx, self.run(&op, cancelled))).await
        };
        let node = self.clone();
        let left = self.jobs.conclude(&job, state, |close| {
            // From a task of its own: finishing aborted this one, and the close must happen.
            self.perturb.defer(Point::FinishClose, move || {
                let id = close.job().id.clone();
                close.run();
                node.straggle(&id);
            });
        });
        if left.is_none() && job.state() == JobState::Cancelled {
            self.probe(Probe::CompletionAfterCancel, &job.id);
        }
    }

    /// Whether this process forwards `op` to a hive process (distributed mode).
    fn forwards(&self, op: &Operation) -> bool {
        match (&self.role, op.hive_id()) {
            (Role::Queen(hives), Some(name)) => {
                matches!(hives.get(name), Some(HiveTarget::Remote(_)))
            }
            _ => false,
        }
    }

    async fn run(
        &self,
        op: &Operation,
        cancelled: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> Result<(), String> {
        match &self.role {
            Role::Hive(hive) => hive.execute(op).await,
            Role::Queen(hives) => match op.hive_id() {
                None => {
                    for (name, target) in hives {
                        match target {
                            HiveTarget::Remote(ep) => {
                                nw!(QUEEN_ACTOR, "status_hive", "hive '{name}': remote at {ep}")
                            }
                            HiveTarget::Local(_) => {
                                nw!(
                                    QUEEN_ACTOR,
                                    "status_hive",
                                    "hive '{name}': local (integrated)"
                                )
                            }
                        };
                    }
                    nw!(
                        QUEEN_ACTOR,
                        "status_summary",
                        "{} hive(s) known",
                        hives.len()
                    );
                    Ok(())
                }
                Some(name) => match hives.get(name) {
                    Some(HiveTarget::Local(hive)) => hive.execute(op).await,
                    Some(HiveTarget::Remote(ep)) => {
                        crate::relay::forward(&self.dial, name, ep, op, cancelled).await
                    }
                    None => Err(format!("unknown hive '{name}'")),
                },
            },
        }
    }

    /// Records a request the server refused before it reached this node (a malformed id, a
    /// body too large or not an operation): [`HubRecord::Request`] and its
    /// [`HubRecord::Reply`], with nothing in between, since nothing changed.
    pub fn refused(&self, route: Route, job: Option<String>, status: u16) {
        self.record(|| HubRecord::Request {
            route,
            job: job.clone(),
        });
        self.record(|| HubRecord::Reply { route, job, status });
    }

    /// Called by a stream once it has sent the terminal event, or when its client went
    /// away: cancels the job if it is still going, and removes channel and entry.
    pub fn stream_finished(&self, job: &Job) {
        if self.jobs.stream_finished(job) {
            self.probe(Probe::ClientDisconnect, &job.id);
            self.straggle(&job.id);
        }
    }

    /// Cancels a job (DELETE). A queued job is removed at once; a running job's stream
    /// sends `cancelled` and then removes it.
    pub async fn cancel(&self, id: &JobId) -> Result<(), CancelError> {
        self.perturb.pause(Point::Cancel).await;
        self.record(|| HubRecord::Request {
            route: Route::Cancel,
            job: Some(id.to_string()),
        });
        let cancelled = self.jobs.cancel(id);
        self.record(|| HubRecord::Reply {
            route: Route::Cancel,
            job: Some(id.to_string()),
            status: cancelled.as_ref().map_or_else(CancelError::status, |_| 200),
        });
        match cancelled {
            Ok(previous) => {
                if previous == JobState::Queued {
                    self.probe(Probe::CancelQueued, id);
                }
                self.straggle(id);
                Ok(())
            }
            Err(e @ CancelError::Terminal("completed" | "failed")) => {
                self.probe(Probe::CancelAfterCompletion, id);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    fn probe(&self, probe: Probe, job: &JobId) {
        self.jobs.hub().probe(probe, Some(job));
    }

    /// The [`Point::Straggler`] perturbation: one more line for a job whose channel is gone
    /// (a cancelled job that drains still has its channel: no straggler then).
    fn straggle(&self, id: &JobId) {
        if !self.jobs.hub().contains(id) && self.perturb.at(Point::Straggler).is_some() {
            self.late_line(id, "a late line for a job that has ended");
        }
    }

    /// Sends a perturbation's line for `id` on the synchronous path: with no channel for
    /// `id`, the hub must drop and count it (docs/spec.md §4.3).
    fn late_line(&self, id: &JobId, human: &str) {
        self.jobs.hub().send(
            id,
            Body::Narration {
                actor: self.role.actor().to_owned(),
                action: "straggler".into(),
                human: human.to_owned(),
                at_ms: self.clock.now_ms(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_handler_result_becomes_the_jobs_terminal_state() {
        assert_eq!(outcome(async { Ok(()) }).await, JobState::Completed);
        assert_eq!(
            outcome(async { Err("model not found".to_owned()) }).await,
            JobState::Failed("model not found".into())
        );
    }

    #[tokio::test]
    async fn a_panicking_handler_fails_its_job_instead_of_leaving_it_running() {
        let state = outcome(async {
            let spawned: u32 = std::hint::black_box(0);
            if spawned == 0 {
                panic!("worker count underflow");
            }
            Ok(())
        })
        .await;
        assert_eq!(
            state,
            JobState::Failed(
                "internal error: the job's handler panicked (worker count underflow)".into()
            )
        );
    }

    /// `{:?}` of a node is what a failing test or a log line shows of it: its role and how
    /// many channels and jobs it holds.
    #[tokio::test]
    async fn debug_output_shows_the_role_and_the_live_channels_and_jobs() {
        let hive = Arc::new(Hive::new("hive-a", ["tinyllama".to_owned()]));
        let node = Node::new(NodeConfig::new(Role::Hive(hive)));
        node.create(Operation::ModelList {
            hive_id: "hive-a".into(),
        })
        .expect("create");
        let shown = format!("{node:?}");
        for part in [
            "Node",
            "hive-a",
            "live_channels: 1",
            "JobRegistry { live: 1 }",
        ] {
            assert!(shown.contains(part), "{part:?} missing from {shown}");
        }
    }
}

//! One execution of the model: the threads that meet on one process's hub and registry, and
//! what each of them saw.
//!
//! Every thread calls the real [`rbee::lifecycle::Lifecycle`] steps in the order the real
//! callers do ([`rbee::node::Node`] and [`rbee::server`]'s stream); only the tokio tasks
//! around them are replaced by shuttle threads, so shuttle chooses where they interleave.
//! Job J is the one everything races on; job K lives on the same hub to catch cross-talk.

use rbee::clock::Clock;
use rbee::event::{StreamEvent, Terminal};
use rbee::hub::{Body, Hub, Sent, TakeError};
use rbee::ids::JobId;
use rbee::lifecycle::{CancelError, Lifecycle};
use rbee::observer::{HubRecord, JobState, Observer, SharedObserver};
use rbee::operation::Operation;
use rbee::registry::{Job, JobRegistry};
use rbee::server::terminal_for;
use shuttle::future::block_on;
use shuttle::sync::mpsc;
use shuttle::thread::{self, JoinHandle};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The job every thread races on.
pub fn job_j() -> JobId {
    JobId::from_bits(0x1)
}

/// Buffer of the model's channels: small, so that the synchronous path drops (and the
/// stream must say `lagged`) and the waiting path waits for the reader, under every
/// interleaving of the two with the reader and with the channel's removal.
pub const CAPACITY: usize = 2;

/// The other job on the same hub: none of its events may reach J's stream, nor J's its.
pub fn job_k() -> JobId {
    JobId::from_bits(0x2)
}

/// Everything the hub and registry reported, in the order they reported it: the history a
/// failure message shows next to shuttle's schedule.
///
/// Its lock is `std`'s on purpose: recording adds no scheduling point, so the observer does
/// not change which interleavings the checker explores (nothing in the critical section can
/// yield to another shuttle thread).
#[derive(Default)]
pub struct History(Mutex<Vec<HubRecord>>);

impl Observer for History {
    fn record(&self, _at_ms: u64, record: HubRecord) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
    }
}

impl History {
    /// The sequence numbers the hub accepted into `job`'s channel (`Deliver` records: the
    /// event was queued, so a stream holding the receiver must read it).
    pub fn delivered(&self, job: &JobId) -> Vec<u64> {
        self.seqs(job, |r| match r {
            HubRecord::Deliver { job, seq, .. } => Some((job, *seq)),
            _ => None,
        })
    }

    /// The sequence numbers the hub dropped from `job`'s full buffer (`DropFull` records: the
    /// stream must announce each as part of a `lagged` gap).
    pub fn dropped(&self, job: &JobId) -> Vec<u64> {
        self.seqs(job, |r| match r {
            HubRecord::DropFull { job, seq, .. } => Some((job, *seq)),
            _ => None,
        })
    }

    fn seqs(&self, job: &JobId, pick: impl Fn(&HubRecord) -> Option<(&JobId, u64)>) -> Vec<u64> {
        let mut seqs: Vec<u64> = self
            .records()
            .iter()
            .filter_map(|r| pick(r).filter(|(j, _)| *j == job).map(|(_, seq)| seq))
            .collect();
        // The waiting path records after releasing the channel's lock, so records may be
        // out of `seq` order.
        seqs.sort_unstable();
        seqs
    }

    /// A copy of every record so far.
    pub fn records(&self) -> Vec<HubRecord> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What one stream request saw, from its take to its terminal.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSeen {
    /// The answer of its last take: `Ok` when it got the receiver.
    pub take: Result<(), TakeError>,
    /// For a refused take: J's state looked up right after the refusal (`None`: J's entry
    /// was gone), which tells a refusal of a live job from one of a job that was ending.
    pub after_refusal: Option<JobState>,
    /// Whether its `start` handed out the payload (it then spawned the executor).
    pub started: bool,
    /// Every event it read, in order.
    pub events: Vec<StreamEvent>,
    /// The job's state read once `recv` returned `None`.
    pub state_at_end: Option<JobState>,
    /// The terminal event the stream sends, derived from that state by
    /// `server::terminal_for`, exactly as `server::job_stream` does.
    pub terminal: Option<Terminal>,
}

impl StreamSeen {
    fn refused(take: TakeError, after_refusal: Option<JobState>) -> Self {
        Self {
            take: Err(take),
            after_refusal,
            started: false,
            events: Vec::new(),
            state_at_end: None,
            terminal: None,
        }
    }
}

/// What one execution produced, read once every thread has finished.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The stream requests for J (the client's, which retries an early "unknown", and a
    /// duplicate request).
    pub streams_j: Vec<StreamSeen>,
    /// The stream of K.
    pub stream_k: StreamSeen,
    /// Sequence numbers the hub accepted into J's channel, ascending.
    pub delivered_j: Vec<u64>,
    /// Sequence numbers the hub accepted into K's channel, ascending.
    pub delivered_k: Vec<u64>,
    /// Sequence numbers the hub dropped from J's full buffer, ascending.
    pub dropped_j: Vec<u64>,
    /// Sequence numbers the hub dropped from K's full buffer, ascending.
    pub dropped_k: Vec<u64>,
    /// What each executor's send on the waiting path (`send_wait`) answered.
    pub waiting_sends: Vec<Sent>,
    /// The answer to the DELETE of J.
    pub cancel: Result<JobState, CancelError>,
    /// Whether J's TTL timer expired it.
    pub expired: bool,
    /// J's state once everything is over.
    pub final_j: JobState,
    /// Whether J's executor drained its cancel (a forwarded job's executor does).
    pub drains: bool,
    /// K's state once everything is over.
    pub final_k: JobState,
    /// Channels left in the hub.
    pub live_channels: usize,
    /// Jobs left in the registry.
    pub live_jobs: usize,
    /// Who owns the relay's submit reply once its two sides are done.
    pub handoff: crate::handoff::Owners,
}

fn line(action: &str) -> Body {
    Body::Narration {
        actor: "model".into(),
        action: action.into(),
        human: action.into(),
        at_ms: 0,
    }
}

/// The job's executor, as `Node::execute`: it narrates two lines on the synchronous path
/// (which drops when the buffer is full) and one on the waiting path (bulk output, which
/// waits for the reader instead), then concludes the job `completed` with
/// `Lifecycle::conclude` — the node's own call: the final state first, then the close,
/// which the node may defer (its `FinishClose` perturbation point), so here a thread of its
/// own runs it. A job that `drains` asks for its cancel to be left to it at its start, as
/// the node's executor of a forwarded job does; a cancel then closes nothing and this
/// executor's close is the only one. Returns what the waiting send answered.
fn execute(lc: &Lifecycle, job: &Arc<Job>, drains: bool) -> Sent {
    let told = if drains { job.drain_on_cancel() } else { None };
    lc.hub().send(&job.id, line("work"));
    lc.hub().send(&job.id, line("more_work"));
    let waited = block_on(lc.hub().send_wait(&job.id, line("bulk")));
    if let Some(told) = told {
        // A draining executor goes on after a cancel, to its end (the relay: until the
        // hive's marker); it only notes whether it was told.
        let _cancelled = *told.borrow();
    }
    let mut closer = None;
    lc.conclude(job, JobState::Completed, |close| {
        closer = Some(thread::spawn(move || close.run()));
    });
    if let Some(closer) = closer {
        closer.join().expect("the deferred close");
    }
    waited
}

/// A stream request (`GET /v1/jobs/{id}/stream`): `Node::take` (take, then `start`, which
/// spawns the executor if it hands out the payload), then `server::job_stream` (drain, read
/// the state for the terminal, `stream_finished`). An "unknown" answer is retried up to
/// `attempts` times, as a client racing the job's creation would.
fn stream(
    lc: &Lifecycle,
    id: &JobId,
    attempts: usize,
    drains: bool,
) -> (StreamSeen, Option<JoinHandle<Sent>>) {
    let mut answer = lc.take(id);
    for _ in 1..attempts {
        if !matches!(answer, Err(TakeError::Unknown)) {
            break;
        }
        thread::yield_now();
        answer = lc.take(id);
    }
    let (job, mut rx) = match answer {
        Ok(taken) => taken,
        Err(e) => {
            let after = lc.jobs().get(id).map(|job| job.state());
            return (StreamSeen::refused(e, after), None);
        }
    };
    let executor = lc.start(&job).map(|_payload| {
        let (lc, job) = (lc.clone(), job.clone());
        thread::spawn(move || execute(&lc, &job, drains))
    });
    let mut events = Vec::new();
    while let Some(event) = block_on(rx.recv()) {
        events.push(event);
        // Writing the event to the client is an await point of the real stream: other
        // tasks may run before it reads the next one. A plain scheduling point (shuttle's
        // `sleep` does not model time): `yield_now` would also tell PCT that this thread
        // spins, and PCT would then starve the stream behind every other thread.
        thread::sleep(Duration::ZERO);
    }
    let state = job.state();
    let terminal = terminal_for(&state);
    lc.stream_finished(&job);
    let seen = StreamSeen {
        take: Ok(()),
        after_refusal: None,
        started: executor.is_some(),
        events,
        state_at_end: Some(state),
        terminal: Some(terminal),
    };
    (seen, executor)
}

/// A lifecycle over a fresh hub and registry, both reporting to `history`.
fn lifecycle(history: &Arc<History>) -> Lifecycle {
    let clock = Clock::start();
    let observer: SharedObserver = history.clone();
    Lifecycle::new(
        Hub::new(CAPACITY, clock, observer.clone()),
        JobRegistry::new(clock, observer.clone()),
        observer,
        clock,
    )
}

/// Runs one execution: every thread, joined; returns what happened and the history. Job J
/// drains its cancels (as a forwarded job's executor does) in half the executions, by a
/// choice shuttle makes and records in the schedule (so a printed schedule replays it).
///
/// - **A** registers J (channel, entry, `job_create` line), arms J's TTL timer (hands the
///   job to D, as `Node::create` spawns the timer) and narrates one more line before anyone
///   streams it;
/// - **B** is J's client: it takes the stream (retrying "unknown" while J may not exist
///   yet), starts J (spawning the executor **E**), drains (yielding after each event, as
///   the real stream does while it writes it), reads the state, finishes;
/// - **B2** is a duplicate stream request for J: one take, which must lose to B or find J
///   gone;
/// - **C** cancels J (`DELETE`), once;
/// - **D** is J's TTL timer firing: if J is still queued when the timer's task is polled (a
///   `start` aborts the timer, so a timer that sees `running` never runs), it ends J
///   `expired` with `end_unstreamed`;
/// - **F** runs job K through its whole life on the same hub (register, take, start with
///   its own executor, drain, finish);
/// - **G** and **H** are the relay's submit hand-off (`rbee::handoff`): the submit task gives
///   the hive's reply while the forward takes it or goes away (`crate::handoff`).
///
/// The buffer holds [`CAPACITY`] events, so J's two lines sent before anyone reads fill it.
pub fn run() -> (Outcome, Vec<HubRecord>) {
    use shuttle::rand::RngCore;
    let drains = shuttle::rand::thread_rng().next_u64() % 2 == 0;
    let history = Arc::new(History::default());
    let lc = lifecycle(&history);
    let (j, k) = (job_j(), job_k());
    let (ttl_tx, ttl_rx) = mpsc::channel::<Arc<Job>>();
    let handoff = crate::handoff::start();

    let a = {
        let lc = lc.clone();
        let j = j.clone();
        thread::spawn(move || {
            let job = lc.register(j.clone(), Operation::Status {}, "queen");
            ttl_tx.send(job.clone()).expect("the timer thread is alive");
            lc.hub().send(&j, line("before_take"));
            job
        })
    };
    let b = {
        let (lc, j) = (lc.clone(), j.clone());
        thread::spawn(move || stream(&lc, &j, 3, drains))
    };
    let b2 = {
        let (lc, j) = (lc.clone(), j.clone());
        thread::spawn(move || stream(&lc, &j, 1, drains))
    };
    let c = {
        let (lc, j) = (lc.clone(), j.clone());
        thread::spawn(move || lc.cancel(&j))
    };
    let d = {
        let lc = lc.clone();
        thread::spawn(move || {
            let job = ttl_rx.recv().expect("A arms the timer");
            job.state() == JobState::Queued && lc.end_unstreamed(&job, JobState::Expired)
        })
    };
    let f = {
        let (lc, k) = (lc.clone(), k.clone());
        thread::spawn(move || {
            let job = lc.register(k.clone(), Operation::Status {}, "queen");
            let (seen, executor) = stream(&lc, &k, 1, false);
            let waited = executor.map(|e| e.join().expect("K's executor"));
            (job, seen, waited)
        })
    };

    let job = a.join().expect("A");
    let mut streams_j = Vec::new();
    let mut waiting_sends = Vec::new();
    for s in [b, b2] {
        let (seen, executor) = s.join().expect("stream of J");
        waiting_sends.extend(executor.map(|e| e.join().expect("J's executor")));
        streams_j.push(seen);
    }
    let cancel = c.join().expect("C");
    let expired = d.join().expect("D");
    let (job_k, stream_k, waited_k) = f.join().expect("F");
    waiting_sends.extend(waited_k);

    let outcome = Outcome {
        streams_j,
        stream_k,
        delivered_j: history.delivered(&j),
        delivered_k: history.delivered(&k),
        dropped_j: history.dropped(&j),
        dropped_k: history.dropped(&k),
        waiting_sends,
        cancel,
        expired,
        final_j: job.state(),
        drains,
        final_k: job_k.state(),
        live_channels: lc.hub().stats().live_channels,
        live_jobs: lc.jobs().len(),
        handoff: handoff(),
    };
    (outcome, history.records())
}

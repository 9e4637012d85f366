//! The narration hub: one per process, the registry of job-scoped channels (docs/spec.md §4).
//!
//! It owns the four channel operations — create, take, send, remove — and nothing else:
//! job states live in [`crate::registry`], routing by narration context in
//! [`crate::context`]. Each channel is a bounded `mpsc` queue with a per-job sequence
//! counter; the counter is advanced under the channel's lock together with the enqueue, so
//! queue order is `seq` order, and a reader can tell from a gap in `seq` exactly how many
//! events were dropped (which it reports as `lagged`).

use crate::clock::Clock;
use crate::event::{Data, Lagged, Narration, StreamEvent};
use crate::ids::JobId;
use crate::observer::{HubRecord, SharedObserver};
use crate::probe::Probe;
use crate::sync::{Arc, AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering};
use std::collections::BTreeMap;
use tokio::sync::mpsc;

/// Buffer of a queen's job channels (docs/spec.md §4).
pub const QUEEN_CAPACITY: usize = 1_000;
/// Buffer of a hive's job channels: hives emit bulk output such as build logs.
pub const HIVE_CAPACITY: usize = 10_000;

/// What an event says, before the hub stamps it with the job id and sequence number.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// A narration line.
    Narration {
        /// Who narrates.
        actor: String,
        /// Machine-readable step name.
        action: String,
        /// Plain text.
        human: String,
        /// Process clock at emission.
        at_ms: u64,
    },
    /// A structured payload.
    Data {
        /// What the payload is.
        action: String,
        /// The payload.
        payload: serde_json::Value,
    },
}

impl Body {
    fn kind(&self) -> &'static str {
        match self {
            Self::Narration { .. } => "narration",
            Self::Data { .. } => "data",
        }
    }

    fn action(&self) -> &str {
        match self {
            Self::Narration { action, .. } | Self::Data { action, .. } => action,
        }
    }

    /// What the event says, as [`crate::event::StreamEvent::fingerprint`] has it.
    fn fingerprint(&self) -> u64 {
        match self {
            Self::Narration {
                actor,
                action,
                human,
                ..
            } => crate::event::narration_fingerprint(actor, action, human),
            Self::Data { action, payload } => crate::event::data_fingerprint(action, payload),
        }
    }

    fn into_event(self, job_id: JobId, seq: u64) -> StreamEvent {
        match self {
            Self::Narration {
                actor,
                action,
                human,
                at_ms,
            } => StreamEvent::Narration(Narration {
                seq,
                job_id,
                actor,
                action,
                human,
                at_ms,
            }),
            Self::Data { action, payload } => StreamEvent::Data(Data {
                seq,
                job_id,
                action,
                payload,
            }),
        }
    }
}

/// What a `Deliver` record says of an event, taken before the event moves into the channel.
struct Delivered {
    kind: &'static str,
    action: String,
    fingerprint: u64,
}

impl Delivered {
    fn of(body: &Body) -> Self {
        Self {
            kind: body.kind(),
            action: body.action().to_owned(),
            fingerprint: body.fingerprint(),
        }
    }
}

/// What happened to one sent event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Queued on the job's channel with this sequence number.
    Delivered(u64),
    /// The job has no channel (never created, removed, or its reader is gone): counted.
    NoChannel,
    /// The buffer was full on the synchronous path: counted, reported as `lagged`.
    Full,
}

/// How a [`Hub::commit`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Commit<E> {
    /// The effect happened and its line is in the job's channel.
    Done,
    /// The effect refused (it changed nothing) with this error.
    Refused(E),
    /// The job's channel was gone (cancelled, client gone): the effect did not run.
    Ended,
}

/// Why a stream could not take a job's receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TakeError {
    /// No channel for that id (never created, expired or finished).
    #[error("unknown job")]
    Unknown,
    /// The receiver was already taken by an earlier stream request.
    #[error("stream already taken")]
    Taken,
}

impl TakeError {
    /// The HTTP status of the refusal (docs/spec.md §2): the server answers with it and a harness
    /// judges it, from this one mapping.
    pub fn status(self) -> u16 {
        match self {
            Self::Unknown => 404,
            Self::Taken => 409,
        }
    }
}

/// Counters a test or benchmark can read at any time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Channels currently registered.
    pub live_channels: usize,
    /// Events accepted into a channel since start.
    pub delivered: u64,
    /// Events for a job without a channel since start.
    pub dropped_no_channel: u64,
    /// Events dropped because a buffer was full since start.
    pub dropped_full: u64,
}

struct ChannelState {
    tx: Option<mpsc::Sender<(u64, Body)>>,
    rx: Option<mpsc::Receiver<(u64, Body)>>,
    next_seq: u64,
}

struct Channel {
    state: Mutex<ChannelState>,
    /// Whether a backpressure wait was already probed for this job (once per job).
    waited: AtomicBool,
}

impl Channel {
    fn lock(&self) -> MutexGuard<'_, ChannelState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Inner {
    capacity: usize,
    clock: Clock,
    observer: SharedObserver,
    channels: Mutex<BTreeMap<JobId, Arc<Channel>>>,
    delivered: AtomicU64,
    dropped_no_channel: AtomicU64,
    dropped_full: AtomicU64,
}

/// The per-process registry of job channels. Cheap to clone (shared handle).
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("stats", &self.stats()).finish()
    }
}

impl Hub {
    /// A hub whose channels buffer `capacity` events, reporting to `observer`.
    pub fn new(capacity: usize, clock: Clock, observer: SharedObserver) -> Self {
        Self {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                clock,
                observer,
                channels: Mutex::new(BTreeMap::new()),
                delivered: AtomicU64::new(0),
                dropped_no_channel: AtomicU64::new(0),
                dropped_full: AtomicU64::new(0),
            }),
        }
    }

    /// Reports a record built by `make` to the process's observer, stamped with the process
    /// clock, only if the observer wants records. Job code reaches the observer this way,
    /// through its narration context, without holding the node.
    pub(crate) fn record(&self, make: impl FnOnce() -> HubRecord) {
        let observer = &self.inner.observer;
        if observer.enabled() {
            observer.record(self.inner.clock.now_ms(), make());
        }
    }

    fn channels(&self) -> MutexGuard<'_, BTreeMap<JobId, Arc<Channel>>> {
        self.inner
            .channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn channel(&self, job: &JobId) -> Option<Arc<Channel>> {
        self.channels().get(job).cloned()
    }

    /// Creates the job's channel. Returns `false` (and changes nothing) if one exists.
    pub fn create(&self, job: &JobId) -> bool {
        let (tx, rx) = mpsc::channel(self.inner.capacity);
        let mut channels = self.channels();
        if channels.contains_key(job) {
            return false;
        }
        let state = ChannelState {
            tx: Some(tx),
            rx: Some(rx),
            next_seq: 0,
        };
        channels.insert(
            job.clone(),
            Arc::new(Channel {
                state: Mutex::new(state),
                waited: AtomicBool::new(false),
            }),
        );
        true
    }

    /// Takes the job's single receiver. A second take gets [`TakeError::Taken`].
    pub fn take(&self, job: &JobId) -> Result<JobReceiver, TakeError> {
        let channel = self.channel(job).ok_or(TakeError::Unknown)?;
        let rx = {
            let mut state = channel.lock();
            // Removed between the lookup and this lock (a cancel, an expiry on another
            // thread): the job is gone, which is 404, not "already taken".
            if state.tx.is_none() {
                return Err(TakeError::Unknown);
            }
            state.rx.take().ok_or(TakeError::Taken)?
        };
        self.record(|| HubRecord::Take { job: job.clone() });
        Ok(JobReceiver {
            job: job.clone(),
            rx,
            channel,
            expected: 0,
            pending: None,
            closed: false,
        })
    }

    /// Sends on the synchronous path: never waits; a full buffer drops the event (the
    /// reader will see a `lagged` event for it).
    pub fn send(&self, job: &JobId, body: Body) -> Sent {
        let Some(channel) = self.channel(job) else {
            return self.no_channel(job, &body);
        };
        let mut state = channel.lock();
        let Some(tx) = state.tx.as_ref() else {
            drop(state);
            return self.no_channel(job, &body);
        };
        let seq = state.next_seq;
        let record = self.inner.observer.enabled().then(|| Delivered::of(&body));
        match tx.try_send((seq, body)) {
            Ok(()) => {
                state.next_seq += 1;
                self.delivered(job, seq, record);
                Sent::Delivered(seq)
            }
            Err(mpsc::error::TrySendError::Full((_, body))) => {
                state.next_seq += 1;
                drop(state);
                self.inner.dropped_full.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(job_id = %job, seq, action = body.action(), "job buffer full: narration dropped");
                self.record(|| HubRecord::DropFull {
                    job: job.clone(),
                    seq,
                    action: body.action().to_owned(),
                });
                Sent::Full
            }
            Err(mpsc::error::TrySendError::Closed((_, body))) => {
                drop(state);
                self.no_channel(job, &body)
            }
        }
    }

    /// Sends on the asynchronous path: waits for buffer space (backpressure), so nothing
    /// is lost while the reader is connected. Used by the queen's relay and bulk output.
    pub async fn send_wait(&self, job: &JobId, body: Body) -> Sent {
        let Some((channel, permit)) = self.reserve(job).await else {
            return self.no_channel(job, &body);
        };
        let mut state = channel.lock();
        if state.tx.is_none() {
            // Removed while we waited: the job is over, this event belongs to no stream.
            drop(state);
            return self.no_channel(job, &body);
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        let record = self.inner.observer.enabled().then(|| Delivered::of(&body));
        permit.send((seq, body));
        drop(state);
        self.delivered(job, seq, record);
        Sent::Delivered(seq)
    }

    /// Waits for space in the job's buffer and holds it: `None` if the job has no channel
    /// (or loses it while waiting).
    async fn reserve(&self, job: &JobId) -> Option<(Arc<Channel>, mpsc::OwnedPermit<(u64, Body)>)> {
        let channel = self.channel(job)?;
        let tx = channel.lock().tx.clone()?;
        // Polled once by hand: a reservation that is not ready at once is a wait for
        // space, probed (once per job) before it is awaited.
        let mut reserve = std::pin::pin!(tx.reserve_owned());
        let reserved = match futures::poll!(reserve.as_mut()) {
            std::task::Poll::Ready(reserved) => reserved,
            std::task::Poll::Pending => {
                if !channel.waited.swap(true, Ordering::Relaxed) {
                    self.probe(Probe::BackpressureWait, Some(job));
                }
                reserve.await
            }
        };
        Some((channel, reserved.ok()?))
    }

    /// An operation's commit point (docs/spec.md §9 `semantics`): applies `effect` and delivers the
    /// line it returns as one step, so that a stream shows the line if and only if the
    /// effect happened. It waits for buffer space first (the line is never dropped); then,
    /// under the channel's lock, a channel already closed (the job was cancelled, its
    /// client left) refuses the commit *before* the effect runs, and a channel that is open
    /// cannot close until the line is in it. `effect` returns the line, or refuses with an
    /// error and changes nothing; it must be quick (it holds the channel's lock).
    pub async fn commit<E>(
        &self,
        job: &JobId,
        effect: impl FnOnce() -> Result<Body, E>,
    ) -> Commit<E> {
        let Some((channel, permit)) = self.reserve(job).await else {
            self.probe(Probe::CommitRefused, Some(job));
            return Commit::Ended;
        };
        let mut state = channel.lock();
        if state.tx.is_none() {
            drop(state);
            self.probe(Probe::CommitRefused, Some(job));
            return Commit::Ended;
        }
        let body = match effect() {
            Ok(body) => body,
            Err(e) => return Commit::Refused(e),
        };
        let seq = state.next_seq;
        state.next_seq += 1;
        let record = self.inner.observer.enabled().then(|| Delivered::of(&body));
        permit.send((seq, body));
        drop(state);
        self.delivered(job, seq, record);
        Commit::Done
    }

    /// Counts a delivery; `record` describes the event when the observer wants records.
    fn delivered(&self, job: &JobId, seq: u64, record: Option<Delivered>) {
        self.inner.delivered.fetch_add(1, Ordering::Relaxed);
        if let Some(d) = record {
            self.record(|| HubRecord::Deliver {
                job: job.clone(),
                seq,
                kind: d.kind.to_owned(),
                action: d.action,
                fingerprint: d.fingerprint,
            });
        }
    }

    fn no_channel(&self, job: &JobId, body: &Body) -> Sent {
        self.inner
            .dropped_no_channel
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(job_id = %job, action = body.action(), "narration for a job without a channel dropped");
        self.record(|| HubRecord::DropNoChannel {
            job: job.clone(),
            action: body.action().to_owned(),
        });
        Sent::NoChannel
    }

    /// Records that `probe` happened (to `job`), if the observer wants records.
    pub fn probe(&self, probe: Probe, job: Option<&JobId>) {
        self.record(|| HubRecord::Probe {
            probe,
            job: job.cloned(),
        });
    }

    /// Removes the job's channel and drops its sender: the reader drains what is
    /// buffered and then sees the end. Returns whether a channel was removed.
    pub fn remove(&self, job: &JobId) -> bool {
        let Some(channel) = self.channels().remove(job) else {
            return false;
        };
        let mut state = channel.lock();
        state.tx = None;
        state.rx = None;
        drop(state);
        self.record(|| HubRecord::Remove { job: job.clone() });
        true
    }

    /// Whether the job has a channel.
    pub fn contains(&self, job: &JobId) -> bool {
        self.channels().contains_key(job)
    }

    /// Current counters.
    pub fn stats(&self) -> HubStats {
        HubStats {
            live_channels: self.channels().len(),
            delivered: self.inner.delivered.load(Ordering::Relaxed),
            dropped_no_channel: self.inner.dropped_no_channel.load(Ordering::Relaxed),
            dropped_full: self.inner.dropped_full.load(Ordering::Relaxed),
        }
    }
}

/// The reading end of one job's channel, held by the job's stream.
///
/// It turns gaps in `seq` into `lagged` events: before the next delivered event, and once
/// more at the end if the last events were dropped.
pub struct JobReceiver {
    job: JobId,
    rx: mpsc::Receiver<(u64, Body)>,
    channel: Arc<Channel>,
    expected: u64,
    pending: Option<(u64, Body)>,
    closed: bool,
}

impl JobReceiver {
    /// The job this receiver reads.
    pub fn job(&self) -> &JobId {
        &self.job
    }

    /// Next event, or `None` once the sender is dropped and everything is drained.
    pub async fn recv(&mut self) -> Option<StreamEvent> {
        let (seq, body) = match self.pending.take() {
            Some(item) => item,
            None if self.closed => return None,
            None => match self.rx.recv().await {
                Some(item) => item,
                None => {
                    self.closed = true;
                    let emitted = self.channel.lock().next_seq;
                    return self.gap_until(emitted);
                }
            },
        };
        if let Some(lagged) = self.gap_until(seq) {
            self.pending = Some((seq, body));
            return Some(lagged);
        }
        self.expected = seq + 1;
        Some(body.into_event(self.job.clone(), seq))
    }

    fn gap_until(&mut self, seq: u64) -> Option<StreamEvent> {
        (seq > self.expected).then(|| {
            let dropped = seq - self.expected;
            self.expected = seq;
            StreamEvent::Lagged(Lagged { dropped })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::NoObserver;

    fn hub(capacity: usize) -> Hub {
        Hub::new(capacity, Clock::start(), Arc::new(NoObserver))
    }

    fn line(action: &str) -> Body {
        Body::Narration {
            actor: "test".into(),
            action: action.into(),
            human: action.into(),
            at_ms: 0,
        }
    }

    /// Sends one line per action on the synchronous path; what happened to each.
    fn send_lines(hub: &Hub, job: &JobId, actions: &[&str]) -> Vec<Sent> {
        actions.iter().map(|a| hub.send(job, line(a))).collect()
    }

    fn action_of(e: &StreamEvent) -> String {
        match e {
            StreamEvent::Narration(n) => n.action.clone(),
            other => format!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn events_sent_before_take_are_buffered_and_delivered_in_order() {
        let hub = hub(10);
        let job = JobId::from_bits(1);
        assert!(hub.create(&job));
        assert_eq!(hub.send(&job, line("a")), Sent::Delivered(0));
        assert_eq!(hub.send(&job, line("b")), Sent::Delivered(1));
        let mut rx = hub.take(&job).unwrap();
        assert!(hub.remove(&job));
        assert_eq!(action_of(&rx.recv().await.unwrap()), "a");
        assert_eq!(action_of(&rx.recv().await.unwrap()), "b");
        assert_eq!(rx.recv().await, None);
        assert_eq!(hub.stats().live_channels, 0);
    }

    #[tokio::test]
    async fn channels_are_job_scoped() {
        let hub = hub(10);
        let (a, b) = (JobId::from_bits(1), JobId::from_bits(2));
        hub.create(&a);
        hub.create(&b);
        hub.send(&a, line("for-a"));
        hub.send(&b, line("for-b"));
        hub.remove(&a);
        hub.remove(&b);
        // Removed channels can no longer be taken; take before removal to read.
        assert_eq!(hub.take(&a).err(), Some(TakeError::Unknown));
        let (c, d) = (JobId::from_bits(3), JobId::from_bits(4));
        hub.create(&c);
        hub.create(&d);
        let (mut rc, mut rd) = (hub.take(&c).unwrap(), hub.take(&d).unwrap());
        hub.send(&d, line("for-d"));
        hub.send(&c, line("for-c"));
        hub.remove(&c);
        hub.remove(&d);
        let e = rc.recv().await.unwrap();
        assert!(matches!(&e, StreamEvent::Narration(n) if n.job_id == c && n.action == "for-c"));
        assert_eq!(rc.recv().await, None);
        let e = rd.recv().await.unwrap();
        assert!(matches!(&e, StreamEvent::Narration(n) if n.job_id == d && n.action == "for-d"));
        assert_eq!(rd.recv().await, None);
    }

    /// A send for a job without a channel — never created, or removed — is dropped and
    /// counted, whatever channels live around its id: it reaches neither the next nor the
    /// previous job in id order (an ordered lookup that takes the nearest key would).
    #[tokio::test]
    async fn a_send_without_a_channel_never_reaches_a_neighbouring_job() {
        let hub = hub(10);
        let ids: Vec<JobId> = (1..=5).map(JobId::from_bits).collect();
        for live in [&ids[0], &ids[2], &ids[4]] {
            hub.create(live);
        }
        let mut readers: Vec<JobReceiver> = [&ids[0], &ids[2], &ids[4]]
            .into_iter()
            .map(|id| hub.take(id).unwrap())
            .collect();
        hub.create(&ids[3]);
        hub.remove(&ids[3]);
        let never_created = &ids[1];
        let removed = &ids[3];
        assert_eq!(hub.send(never_created, line("stray")), Sent::NoChannel);
        assert_eq!(hub.send(removed, line("late")), Sent::NoChannel);
        assert_eq!(hub.send_wait(removed, line("late")).await, Sent::NoChannel);
        assert_eq!(hub.stats().dropped_no_channel, 3);
        assert_eq!(hub.stats().delivered, 0);
        for id in [&ids[0], &ids[2], &ids[4]] {
            hub.remove(id);
        }
        for rx in &mut readers {
            assert_eq!(rx.recv().await, None, "job {} got a line", rx.job());
        }
    }

    #[test]
    fn take_is_single_and_unknown_is_refused() {
        let hub = hub(10);
        let job = JobId::from_bits(1);
        assert_eq!(hub.take(&job).err(), Some(TakeError::Unknown));
        hub.create(&job);
        assert!(!hub.create(&job), "a second create changes nothing");
        assert!(hub.take(&job).is_ok());
        assert_eq!(hub.take(&job).err(), Some(TakeError::Taken));
    }

    #[tokio::test]
    async fn full_buffer_on_the_sync_path_is_reported_as_lagged() {
        let hub = hub(2);
        let job = JobId::from_bits(1);
        hub.create(&job);
        let sent = send_lines(&hub, &job, &["a", "b", "c", "d"]);
        assert_eq!(
            sent,
            [
                Sent::Delivered(0),
                Sent::Delivered(1),
                Sent::Full,
                Sent::Full
            ]
        );
        let mut rx = hub.take(&job).unwrap();
        assert_eq!(action_of(&rx.recv().await.unwrap()), "a");
        assert_eq!(hub.send(&job, line("e")), Sent::Delivered(4));
        assert_eq!(action_of(&rx.recv().await.unwrap()), "b");
        assert_eq!(hub.send(&job, line("f")), Sent::Delivered(5));
        assert_eq!(hub.send(&job, line("g")), Sent::Full); // the last event is lost
        hub.remove(&job);
        assert_eq!(
            rx.recv().await,
            Some(StreamEvent::Lagged(Lagged { dropped: 2 }))
        );
        assert_eq!(action_of(&rx.recv().await.unwrap()), "e");
        assert_eq!(action_of(&rx.recv().await.unwrap()), "f");
        assert_eq!(
            rx.recv().await,
            Some(StreamEvent::Lagged(Lagged { dropped: 1 }))
        );
        assert_eq!(rx.recv().await, None);
        assert_eq!(hub.stats().dropped_full, 3);
    }

    #[tokio::test]
    async fn the_async_path_waits_for_space_instead_of_dropping() {
        let hub = hub(2);
        let job = JobId::from_bits(1);
        hub.create(&job);
        let mut rx = hub.take(&job).unwrap();
        let producer = {
            let hub = hub.clone();
            let job = job.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    assert_eq!(
                        hub.send_wait(&job, line(&i.to_string())).await,
                        Sent::Delivered(i)
                    );
                }
                hub.remove(&job);
            })
        };
        let mut got = Vec::new();
        while let Some(e) = rx.recv().await {
            got.push(e.seq().unwrap());
        }
        producer.await.unwrap();
        assert_eq!(got, (0..50).collect::<Vec<_>>());
        assert_eq!(hub.stats().dropped_full, 0);
    }

    #[tracing_test::traced_test]
    #[test]
    fn an_event_for_a_job_without_channel_is_dropped_counted_and_logged() {
        let hub = hub(10);
        let ghost = JobId::from_bits(0xdead);
        assert_eq!(hub.send(&ghost, line("lost")), Sent::NoChannel);
        assert_eq!(hub.stats().dropped_no_channel, 1);
        assert!(logs_contain(
            "narration for a job without a channel dropped"
        ));
        assert!(logs_contain(&format!("job_id={ghost}")));
        // A removed channel counts the same way.
        let job = JobId::from_bits(1);
        hub.create(&job);
        hub.remove(&job);
        assert_eq!(hub.send(&job, line("late")), Sent::NoChannel);
        assert_eq!(hub.stats().dropped_no_channel, 2);
    }

    /// Records everything, like the simulator's recorder (whose checkers rely on them).
    #[derive(Default)]
    struct Log(Mutex<Vec<HubRecord>>);

    impl crate::observer::Observer for Log {
        fn record(&self, _at_ms: u64, record: HubRecord) {
            self.0.lock().unwrap().push(record);
        }
    }

    #[tokio::test]
    async fn the_observer_sees_every_channel_operation_with_its_job_seq_kind_and_action() {
        let log = Arc::new(Log::default());
        let hub = Hub::new(1, Clock::start(), log.clone());
        let (job, ghost) = (JobId::from_bits(1), JobId::from_bits(2));
        hub.create(&job);
        assert_eq!(hub.send(&job, line("first")), Sent::Delivered(0));
        assert_eq!(hub.send(&job, line("overflow")), Sent::Full);
        let mut rx = hub.take(&job).unwrap();
        rx.recv().await.unwrap();
        let data = Body::Data {
            action: "token".into(),
            payload: serde_json::json!({"token": "hi"}),
        };
        assert_eq!(hub.send_wait(&job, data).await, Sent::Delivered(2));
        assert_eq!(hub.send(&ghost, line("lost")), Sent::NoChannel);
        hub.remove(&job);
        let deliver = |seq, kind: &str, action: &str, fingerprint| HubRecord::Deliver {
            job: job.clone(),
            seq,
            kind: kind.into(),
            action: action.into(),
            fingerprint,
        };
        let first = crate::event::narration_fingerprint("test", "first", "first");
        let token = crate::event::data_fingerprint("token", &serde_json::json!({"token": "hi"}));
        assert_eq!(
            *log.0.lock().unwrap(),
            [
                deliver(0, "narration", "first", first),
                HubRecord::DropFull {
                    job: job.clone(),
                    seq: 1,
                    action: "overflow".into(),
                },
                HubRecord::Take { job: job.clone() },
                deliver(2, "data", "token", token),
                HubRecord::DropNoChannel {
                    job: ghost.clone(),
                    action: "lost".into()
                },
                HubRecord::Remove { job: job.clone() },
            ]
        );
    }

    /// The backpressure probe marks the first wait for space of each job, and only a real
    /// wait: a send that finds space records nothing, a second wait adds nothing.
    #[tokio::test]
    async fn a_wait_for_buffer_space_is_probed_once_per_job() {
        let log = Arc::new(Log::default());
        let hub = Hub::new(1, Clock::start(), log.clone());
        let job = JobId::from_bits(1);
        hub.create(&job);
        let mut rx = hub.take(&job).unwrap();
        let probes = || -> Vec<HubRecord> {
            log.0
                .lock()
                .unwrap()
                .iter()
                .filter(|r| matches!(r, HubRecord::Probe { .. }))
                .cloned()
                .collect()
        };
        assert_eq!(hub.send_wait(&job, line("fits")).await, Sent::Delivered(0));
        assert_eq!(probes(), []);
        let once = [HubRecord::Probe {
            probe: Probe::BackpressureWait,
            job: Some(job.clone()),
        }];
        // Each send finds the one slot taken and waits until the reader frees it.
        for (text, seq) in [("waits", 1), ("waits again", 2)] {
            let waiting = {
                let (hub, job) = (hub.clone(), job.clone());
                tokio::spawn(async move { hub.send_wait(&job, line(text)).await })
            };
            tokio::task::yield_now().await;
            assert!(!waiting.is_finished(), "{text}: the send did not wait");
            rx.recv().await.unwrap();
            assert_eq!(waiting.await.unwrap(), Sent::Delivered(seq));
            assert_eq!(probes(), once, "after the send that {text}");
        }
    }

    #[tokio::test]
    async fn lagged_counts_exactly_the_events_dropped_since_the_last_delivered_one() {
        let hub = hub(1);
        let job = JobId::from_bits(1);
        hub.create(&job);
        let sent = send_lines(&hub, &job, &["a", "b", "c", "d"]);
        assert_eq!(
            sent,
            [Sent::Delivered(0), Sent::Full, Sent::Full, Sent::Full]
        );
        let mut rx = hub.take(&job).unwrap();
        assert_eq!(action_of(&rx.recv().await.unwrap()), "a");
        assert_eq!(hub.send(&job, line("e")), Sent::Delivered(4));
        hub.remove(&job);
        assert_eq!(
            rx.recv().await,
            Some(StreamEvent::Lagged(Lagged { dropped: 3 }))
        );
        assert_eq!(action_of(&rx.recv().await.unwrap()), "e");
        assert_eq!(rx.recv().await, None);
    }

    #[test]
    fn contains_tells_whether_a_job_has_a_channel() {
        let hub = hub(10);
        let job = JobId::from_bits(1);
        assert!(!hub.contains(&job));
        hub.create(&job);
        assert!(hub.contains(&job));
        hub.remove(&job);
        assert!(!hub.contains(&job));
    }
}

//! The harness: real queen and hive nodes on ephemeral loopback ports, keepers for them,
//! raw HTTP helpers, and the checks every job stream must pass (docs/spec.md §3).
//!
//! Everything a test waits for is bounded: [`eventually`] polls with short tokio sleeps and
//! panics after [`PATIENCE`]; keepers give up after their own 15 s silence limit.

use bytes::Bytes;
use http::{Method, StatusCode};
use rbee::dial::{Endpoint, TcpDial};
use rbee::event::{Narration, StreamEvent, Terminal};
use rbee::hive::Hive;
use rbee::ids::JobId;
use rbee::keeper::{Flow, Keeper, Outcome, Submitted};
use rbee::node::{HiveTarget, Node, NodeConfig, Role};
use rbee::observer::{HubRecord, JobState, Observer};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// The one hive every cluster has.
pub const HIVE: &str = "hive-a";

/// How long [`eventually`] waits before it fails the test.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// How the queen reaches its hive (docs/spec.md §1, §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A hive process of its own, reached over HTTP.
    Distributed,
    /// The hive's handlers run inside the queen (`--local-hive`).
    Integrated,
}

/// Generates `mod NAME { distributed, integrated }`, two `#[tokio::test]`s that each call
/// the async fn `NAME(Mode)` of the same name in the enclosing module.
macro_rules! both_modes {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use $crate::harness::Mode;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn distributed() {
                super::$name(Mode::Distributed).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn integrated() {
                super::$name(Mode::Integrated).await;
            }
        }
    )+};
}

/// Records every hub and registry record of one node (its [`Observer`]).
#[derive(Default)]
pub struct Recorder {
    records: Mutex<Vec<HubRecord>>,
}

impl Observer for Recorder {
    fn record(&self, _at_ms: u64, record: HubRecord) {
        self.lock().push(record);
    }
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Vec<HubRecord>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Jobs created on this node, in order.
    pub fn created(&self) -> Vec<JobId> {
        self.lock()
            .iter()
            .filter_map(|r| match r {
                HubRecord::Create { job, .. } => Some(job.clone()),
                _ => None,
            })
            .collect()
    }

    /// Lines with `action` this node dropped for want of a channel, by job.
    pub fn dropped_without_channel(&self, action: &str) -> Vec<JobId> {
        self.lock()
            .iter()
            .filter_map(|r| match r {
                HubRecord::DropNoChannel { job, action: a } if a == action => Some(job.clone()),
                _ => None,
            })
            .collect()
    }

    /// The states `job` went through, in order.
    pub fn states(&self, job: &JobId) -> Vec<JobState> {
        self.lock()
            .iter()
            .filter_map(|r| match r {
                HubRecord::State { job: j, state } if j == job => Some(state.clone()),
                _ => None,
            })
            .collect()
    }

    /// How many times `job`'s payload was taken for execution.
    pub fn executions(&self, job: &JobId) -> usize {
        self.lock()
            .iter()
            .filter(|r| matches!(r, HubRecord::Execute { job: j } if j == job))
            .count()
    }

    /// The hive job a queen job was forwarded to.
    pub fn hive_job_of(&self, queen_job: &JobId) -> Option<JobId> {
        self.lock().iter().find_map(|r| match r {
            HubRecord::Forward { job, hive_job, .. } if job == queen_job => Some(hive_job.clone()),
            _ => None,
        })
    }
}

/// One node served on `127.0.0.1:<ephemeral>`; shuts down when dropped.
pub struct Server {
    /// The node, for its counters.
    pub node: Arc<Node>,
    /// Where it listens.
    pub endpoint: Endpoint,
    /// Everything its hub and registry did.
    pub recorder: Arc<Recorder>,
    _shutdown: oneshot::Sender<()>,
}

impl Server {
    /// Serves a node built from `config` (its observer is replaced by a [`Recorder`]).
    pub async fn start(mut config: NodeConfig) -> Self {
        let recorder = Arc::new(Recorder::default());
        config.observer = recorder.clone();
        let node = Node::new(config);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(rbee::server::serve(listener, node.clone(), async move {
            let _ = stop.await;
        }));
        Self {
            node,
            endpoint: Endpoint {
                host: "127.0.0.1".into(),
                port,
            },
            recorder,
            _shutdown: shutdown,
        }
    }

    /// A hive node serving `world` (its name is the world's).
    pub async fn hive(world: Arc<Hive>, tweak: impl Fn(&mut NodeConfig)) -> Self {
        let mut config = NodeConfig::new(Role::Hive(world));
        tweak(&mut config);
        Self::start(config).await
    }

    /// A keeper talking to this node.
    pub fn keeper(&self) -> Keeper {
        Keeper::new(Arc::new(TcpDial), self.endpoint.clone())
    }

    /// Live channels and registered jobs.
    pub fn load(&self) -> (usize, usize) {
        (
            self.node.hub().stats().live_channels,
            self.node.jobs().len(),
        )
    }

    /// Asserts, now, that the node holds no channel and no job.
    #[track_caller]
    pub fn assert_quiet(&self, after: &str) {
        assert_eq!(self.load(), (0, 0), "(channels, jobs) after {after}");
    }

    /// Waits (bounded) until the node holds no channel and no job.
    pub async fn settle(&self, after: &str) {
        eventually(format!("(channels, jobs) == (0, 0) after {after}"), || {
            self.load() == (0, 0)
        })
        .await;
    }

    /// Sends a raw request to this node.
    pub async fn http(&self, method: Method, path: &str, body: Option<Bytes>) -> Reply {
        http(&self.endpoint, method, path, body).await
    }
}

/// A queen, its hive (a process of its own in distributed mode) and the hive's world.
pub struct Cluster {
    /// The queen.
    pub queen: Server,
    /// The hive process (distributed mode only).
    pub hive: Option<Server>,
    /// The hive's catalogue and workers (shared with the queen in integrated mode).
    pub world: Arc<Hive>,
}

impl Cluster {
    /// A cluster whose hive starts with `["tinyllama"]` and default node settings.
    pub async fn start(mode: Mode) -> Self {
        Self::start_with(mode, &["tinyllama"], |_| {}).await
    }

    /// A cluster whose hive starts with `models`; `tweak` adjusts every node's config.
    pub async fn start_with(mode: Mode, models: &[&str], tweak: impl Fn(&mut NodeConfig)) -> Self {
        let world = Arc::new(Hive::new(HIVE, models.iter().map(|m| (*m).to_owned())));
        let (target, hive) = match mode {
            Mode::Distributed => {
                let hive = Server::hive(world.clone(), &tweak).await;
                (HiveTarget::Remote(hive.endpoint.clone()), Some(hive))
            }
            Mode::Integrated => (HiveTarget::Local(world.clone()), None),
        };
        let mut config = NodeConfig::new(Role::Queen(BTreeMap::from([(HIVE.to_owned(), target)])));
        tweak(&mut config);
        Self {
            queen: Server::start(config).await,
            hive,
            world,
        }
    }

    /// A keeper of the queen.
    pub fn keeper(&self) -> Keeper {
        self.queen.keeper()
    }

    /// Queen and hive process, whichever exist.
    pub fn servers(&self) -> impl Iterator<Item = &Server> {
        std::iter::once(&self.queen).chain(self.hive.as_ref())
    }

    /// Asserts, now, that no node holds a channel or a job.
    #[track_caller]
    pub fn assert_quiet(&self, after: &str) {
        for s in self.servers() {
            s.assert_quiet(after);
        }
    }

    /// Waits (bounded) until no node holds a channel or a job.
    pub async fn settle(&self, after: &str) {
        for s in self.servers() {
            s.settle(after).await;
        }
    }

    /// Submits `op` to the queen and follows its stream to the end.
    pub async fn run(&self, op: Value) -> Run {
        run(&self.keeper(), op).await
    }

    /// [`Cluster::run`], then waits until every node is quiet again.
    pub async fn run_settled(&self, op: Value) -> Run {
        let run = self.run(op).await;
        self.settle("a finished job").await;
        run
    }

    /// The hive job a queen job was forwarded to (distributed mode).
    pub fn hive_job_of(&self, queen_job: &JobId) -> JobId {
        self.queen
            .recorder
            .hive_job_of(queen_job)
            .unwrap_or_else(|| panic!("queen job {queen_job} was never forwarded"))
    }
}

/// A TCP proxy in front of a server whose connections a test can break, like a network
/// failure would: [`Proxy::cut`] closes every connection through it, now and later.
pub struct Proxy {
    /// Where the proxy listens.
    pub endpoint: Endpoint,
    cut: watch::Sender<bool>,
    _accept: AbortOnDrop,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Proxy {
    /// Forwards every connection made to the proxy to `to`.
    pub async fn start(to: Endpoint) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("local addr").port();
        let (cut, watch_cut) = watch::channel(false);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cut = watch_cut.clone();
                let to = to.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect((to.host.as_str(), to.port)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                    // Both sockets close here.
                });
            }
        });
        Self {
            endpoint: Endpoint {
                host: "127.0.0.1".into(),
                port,
            },
            cut,
            _accept: AbortOnDrop(accept),
        }
    }

    /// Breaks every connection through the proxy (and every later one).
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }
}

/// Submits a slow download (40 chunks, 25 ms apart) through `keeper`, cuts `link` once two
/// progress lines have arrived, and returns the stream as the keeper saw it end.
pub async fn cut_mid_download(keeper: &Keeper, link: &Proxy) -> Run {
    let job = keeper
        .submit(&download("phi-2", 40, 25))
        .await
        .expect("submit");
    let (progressed, follower) = follow_in_background(keeper, &job, "model_download_progress", 2);
    progressed.await.expect("the download progressed");
    link.cut();
    follower.await.expect("follower")
}

/// Polls `cond` every 10 ms until it holds; fails the test after [`PATIENCE`].
pub async fn eventually(what: impl std::fmt::Display, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Operations

/// `{"operation": name, "hive_id": HIVE, ..extra}`.
pub fn hive_op(name: &str, extra: Value) -> Value {
    let mut op = json!({"operation": name, "hive_id": HIVE});
    if let Value::Object(fields) = extra {
        op.as_object_mut().expect("object").extend(fields);
    }
    op
}

/// A `model_download` of `model` in `chunks` steps `interval_ms` apart.
pub fn download(model: &str, chunks: u32, interval_ms: u64) -> Value {
    hive_op(
        "model_download",
        json!({"model": model, "chunks": chunks, "interval_ms": interval_ms}),
    )
}

/// An `infer` of `max_tokens` tokens.
pub fn infer(model: &str, prompt: &str, max_tokens: u32) -> Value {
    hive_op(
        "infer",
        json!({"model": model, "prompt": prompt, "max_tokens": max_tokens}),
    )
}

// ---------------------------------------------------------------------------------------
// Streams

/// A followed job: what the keeper saw and how it ended.
pub struct Run {
    /// The job.
    pub job: Submitted,
    /// Every event, in order, the terminal (if any) included.
    pub events: Vec<StreamEvent>,
    /// How following ended.
    pub outcome: Outcome,
}

/// Submits `op` through `keeper` and follows its stream to the end.
pub async fn run(keeper: &Keeper, op: Value) -> Run {
    let job = keeper
        .submit(&op)
        .await
        .unwrap_or_else(|e| panic!("submit {op}: {e}"));
    follow(keeper, job, |_| Flow::Continue).await
}

/// Follows `job` until its end or until `flow` says stop; checks the stream's form.
pub async fn follow(
    keeper: &Keeper,
    job: Submitted,
    mut flow: impl FnMut(&StreamEvent) -> Flow,
) -> Run {
    let mut events = Vec::new();
    let outcome = keeper
        .follow(&job, |e| {
            events.push(e.clone());
            flow(e)
        })
        .await
        .unwrap_or_else(|e| panic!("follow {}: {e}", job.job_id));
    let run = Run {
        job,
        events,
        outcome,
    };
    run.assert_well_formed();
    run
}

/// Follows `job` in a task; the returned receiver fires once `n` events with `action`
/// have arrived (so a test can act in the middle of a job).
pub fn follow_in_background(
    keeper: &Keeper,
    job: &Submitted,
    action: &'static str,
    n: usize,
) -> (oneshot::Receiver<()>, JoinHandle<Run>) {
    let (tx, rx) = oneshot::channel();
    let (keeper, job) = (keeper.clone(), job.clone());
    let task = tokio::spawn(async move {
        let mut tx = Some(tx);
        let mut seen = 0;
        follow(&keeper, job, move |e| {
            if action_of(e) == Some(action) {
                seen += 1;
                if seen == n {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
            Flow::Continue
        })
        .await
    });
    (rx, task)
}

/// The action of a narration or data event.
pub fn action_of(e: &StreamEvent) -> Option<&str> {
    match e {
        StreamEvent::Narration(n) => Some(&n.action),
        StreamEvent::Data(d) => Some(&d.action),
        _ => None,
    }
}

/// Plumbing lines that are not part of an operation's narration contract: each process's
/// `job_create` and the queen's `forward`.
fn is_plumbing(n: &Narration) -> bool {
    n.action == "job_create" || (n.actor == "queen" && n.action == "forward")
}

impl Run {
    /// The stream's form (docs/spec.md §3): events belong to this job, `seq` runs 0, 1, 2, ...
    /// without gaps or `lagged`, the first is this process's `job_create`, and there is
    /// exactly one terminal, last, matching the outcome.
    #[track_caller]
    pub fn assert_well_formed(&self) {
        let id = &self.job.job_id;
        let t = self.transcript();
        let mut next_seq = 0;
        for (i, e) in self.events.iter().enumerate() {
            match e {
                StreamEvent::Narration(n) => {
                    assert_eq!(&n.job_id, id, "foreign narration #{i}\n{t}");
                    assert_eq!(n.seq, next_seq, "seq of event #{i}\n{t}");
                    next_seq += 1;
                }
                StreamEvent::Data(d) => {
                    assert_eq!(&d.job_id, id, "foreign data #{i}\n{t}");
                    assert_eq!(d.seq, next_seq, "seq of event #{i}\n{t}");
                    next_seq += 1;
                }
                StreamEvent::Lagged(l) => panic!("unexpected lagged {l:?} at #{i}\n{t}"),
                StreamEvent::Terminal(_) => {
                    assert_eq!(i, self.events.len() - 1, "a terminal that is not last\n{t}")
                }
            }
        }
        match self.events.first() {
            Some(StreamEvent::Narration(n)) => {
                assert_eq!((n.seq, n.action.as_str()), (0, "job_create"), "{t}");
                assert!(n.human.contains(id.as_str()), "{t}");
            }
            other => panic!("first event is not job_create: {other:?}\n{t}"),
        }
        let terminal = match self.events.last() {
            Some(StreamEvent::Terminal(t)) => Some(t),
            _ => None,
        };
        let expected = match &self.outcome {
            Outcome::Done => Some(Terminal::Done),
            Outcome::Failed(m) => Some(Terminal::Error(m.clone())),
            Outcome::Cancelled => Some(Terminal::Cancelled),
            Outcome::Lost(_) | Outcome::Detached => None,
        };
        assert_eq!(
            terminal,
            expected.as_ref(),
            "terminal vs outcome {:?}\n{t}",
            self.outcome
        );
    }

    /// Narration lines.
    pub fn narrations(&self) -> impl Iterator<Item = &Narration> {
        self.events.iter().filter_map(|e| match e {
            StreamEvent::Narration(n) => Some(n),
            _ => None,
        })
    }

    /// The operation's narration contract as seen by the keeper: narration actions and
    /// `data:<action>` for data events, without the plumbing lines.
    pub fn actions(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Narration(n) if !is_plumbing(n) => Some(n.action.clone()),
                StreamEvent::Data(d) => Some(format!("data:{}", d.action)),
                _ => None,
            })
            .collect()
    }

    /// How many narration or data events have `action`.
    pub fn count(&self, action: &str) -> usize {
        self.events
            .iter()
            .filter(|e| action_of(e) == Some(action))
            .count()
    }

    /// Payloads of the data events with `action`.
    pub fn data(&self, action: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Data(d) if d.action == action => Some(&d.payload),
                _ => None,
            })
            .collect()
    }

    /// The `token` of every `token` data event.
    pub fn tokens(&self) -> Vec<String> {
        self.data("token")
            .iter()
            .map(|p| p["token"].as_str().expect("token is a string").to_owned())
            .collect()
    }

    /// The human text of the lines with `action`.
    pub fn human(&self, action: &str) -> Vec<&str> {
        self.narrations()
            .filter(|n| n.action == action)
            .map(|n| n.human.as_str())
            .collect()
    }

    /// Asserts the job ended `done`.
    #[track_caller]
    pub fn assert_done(&self) {
        assert_eq!(self.outcome, Outcome::Done, "{}", self.transcript());
    }

    /// Asserts the job ended in error with a message containing `needle`.
    #[track_caller]
    pub fn assert_failed(&self, needle: &str) {
        match &self.outcome {
            Outcome::Failed(m) => assert!(m.contains(needle), "error {m:?} lacks {needle:?}"),
            other => panic!(
                "expected an error with {needle:?}, got {other:?}\n{}",
                self.transcript()
            ),
        }
    }

    /// Asserts the contract view of the stream is exactly `expected`.
    #[track_caller]
    pub fn assert_actions(&self, expected: &[&str]) {
        assert_eq!(self.actions(), expected, "{}", self.transcript());
    }

    /// One line per event, for failure messages.
    pub fn transcript(&self) -> String {
        let mut out = format!("transcript of {} ({:?}):\n", self.job.job_id, self.outcome);
        for e in &self.events {
            let _ = writeln!(out, "  {}: {}", e.event_name(), e.data_line());
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// Raw HTTP

/// A complete JSON reply.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Body, parsed as JSON.
    pub body: Value,
}

impl Reply {
    /// Asserts `status` and a body of exactly `{"error": "<message>"}` whose message
    /// contains `needle`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, needle: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "status of reply {}",
            self.body
        );
        let fields = self.body.as_object().expect("error body is a JSON object");
        assert_eq!(fields.len(), 1, "error body has one field: {}", self.body);
        let message = fields["error"].as_str().expect("`error` is a string");
        assert!(!message.trim().is_empty(), "empty error message");
        assert!(
            message.contains(needle),
            "error message {message:?} lacks {needle:?}"
        );
    }
}

/// Sends one request with [`rbee::http_client::send`] over real TCP and reads the JSON reply.
pub async fn http(ep: &Endpoint, method: Method, path: &str, body: Option<Bytes>) -> Reply {
    let resp = rbee::http_client::send(&TcpDial, ep, method.clone(), path, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status;
    let body = resp
        .json()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: reply is not JSON: {e}"));
    Reply { status, body }
}

/// `POST /v1/jobs` with a raw body.
pub async fn post_job(ep: &Endpoint, body: impl Into<Bytes>) -> Reply {
    http(ep, Method::POST, "/v1/jobs", Some(body.into())).await
}

/// Opens a job's stream and returns the response with its body unread.
pub async fn open_stream(ep: &Endpoint, job: &str) -> rbee::http_client::Response {
    let path = format!("/v1/jobs/{job}/stream");
    rbee::http_client::send(&TcpDial, ep, Method::GET, &path, None)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// One raw SSE event: its `event:`, `id:` and `data:` lines.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RawEvent {
    /// `event:` value.
    pub event: String,
    /// `id:` value, if any.
    pub id: Option<String>,
    /// Every `data:` line (docs/spec.md §3 allows exactly one).
    pub data: Vec<String>,
}

/// Splits an SSE body into events and counts its comment lines (keep-alives).
pub fn parse_sse(text: &str) -> (Vec<RawEvent>, usize) {
    let (mut events, mut comments) = (Vec::new(), 0);
    let mut current = RawEvent::default();
    for line in text.split('\n') {
        if line.is_empty() {
            if !current.event.is_empty() || !current.data.is_empty() {
                events.push(std::mem::take(&mut current));
            }
        } else if line.starts_with(':') {
            comments += 1;
        } else {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
            match field {
                "event" => current.event = value,
                "id" => current.id = Some(value),
                "data" => current.data.push(value),
                other => panic!("unexpected SSE field {other:?} in {line:?}"),
            }
        }
    }
    assert!(
        current.event.is_empty() && current.data.is_empty(),
        "unterminated event"
    );
    (events, comments)
}

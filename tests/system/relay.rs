//! The queen → hive relay (docs/spec.md §6) and the backpressure it relies on (§4.3).

use crate::harness::*;
use rbee::dial::Endpoint;
use rbee::event::StreamEvent;
use rbee::hive::Hive;
use rbee::keeper::Outcome;
use rbee::node::{HiveTarget, NodeConfig, Role};
use rbee::observer::JobState;
use rbee::operation::Operation;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

both_modes!(bug_05_worker_install_log_arrives_in_full);

/// `worker_install`'s default 2000-line build log, emitted from a spawned sub-task, reaches
/// the keeper in full and in order, through the queen's relay, with no `lagged` event.
async fn bug_05_worker_install_log_arrives_in_full(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    // `run` fails on any `lagged` event (Run::assert_well_formed).
    let run = cluster
        .run_settled(hive_op("worker_install", json!({})))
        .await;
    run.assert_done();
    let log = run.human("worker_install_log");
    assert_eq!(log.len(), 2000);
    for (i, line) in log.iter().enumerate() {
        assert!(
            line.ends_with(&format!("({}/2000)", i + 1)),
            "line {i}: {line}"
        );
    }
    let actions = run.actions();
    assert_eq!(
        actions.first().map(String::as_str),
        Some("worker_install_start")
    );
    assert_eq!(
        actions.last().map(String::as_str),
        Some("worker_install_complete")
    );
    for server in cluster.servers() {
        assert_eq!(server.node.hub().stats().dropped_full, 0);
    }
}

/// A queen reader that stalls (its channel holds only 8 events) makes the relay wait for
/// space instead of dropping: all 600 relayed log lines arrive once the reader reads.
///
/// The stall is deterministic: the test takes the queen job's receiver itself, as the
/// stream handler would, and does not read it until the channel has been full for a while.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_13_a_stalled_reader_makes_the_relay_wait_instead_of_dropping() {
    let cluster = Cluster::start_with(Mode::Distributed, &["tinyllama"], |c| {
        if matches!(c.role, Role::Queen(_)) {
            c.capacity = Some(8);
        }
    })
    .await;
    let queen = &cluster.queen.node;
    let op = Operation::from_value(hive_op("worker_install", json!({"lines": 600}))).expect("op");
    let id = queen.create(op).expect("create");
    let (job, mut rx) = queen.take(&id).await.expect("take");
    let delivered = || queen.hub().stats().delivered;
    eventually("the queen's channel fills up", || delivered() >= 8).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(delivered(), 8, "the relay waits while the channel is full");
    assert_eq!(job.state(), JobState::Running);
    let mut events = Vec::new();
    while let Some(event) = rx.recv().await {
        events.push(event);
    }
    queen.stream_finished(&job);
    assert_eq!(job.state(), JobState::Completed);
    assert!(!events.iter().any(|e| matches!(e, StreamEvent::Lagged(_))));
    let seqs: Vec<_> = events.iter().filter_map(StreamEvent::seq).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    let log = events
        .iter()
        .filter(|e| action_of(e) == Some("worker_install_log"))
        .count();
    assert_eq!(log, 600);
    assert_eq!(queen.hub().stats().dropped_full, 0);
    cluster.settle("the stalled relay").await;
}

/// Hive markers are interpreted, not relayed: hive `done` → queen `done`, hive `error` →
/// queen `error` carrying the hive's message verbatim; no narration carries a marker, and
/// the forwarded job ran exactly once on the hive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_12_hive_markers_are_interpreted_not_relayed() {
    let cluster = Cluster::start(Mode::Distributed).await;
    let hive = cluster.hive.as_ref().expect("distributed");
    let ok = cluster.run_settled(hive_op("model_list", json!({}))).await;
    let failed = cluster
        .run_settled(hive_op("model_get", json!({"model": "nope"})))
        .await;
    ok.assert_done();
    assert_eq!(
        failed.outcome,
        Outcome::Failed(format!("model not found: 'nope' on hive '{HIVE}'"))
    );
    for run in [&ok, &failed] {
        for n in run.narrations() {
            let marker = ["[DONE]", "[ERROR]", "[CANCELLED]"]
                .iter()
                .any(|m| n.human.contains(m));
            assert!(!marker, "a marker was re-narrated\n{}", run.transcript());
        }
        let hive_job = cluster.hive_job_of(&run.job.job_id);
        assert_eq!(hive.recorder.executions(&hive_job), 1);
    }
    let hive_state = hive
        .recorder
        .states(&cluster.hive_job_of(&failed.job.job_id));
    assert!(
        matches!(hive_state.last(), Some(JobState::Failed(_))),
        "{hive_state:?}"
    );
}

/// A queen whose hive does not listen ends the job with an error naming the hive — never a
/// hang, never `done`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_12_a_job_for_an_unreachable_hive_fails_naming_the_hive() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let target = HiveTarget::Remote(Endpoint {
        host: "127.0.0.1".into(),
        port,
    });
    let queen = Server::start(NodeConfig::new(Role::Queen(BTreeMap::from([(
        HIVE.to_owned(),
        target,
    )]))))
    .await;
    let run = run(&queen.keeper(), hive_op("model_list", json!({}))).await;
    run.assert_failed(&format!("hive '{HIVE}' unreachable"));
    queen.settle("the failed forward").await;
}

/// A hive connection that breaks mid-job (the network, not the hive, fails) ends the queen
/// job with an error naming the hive; the orphaned hive job is cancelled; all go back to 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_hive_connection_fails_the_job_naming_the_hive() {
    let world = Arc::new(Hive::new(HIVE, ["tinyllama".to_owned()]));
    let hive = Server::hive(world.clone(), |_| {}).await;
    let link = Proxy::start(hive.endpoint.clone()).await;
    let target = HiveTarget::Remote(link.endpoint.clone());
    let queen = Server::start(NodeConfig::new(Role::Queen(BTreeMap::from([(
        HIVE.to_owned(),
        target,
    )]))))
    .await;
    let cluster = Cluster {
        queen,
        hive: Some(hive),
        world,
    };
    let keeper = cluster.keeper();
    let run = cut_mid_download(&keeper, &link).await;
    run.assert_failed(&format!("lost connection to hive '{HIVE}'"));
    cluster.settle("a broken hive link").await;
    let hive = cluster.hive.as_ref().expect("hive");
    let hive_state = hive.recorder.states(&cluster.hive_job_of(&run.job.job_id));
    assert_eq!(
        hive_state.last(),
        Some(&JobState::Cancelled),
        "{hive_state:?}"
    );
    assert_eq!(cluster.world.models(), ["tinyllama"]);
}

/// A hive, a queen that reaches it through `dial`, and a forwarded `model_list` whose stream
/// is open (so the queen job runs and forwards): the start of every test of a cancel that
/// must reach the hive.
async fn forwarded_model_list(
    dial: Arc<dyn rbee::dial::Dial>,
) -> (
    Server,
    Server,
    rbee::keeper::Keeper,
    rbee::keeper::Submitted,
    rbee::http_client::Response,
) {
    let world = Arc::new(Hive::new(HIVE, ["tinyllama".to_owned()]));
    let hive = Server::hive(world, |_| {}).await;
    let mut config = NodeConfig::new(Role::Queen(BTreeMap::from([(
        HIVE.to_owned(),
        HiveTarget::Remote(hive.endpoint.clone()),
    )])));
    config.dial = dial;
    let queen = Server::start(config).await;
    let keeper = queen.keeper();
    let job = keeper
        .submit(&hive_op("model_list", json!({})))
        .await
        .expect("submit");
    let stream = open_stream(&queen.endpoint, job.job_id.as_str()).await;
    (hive, queen, keeper, job, stream)
}

/// Lets every connection through except the `stalled`-th (1-based), which never connects:
/// a hive stream request stuck in the network, after the hive already accepted the job.
struct StallOneDial {
    stalled: usize,
    dials: std::sync::atomic::AtomicUsize,
}

impl rbee::dial::Dial for StallOneDial {
    fn dial(
        &self,
        host: &str,
        port: u16,
    ) -> futures::future::BoxFuture<'static, std::io::Result<rbee::dial::BoxIo>> {
        let n = self.dials.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if n == self.stalled {
            Box::pin(std::future::pending())
        } else {
            rbee::dial::TcpDial.dial(host, port)
        }
    }
}

/// Lets every connection through, but holds what the first one reads until `release`:
/// the forward's POST reaches the hive, which creates its job, while the reply stays on
/// the wire.
#[derive(Default)]
struct HoldFirstReplyDial {
    dials: std::sync::atomic::AtomicUsize,
    gate: Arc<Gate>,
}

/// Closed until opened once; readers wait on it.
#[derive(Default)]
struct Gate {
    state: std::sync::Mutex<(bool, Vec<std::task::Waker>)>,
}

impl Gate {
    fn open(&self) {
        let mut state = self.state.lock().unwrap();
        state.0 = true;
        state.1.drain(..).for_each(std::task::Waker::wake);
    }

    fn poll_open(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let mut state = self.state.lock().unwrap();
        if state.0 {
            return std::task::Poll::Ready(());
        }
        state.1.push(cx.waker().clone());
        std::task::Poll::Pending
    }
}

/// A connection whose reads wait for its gate.
struct Gated {
    io: rbee::dial::BoxIo,
    gate: Arc<Gate>,
}

impl tokio::io::AsyncRead for Gated {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(self.gate.poll_open(cx));
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Gated {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl rbee::dial::Dial for HoldFirstReplyDial {
    fn dial(
        &self,
        host: &str,
        port: u16,
    ) -> futures::future::BoxFuture<'static, std::io::Result<rbee::dial::BoxIo>> {
        let first = self.dials.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        let (gate, connect) = (self.gate.clone(), rbee::dial::TcpDial.dial(host, port));
        Box::pin(async move {
            let io = connect.await?;
            Ok(if first {
                Box::new(Gated { io, gate }) as rbee::dial::BoxIo
            } else {
                io
            })
        })
    }
}

/// A queen job cancelled while its forward's POST was answered but the reply was still on
/// the wire: the hive had created its job, and the queen did not know its id yet. The
/// submit outlives the cancelled forward, reads the reply and cancels the hive job (before,
/// the forward dropped the connection and the hive job sat queued until its 60 s TTL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_11_queen_cancel_reaches_a_hive_job_whose_reply_was_on_the_wire() {
    let dial = Arc::new(HoldFirstReplyDial::default());
    let (hive, queen, keeper, job, _stream) = forwarded_model_list(dial.clone()).await;
    eventually("the hive created the forwarded job", || {
        !hive.recorder.created().is_empty()
    })
    .await;
    let hive_job = hive.recorder.created()[0].clone();
    assert_eq!(queen.recorder.hive_job_of(&job.job_id), None, "reply held");
    keeper.cancel(&job.job_id).await.expect("cancel");
    queen.settle("the queen job was cancelled").await;
    dial.gate.open();
    hive.settle("the reply reached the cancelled forward").await;
    assert_eq!(
        hive.recorder.states(&hive_job).last(),
        Some(&JobState::Cancelled)
    );
    assert_eq!(hive.recorder.executions(&hive_job), 0, "it never ran");
}

/// A queen job cancelled after its hive accepted the forwarded job but before the hive
/// stream opened: the queen's DELETE reaches the hive, which drops its queued job at once
/// (no hive stream exists whose disconnect could cancel it; without the DELETE it would sit
/// queued until its 60 s TTL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_11_queen_cancel_reaches_a_hive_job_whose_stream_is_not_open_yet() {
    // The queen's first connection is the forward (POST), the second its hive stream.
    let dial = Arc::new(StallOneDial {
        stalled: 2,
        dials: Default::default(),
    });
    let (hive, queen, keeper, job, _stream) = forwarded_model_list(dial).await;
    eventually("the hive accepted the forwarded job", || {
        queen.recorder.hive_job_of(&job.job_id).is_some()
    })
    .await;
    let hive_job = queen
        .recorder
        .hive_job_of(&job.job_id)
        .expect("the queen recorded its forward");
    keeper.cancel(&job.job_id).await.expect("cancel");
    hive.settle("the queen cancelled a forwarded job").await;
    assert_eq!(
        hive.recorder.states(&hive_job).last(),
        Some(&JobState::Cancelled)
    );
    assert_eq!(hive.recorder.executions(&hive_job), 0, "it never ran");
}

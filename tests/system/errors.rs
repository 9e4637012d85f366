//! docs/spec.md §2's error table, row by row: each refusal has its status, a JSON body
//! `{"error": "<message>"}`, and creates nothing (0 channels, 0 jobs on queen and hive).

use crate::harness::*;
use http::Method;
use rbee::ids::JobId;
use rbee::keeper::{Flow, Submitted};
use rbee::node::CancelError;
use rbee::observer::JobState;
use rbee::operation::Operation;
use rbee::server::MAX_BODY;
use serde_json::json;
use std::sync::Arc;

/// `GET /v1/health` answers `{"ok": true}` on queen and hive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_ok() {
    let cluster = Cluster::start(Mode::Distributed).await;
    for server in cluster.servers() {
        let reply = server.http(Method::GET, "/v1/health", None).await;
        assert_eq!(
            (reply.status.as_u16(), reply.body),
            (200, json!({"ok": true}))
        );
    }
}

/// Malformed JSON, unknown operations, missing, unknown, empty or mistyped fields get 400 with a
/// message naming the problem, on queen and hive, and create nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_operations_get_400_naming_the_problem_and_create_nothing() {
    let cluster = Cluster::start(Mode::Distributed).await;
    let cases = [
        ("{", "malformed JSON"),
        ("", "malformed JSON"),
        ("[1, 2]", "JSON object"),
        (r#"{"hive_id":"hive-a"}"#, "missing field `operation`"),
        (r#"{"operation":"fly","hive_id":"hive-a"}"#, "fly"),
        (r#"{"operation":7,"hive_id":"hive-a"}"#, "operation"),
        (
            r#"{"operation":"model_get","hive_id":"hive-a"}"#,
            "missing field `model`",
        ),
        (
            r#"{"operation":"infer","hive_id":"hive-a","model":"tinyllama"}"#,
            "missing field `prompt`",
        ),
        (r#"{"operation":"model_list"}"#, "missing field `hive_id`"),
        (r#"{"operation":"model_list","hive_id":7}"#, "hive_id"),
        (
            r#"{"operation":"model_download","hive_id":"hive-a","model":"m","chunks":"ten"}"#,
            "chunks",
        ),
        (
            r#"{"operation":"infer","hive_id":"hive-a","model":"m","prompt":"a","max_tokens":-1}"#,
            "max_tokens",
        ),
        (
            r#"{"operation":"model_list","hive_id":"hive-a","colour":1}"#,
            "colour",
        ),
        (r#"{"operation":"model_list","hive_id":""}"#, "hive_id"),
        (
            r#"{"operation":"model_download","hive_id":"hive-a","model":"m","chunks":0}"#,
            "chunks",
        ),
        (
            r#"{"operation":"infer","hive_id":"hive-a","model":"m","prompt":"  "}"#,
            "prompt",
        ),
    ];
    for server in cluster.servers() {
        for (body, needle) in cases {
            post_job(&server.endpoint, body)
                .await
                .assert_error(400, needle);
            server.assert_quiet(body);
        }
    }
    // The queen's own operation cannot run on a hive.
    let hive = cluster.hive.as_ref().expect("distributed");
    post_job(&hive.endpoint, r#"{"operation":"status"}"#)
        .await
        .assert_error(400, "runs on the queen");
    cluster.assert_quiet("a queen operation sent to a hive");
    for server in cluster.servers() {
        assert_eq!(server.recorder.created(), [], "nothing was ever created");
    }
}

/// A body over 64 KiB gets 413 and creates nothing; a body of exactly 64 KiB is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_64_kib_gets_413_and_creates_nothing() {
    let cluster = Cluster::start(Mode::Distributed).await;
    let op = r#"{"operation":"status"}"#;
    let padded = |len: usize| format!("{op}{}", " ".repeat(len - op.len()));
    for server in cluster.servers() {
        post_job(&server.endpoint, padded(MAX_BODY + 1))
            .await
            .assert_error(413, "larger than 65536 bytes");
        server.assert_quiet("a 413");
    }
    // The limit is "over 64 KiB": exactly 64 KiB of valid JSON is a job.
    let reply = post_job(&cluster.queen.endpoint, padded(MAX_BODY)).await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.body);
    let job_id = JobId::parse(reply.body["job_id"].as_str().expect("job_id")).expect("valid id");
    assert_eq!(reply.body["sse_url"], format!("/v1/jobs/{job_id}/stream"));
    let sse_url = reply.body["sse_url"].as_str().expect("sse_url").to_owned();
    let run = follow(&cluster.keeper(), Submitted { job_id, sse_url }, |_| {
        Flow::Continue
    })
    .await;
    run.assert_done();
    cluster.settle("the 64 KiB job").await;
}

/// A hive operation naming a hive nobody knows gets 404 at the queen (and at a hive that has
/// another name), in both modes, and creates nothing.
async fn an_unknown_hive_gets_404_and_creates_nothing(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    for server in cluster.servers() {
        post_job(
            &server.endpoint,
            r#"{"operation":"model_list","hive_id":"hive-zz"}"#,
        )
        .await
        .assert_error(404, "unknown hive 'hive-zz'");
        server.assert_quiet("a 404 for an unknown hive");
        assert_eq!(server.recorder.created(), []);
    }
}

both_modes!(an_unknown_hive_gets_404_and_creates_nothing);

/// Stream requests for ids with bad characters or over 64 characters get 400; unknown or
/// finished jobs get 404; none of them has a side effect. DELETE refuses the same ids alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_10_stream_requests_for_bad_or_unknown_ids_are_refused_without_side_effects() {
    let cluster = Cluster::start(Mode::Distributed).await;
    let finished = cluster.run_settled(hive_op("model_list", json!({}))).await;
    finished.assert_done();
    let finished_on_hive = cluster.hive_job_of(&finished.job.job_id);
    let long = "a".repeat(65);
    let longest = "a".repeat(64);
    let unknown = JobId::from_bits(7).to_string();
    let cases = [
        ("bad.id", 400, "may only contain"),
        ("job%20x", 400, "may only contain"),
        ("job%2Fx", 400, "may only contain"),
        (long.as_str(), 400, "1 to 64 characters"),
        (longest.as_str(), 404, "unknown job"),
        (unknown.as_str(), 404, "unknown job"),
        (finished.job.job_id.as_str(), 404, "unknown job"),
    ];
    let hive = cluster.hive.as_ref().expect("distributed");
    for server in cluster.servers() {
        let delivered = server.node.hub().stats().delivered;
        for (id, status, needle) in cases {
            let path = format!("/v1/jobs/{id}/stream");
            server
                .http(Method::GET, &path, None)
                .await
                .assert_error(status, needle);
            server.assert_quiet(&path);
            let path = format!("/v1/jobs/{id}");
            server
                .http(Method::DELETE, &path, None)
                .await
                .assert_error(status, needle);
            server.assert_quiet(&path);
        }
        assert_eq!(
            server.node.hub().stats().delivered,
            delivered,
            "nothing was emitted"
        );
    }
    let path = format!("/v1/jobs/{finished_on_hive}/stream");
    hive.http(Method::GET, &path, None)
        .await
        .assert_error(404, "unknown job");
    assert_eq!(cluster.queen.recorder.created(), [finished.job.job_id]);
}

/// A second stream request gets 409; the first stream keeps its job and delivers all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_stream_request_gets_409_and_the_first_keeps_its_job() {
    let cluster = Cluster::start(Mode::Distributed).await;
    let job = cluster
        .keeper()
        .submit(&download("phi-2", 10, 20))
        .await
        .expect("submit");
    let first = open_stream(&cluster.queen.endpoint, job.job_id.as_str()).await;
    assert_eq!(first.status.as_u16(), 200);
    let second = cluster.queen.http(Method::GET, &job.sse_url, None).await;
    second.assert_error(409, "already taken");
    assert_eq!(cluster.queen.load(), (1, 1), "the 409 created nothing");
    assert_eq!(
        cluster.queen.recorder.created(),
        std::slice::from_ref(&job.job_id)
    );
    let body = first
        .bytes()
        .await
        .expect("the first stream reads to its end");
    let (events, _) = parse_sse(std::str::from_utf8(&body).expect("UTF-8"));
    let progress = events
        .iter()
        .filter(|e| e.data[0].contains(r#""action":"model_download_progress""#))
        .count();
    assert_eq!(progress, 10);
    assert_eq!(events.last().map(|e| e.event.as_str()), Some("done"));
    cluster.settle("the 409'd job").await;
    assert_eq!(cluster.queen.recorder.executions(&job.job_id), 1);
}

/// DELETE of a job nobody streams yet answers 200 `{"job_id", "state": "cancelled"}` and
/// removes it at once: its stream is then 404 and it never executed (not even on the hive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_of_a_queued_job_cancels_it_without_executing() {
    let cluster = Cluster::start(Mode::Distributed).await;
    let keeper = cluster.keeper();
    let job = keeper
        .submit(&download("phi-2", 3, 10))
        .await
        .expect("submit");
    let reply = keeper.cancel(&job.job_id).await.expect("cancel");
    assert_eq!(
        reply,
        json!({"job_id": job.job_id.as_str(), "state": "cancelled"})
    );
    cluster.assert_quiet("cancelling a queued job");
    let stream = keeper.follow(&job, |_| Flow::Continue).await;
    assert!(
        matches!(
            &stream,
            Err(rbee::keeper::KeeperError::Rejected { status: 404, .. })
        ),
        "{stream:?}"
    );
    let recorder = &cluster.queen.recorder;
    assert_eq!(
        recorder.states(&job.job_id),
        [JobState::Queued, JobState::Cancelled]
    );
    assert_eq!(recorder.executions(&job.job_id), 0);
    assert_eq!(
        cluster
            .hive
            .as_ref()
            .expect("distributed")
            .recorder
            .created(),
        []
    );
}

/// DELETE of an unknown job gets 404; DELETE of a job that already finished but whose stream
/// is still draining gets 409 "already completed" and leaves its state alone.
///
/// The draining stream is held open deterministically by taking the job's receiver through
/// [`rbee::node::Node::take`] (what the stream handler does) and not reading it yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_of_an_unknown_or_terminal_job_is_refused() {
    let world = Arc::new(rbee::hive::Hive::new(HIVE, ["tinyllama".to_owned()]));
    let hive = Server::hive(world, |_| {}).await;
    let unknown = format!("/v1/jobs/{}", JobId::from_bits(42));
    hive.http(Method::DELETE, &unknown, None)
        .await
        .assert_error(404, "unknown job");
    hive.assert_quiet("DELETE of an unknown job");

    let reply = post_job(&hive.endpoint, hive_op("model_list", json!({})).to_string()).await;
    assert_eq!(reply.status.as_u16(), 201);
    let id = JobId::parse(reply.body["job_id"].as_str().expect("job_id")).expect("id");
    let (job, rx) = hive.node.take(&id).await.expect("take");
    eventually("the job completes", || job.state() == JobState::Completed).await;
    let path = format!("/v1/jobs/{id}");
    hive.http(Method::DELETE, &path, None)
        .await
        .assert_error(409, "already completed");
    assert_eq!(
        job.state(),
        JobState::Completed,
        "a refused cancel changes nothing"
    );
    assert_eq!(hive.recorder.states(&id).last(), Some(&JobState::Completed));
    drop(rx);
    hive.node.stream_finished(&job);
    hive.assert_quiet("the drained job");
    hive.http(Method::DELETE, &path, None)
        .await
        .assert_error(404, "unknown job");
}

/// At the node level, cancelling a job twice while its stream is still open is refused the
/// second time as terminal, and the stream still drains and ends `cancelled`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_cancel_of_a_terminal_job_is_refused() {
    let world = Arc::new(rbee::hive::Hive::new(HIVE, ["tinyllama".to_owned()]));
    let hive = Server::hive(world.clone(), |_| {}).await;
    let node = &hive.node;
    let op = Operation::from_value(download("phi-2", 50, 20)).expect("valid");
    let id = node.create(op).expect("create");
    let (job, mut rx) = node.take(&id).await.expect("take");
    assert_eq!(node.cancel(&id).await, Ok(()));
    assert_eq!(
        node.cancel(&id).await,
        Err(CancelError::Terminal("cancelled"))
    );
    assert_eq!(job.state(), JobState::Cancelled);
    let mut seqs = Vec::new();
    while let Some(event) = rx.recv().await {
        seqs.push(event.seq().expect("no lagged"));
    }
    assert_eq!(seqs.first(), Some(&0), "job_create is still delivered");
    assert_eq!(
        rbee::server::terminal_for(&job.state()),
        rbee::event::Terminal::Cancelled
    );
    node.stream_finished(&job);
    hive.assert_quiet("the cancelled job");
    assert!(!world.models().contains(&"phi-2".to_owned()));
}

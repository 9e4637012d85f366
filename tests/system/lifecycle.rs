//! The channel and job life cycle (docs/spec.md §4) and its terminal markers (§3): disconnect, TTL,
//! late connect, cancel — each pinned to the historical bug of docs/spec.md §10 it once was.

use crate::harness::*;
use rbee::dial::TcpDial;
use rbee::hive::expected_tokens;
use rbee::keeper::{Flow, Keeper, KeeperError, Outcome};
use rbee::observer::JobState;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, sleep_until, Instant};

both_modes!(
    bug_01_the_channel_lives_until_the_job_has_said_everything,
    bug_03_a_job_has_its_channel_from_the_moment_it_is_created,
    bug_04_every_operation_narrates_into_its_own_stream,
    bug_09_client_disconnect_cancels_the_job_everywhere,
    bug_09_a_never_streamed_job_expires_after_the_ttl,
    bug_06_a_job_that_emits_almost_nothing_still_ends_with_its_marker,
    bug_06_a_job_silent_for_longer_than_2s_is_not_ended_early,
    bug_07_a_failed_job_ends_with_error_not_done,
    bug_08_done_text_in_narration_does_not_end_stream,
    bug_11_late_completion_cannot_overwrite_a_cancel,
    bug_02_a_worker_outliving_its_job_narrates_into_no_other_job,
);

/// A download of 20 chunks 25 ms apart: long enough to act in the middle of.
const CHUNKS: u32 = 20;
const INTERVAL_MS: u64 = 25;

/// When a slow download submitted at `submitted` would have completed, plus a margin.
fn past_completion(submitted: Instant) -> Instant {
    submitted + Duration::from_millis(u64::from(CHUNKS) * INTERVAL_MS + 250)
}

/// Asserts no node dropped a line for want of a channel.
#[track_caller]
fn assert_no_line_lost_for_a_channel(cluster: &Cluster) {
    for server in cluster.servers() {
        assert_eq!(
            server.node.hub().stats().dropped_no_channel,
            0,
            "lines emitted into a missing channel"
        );
    }
}

/// The stream opens the moment the job exists and the job then emits for a while: the
/// keeper gets the creation line, every progress line and `done`, and no node drops a line
/// for want of a channel (cleanup is tied to job completion, not to the stream handler).
async fn bug_01_the_channel_lives_until_the_job_has_said_everything(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let run = cluster.run_settled(download("phi-2", 5, 20)).await;
    run.assert_done();
    assert_eq!(
        run.narrations().next().map(|n| n.action.as_str()),
        Some("job_create"),
        "{}",
        run.transcript()
    );
    assert_eq!(
        run.count("model_download_progress"),
        5,
        "{}",
        run.transcript()
    );
    assert_eq!(run.count("model_download_complete"), 1);
    assert_no_line_lost_for_a_channel(&cluster);
}

/// A job nobody streams yet already has its channel (so its first lines wait there), and
/// the forwarded hive job has one too: the job runs in full and nothing is dropped.
async fn bug_03_a_job_has_its_channel_from_the_moment_it_is_created(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let keeper = cluster.keeper();
    let job = keeper
        .submit(&hive_op("model_list", json!({})))
        .await
        .expect("submit");
    assert!(
        cluster.queen.node.hub().contains(&job.job_id),
        "a queued job without a channel"
    );
    let run = follow(&keeper, job, |_| Flow::Continue).await;
    run.assert_done();
    run.assert_actions(&[
        "model_list_start",
        "model_list_entry",
        "data:model_list",
        "model_list_complete",
    ]);
    cluster.settle("a listed catalogue").await;
    assert_no_line_lost_for_a_channel(&cluster);
}

/// Every operation, not only `status`, narrates into its own job's stream: each stream
/// carries the operation's own lines (named after it) and ends `done`.
async fn bug_04_every_operation_narrates_into_its_own_stream(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let operations = [
        ("hive_check", json!({})),
        ("model_list", json!({})),
        ("model_get", json!({"model": "tinyllama"})),
        (
            "model_download",
            json!({"model": "phi-2", "chunks": 2, "interval_ms": 10}),
        ),
        ("model_delete", json!({"model": "phi-2"})),
        ("worker_spawn", json!({"model": "tinyllama"})),
        ("worker_list", json!({})),
        ("worker_stop", json!({"worker_id": "worker-1"})),
        ("worker_install", json!({"lines": 3})),
        (
            "infer",
            json!({"model": "tinyllama", "prompt": "a b", "max_tokens": 2}),
        ),
    ];
    for (name, extra) in operations {
        let run = cluster.run_settled(hive_op(name, extra)).await;
        run.assert_done();
        let own = run
            .actions()
            .iter()
            .filter(|a| a.trim_start_matches("data:").starts_with(name))
            .count();
        assert!(
            own > 0,
            "{name} narrated nothing of its own:\n{}",
            run.transcript()
        );
    }
    assert_no_line_lost_for_a_channel(&cluster);
}

/// Asserts the job's final state on `server` is `cancelled` and it never completed.
#[track_caller]
fn assert_cancelled(server: &Server, job: &rbee::ids::JobId) {
    let states = server.recorder.states(job);
    assert_eq!(states.last(), Some(&JobState::Cancelled), "{states:?}");
    assert!(!states.contains(&JobState::Completed), "{states:?}");
}

/// A keeper that drops its stream mid-download cancels the job: queen and hive go back to 0
/// channels and 0 jobs, the hive job is cancelled too, and the model never appears.
async fn bug_09_client_disconnect_cancels_the_job_everywhere(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let keeper = cluster.keeper();
    let submitted = Instant::now();
    let job = keeper
        .submit(&download("phi-2", CHUNKS, INTERVAL_MS))
        .await
        .expect("submit");
    let mut progress = 0;
    let run = follow(&keeper, job, |e| {
        if action_of(e) == Some("model_download_progress") {
            progress += 1;
        }
        if progress == 2 {
            Flow::Stop
        } else {
            Flow::Continue
        }
    })
    .await;
    assert_eq!(run.outcome, Outcome::Detached);
    assert_eq!(run.count("model_download_progress"), 2);
    cluster.settle("a client disconnect").await;
    assert_cancelled(&cluster.queen, &run.job.job_id);
    if let Some(hive) = &cluster.hive {
        assert_cancelled(hive, &cluster.hive_job_of(&run.job.job_id));
    }
    sleep_until(past_completion(submitted)).await;
    assert_eq!(
        cluster.world.models(),
        ["tinyllama"],
        "the download never completed"
    );
    cluster.assert_quiet("the cancelled download's schedule");
}

/// A job nobody ever streams expires after the TTL (300 ms here): removed everywhere,
/// never executed (never forwarded), and its stream then answers 404.
async fn bug_09_a_never_streamed_job_expires_after_the_ttl(mode: Mode) {
    let ttl = Duration::from_millis(300);
    let cluster = Cluster::start_with(mode, &["tinyllama"], |c| c.ttl = ttl).await;
    let keeper = cluster.keeper();
    let submitted = Instant::now();
    let job = keeper
        .submit(&hive_op("model_list", json!({})))
        .await
        .expect("submit");
    assert_eq!(cluster.queen.load(), (1, 1), "the job waits for its client");
    cluster.settle("the TTL").await;
    assert!(
        submitted.elapsed() >= ttl,
        "expired early, after {:?}",
        submitted.elapsed()
    );
    let recorder = &cluster.queen.recorder;
    assert_eq!(
        recorder.states(&job.job_id),
        [JobState::Queued, JobState::Expired]
    );
    assert_eq!(recorder.executions(&job.job_id), 0);
    let stream = keeper.follow(&job, |_| Flow::Continue).await;
    assert!(
        matches!(&stream, Err(KeeperError::Rejected { status: 404, .. })),
        "{stream:?}"
    );
    if let Some(hive) = &cluster.hive {
        assert_eq!(
            hive.recorder.created(),
            [],
            "an expired job is never forwarded"
        );
    }
    cluster.assert_quiet("the 404");
}

/// A stream connected 5 s after submit still gets every event from creation on: the
/// `job_create` line (seq 0, stamped at creation) and the whole job, then `done`.
///
/// 5 s is longer than the 2 s idle timer that once ended streams (and as long as the
/// keep-alive interval); the TTL (60 s) is far away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_06_a_stream_connected_5s_late_gets_every_event_from_creation_on() {
    let cluster = Cluster::start(Mode::Distributed).await;
    let keeper = cluster.keeper();
    let job = keeper
        .submit(&hive_op("hive_check", json!({})))
        .await
        .expect("submit");
    sleep(Duration::from_secs(5)).await;
    assert_eq!(
        cluster.queen.load(),
        (1, 1),
        "the job waited for its client"
    );
    let run = follow(&keeper, job, |_| Flow::Continue).await;
    run.assert_done();
    assert_eq!(run.count("hive_check_step"), 10);
    assert_eq!(
        run.actions().last().map(String::as_str),
        Some("hive_check_complete")
    );
    let lines: Vec<_> = run.narrations().collect();
    assert_eq!((lines[0].seq, lines[0].action.as_str()), (0, "job_create"));
    assert!(
        lines[0].at_ms + 5_000 <= lines[1].at_ms,
        "job_create was buffered at creation, the rest came after the late connect\n{}",
        run.transcript()
    );
    cluster.settle("the late job").await;
}

/// A job that emits nothing but its create line and one data event (`worker_list` on a hive
/// without workers) still ends with its `done` marker — no idle timer needed.
async fn bug_06_a_job_that_emits_almost_nothing_still_ends_with_its_marker(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let run = cluster.run_settled(hive_op("worker_list", json!({}))).await;
    run.assert_done();
    run.assert_actions(&["data:worker_list"]);
}

/// A streamed job that is silent for 2.5 s (one slow download chunk) is not ended by any
/// idle timer: the stream carries every line and ends `done` only when the job completes.
async fn bug_06_a_job_silent_for_longer_than_2s_is_not_ended_early(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let run = cluster.run_settled(download("phi-2", 1, 2_500)).await;
    run.assert_done();
    run.assert_actions(&[
        "model_download_start",
        "model_download_progress",
        "model_download_complete",
    ]);
    assert_eq!(cluster.world.models(), ["phi-2", "tinyllama"]);
}

/// A failing job ends with `error` and the handler's message, never with `done`.
async fn bug_07_a_failed_job_ends_with_error_not_done(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let run = cluster
        .run_settled(hive_op("model_get", json!({"model": "nope"})))
        .await;
    assert_eq!(
        run.outcome,
        Outcome::Failed(format!("model not found: 'nope' on hive '{HIVE}'"))
    );
    let stop = hive_op("worker_stop", json!({"worker_id": "worker-9"}));
    cluster
        .run_settled(stop)
        .await
        .assert_failed("worker not found");
    let state = cluster.queen.recorder.states(&run.job.job_id);
    assert!(matches!(state.last(), Some(JobState::Failed(m)) if m.contains("model not found")));
}

/// Narration reading `[DONE]` — a token, a model name — is just narration: the stream ends
/// `done` only after every token and line of the job.
async fn bug_08_done_text_in_narration_does_not_end_stream(mode: Mode) {
    let cluster = Cluster::start_with(mode, &["[DONE]", "tinyllama"], |_| {}).await;
    let prompt = "[DONE] more words";
    let run = cluster.run_settled(infer("tinyllama", prompt, 7)).await;
    run.assert_done();
    assert_eq!(run.tokens(), expected_tokens(prompt, 7));
    assert_eq!(run.tokens().iter().filter(|t| *t == "[DONE]").count(), 3);
    assert_eq!(
        run.actions().last().map(String::as_str),
        Some("infer_complete")
    );

    let run = cluster.run_settled(hive_op("model_list", json!({}))).await;
    run.assert_done();
    assert_eq!(run.human("model_list_entry"), ["[DONE]", "tinyllama"]);
    assert_eq!(
        run.actions().last().map(String::as_str),
        Some("model_list_complete")
    );
}

/// Cancels a running slow download from another task once two progress lines arrived;
/// returns the stream the keeper saw (which must end `cancelled`).
async fn cancel_mid_download(cluster: &Cluster) -> Run {
    let keeper = cluster.keeper();
    let job = keeper
        .submit(&download("phi-2", CHUNKS, INTERVAL_MS))
        .await
        .expect("submit");
    let (progressed, follower) = follow_in_background(&keeper, &job, "model_download_progress", 2);
    progressed.await.expect("the download progressed");
    let reply = keeper.cancel(&job.job_id).await.expect("DELETE");
    assert_eq!(
        reply,
        json!({"job_id": job.job_id.as_str(), "state": "cancelled"})
    );
    let run = follower.await.expect("follower");
    assert_eq!(run.outcome, Outcome::Cancelled, "{}", run.transcript());
    assert!(run.count("model_download_progress") < CHUNKS as usize);
    assert_eq!(run.count("model_download_complete"), 0);
    run
}

/// DELETE of a running download ends its stream `cancelled`, and the download cannot
/// complete afterwards: past its schedule the model is still not listed.
async fn bug_11_late_completion_cannot_overwrite_a_cancel(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let submitted = Instant::now();
    let run = cancel_mid_download(&cluster).await;
    cluster.settle("the cancel").await;
    assert_cancelled(&cluster.queen, &run.job.job_id);
    sleep_until(past_completion(submitted)).await;
    let list = cluster.run_settled(hive_op("model_list", json!({}))).await;
    assert_eq!(list.data("model_list"), [&json!({"models": ["tinyllama"]})]);
    assert_cancelled(&cluster.queen, &run.job.job_id);
}

/// Cancelling the queen job of a forwarded download reaches the hive: the hive job is
/// cancelled and the hive's hub and registry go back to 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_11_queen_cancel_reaches_the_hive() {
    let cluster = Cluster::start(Mode::Distributed).await;
    let hive = cluster.hive.as_ref().expect("distributed");
    let run = cancel_mid_download(&cluster).await;
    let hive_job = cluster.hive_job_of(&run.job.job_id);
    hive.settle("the queen's cancel").await;
    assert_cancelled(hive, &hive_job);
    assert_eq!(hive.recorder.executions(&hive_job), 1);
    cluster.settle("the queen's cancel").await;
}

/// A keeper whose connection breaks mid-stream reports `lost` (never success), and the
/// server treats it as a disconnect: the job is cancelled on queen and hive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keeper_whose_connection_breaks_sees_lost_and_the_job_is_cancelled() {
    let cluster = Cluster::start(Mode::Distributed).await;
    let link = Proxy::start(cluster.queen.endpoint.clone()).await;
    let keeper = Keeper::new(Arc::new(TcpDial), link.endpoint.clone());
    let run = cut_mid_download(&keeper, &link).await;
    assert!(
        matches!(run.outcome, Outcome::Lost(_)),
        "{}",
        run.transcript()
    );
    assert_ne!(run.outcome.exit_code(), 0);
    cluster.settle("a broken keeper link").await;
    assert_cancelled(&cluster.queen, &run.job.job_id);
    assert_cancelled(
        cluster.hive.as_ref().expect("hive"),
        &cluster.hive_job_of(&run.job.job_id),
    );
}

/// A worker outlives the job that spawned it and keeps narrating with that job's id
/// (docs/spec.md §2, `worker_spawn`). Its lines after the job ended have no channel: they are
/// dropped and counted on the process that runs the worker, and never reach the stream of
/// another job running there at the time (a global or "nearest" channel would deliver
/// them: historical bug 2's cross-talk).
async fn bug_02_a_worker_outliving_its_job_narrates_into_no_other_job(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let keeper = cluster.keeper();
    let long = tokio::spawn(async move { run(&keeper, download("phi-2", 40, 25)).await });
    sleep(Duration::from_millis(50)).await;
    let spawn = cluster
        .run(hive_op("worker_spawn", json!({"model": "tinyllama"})))
        .await;
    spawn.assert_done();
    let download = long.await.expect("download task");
    download.assert_done();
    for run in [&spawn, &download] {
        assert_eq!(run.count("worker_log"), 0, "{}", run.transcript());
    }
    let worker_host = cluster.hive.as_ref().unwrap_or(&cluster.queen);
    let job_of_worker = match mode {
        Mode::Distributed => cluster.hive_job_of(&spawn.job.job_id),
        Mode::Integrated => spawn.job.job_id.clone(),
    };
    eventually("both late worker lines are dropped", || {
        worker_host
            .recorder
            .dropped_without_channel("worker_log")
            .len()
            == rbee::hive::WORKER_LOG_AFTER_MS.len()
    })
    .await;
    assert!(worker_host
        .recorder
        .dropped_without_channel("worker_log")
        .iter()
        .all(|job| *job == job_of_worker));
    cluster.settle("both jobs").await;
}

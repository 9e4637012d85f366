//! Narration as the wire shows it (docs/spec.md §3) and as the process log shows it (§5).

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

/// Handler narration is also emitted as `tracing` events with target `rbee::narration`,
/// carrying the job id, actor and action, so it can be asserted on with `tracing-test`.
///
/// Current-thread runtime: every task (servers, executor, keeper) is polled inside the
/// test's span, so `logs_assert` attributes the lines to this test.
#[tracing_test::traced_test]
#[tokio::test]
async fn narration_is_traced_under_rbee_narration_with_its_job_id() {
    let cluster = Cluster::start(Mode::Integrated).await;
    let run = cluster.run_settled(hive_op("model_list", json!({}))).await;
    run.assert_done();
    let job = run.job.job_id.to_string();
    logs_assert(|lines: &[&str]| {
        let ours: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.contains("rbee::narration") && l.contains(&job))
            .collect();
        let with = |needles: &[&str]| {
            ours.iter()
                .filter(|l| needles.iter().all(|n| l.contains(n)))
                .count()
        };
        let start = [
            "INFO",
            "Listing models on hive 'hive-a'",
            "actor=\"hive\"",
            "model_list_start",
        ];
        if with(&start) != 1 {
            return Err(format!("no model_list_start line in {ours:#?}"));
        }
        for action in ["model_list_entry", "model_list_complete"] {
            if with(&[action]) != 1 {
                return Err(format!("no {action} line in {ours:#?}"));
            }
        }
        if with(&["DEBUG", "model_list", "tinyllama"]) < 1 {
            return Err(format!("no data line in {ours:#?}"));
        }
        Ok(())
    });
}

/// On the wire every event is one `event:` + one single-line `data:`; narration and data
/// carry `id: <seq>` and exactly the JSON fields of docs/spec.md §3; `event: done` / `data: [DONE]`
/// appears exactly once, last — tokens reading `[DONE]` travel inside JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_format_is_single_line_events_with_one_terminal_last() {
    let cluster = Cluster::start(Mode::Distributed).await;
    let job = cluster
        .keeper()
        .submit(&infer("tinyllama", "[DONE] more words", 5))
        .await
        .expect("submit");
    let stream = open_stream(&cluster.queen.endpoint, job.job_id.as_str()).await;
    assert_eq!(stream.status.as_u16(), 200);
    let body = stream.bytes().await.expect("the stream reads to its end");
    let text = std::str::from_utf8(&body).expect("UTF-8");
    let (events, _) = parse_sse(text);
    let (last, rest) = events.split_last().expect("events");
    assert_eq!(
        (last.event.as_str(), last.data.as_slice(), &last.id),
        ("done", &["[DONE]".to_owned()][..], &None)
    );
    assert_eq!(text.matches("data: [DONE]\n").count(), 1, "{text}");
    let narration = ["seq", "job_id", "actor", "action", "human", "at_ms"];
    let data = ["seq", "job_id", "action", "payload"];
    for (seq, event) in rest.iter().enumerate() {
        assert_eq!(event.data.len(), 1, "{event:?}");
        let json: Value = serde_json::from_str(&event.data[0]).expect("JSON data line");
        let keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = match event.event.as_str() {
            "narration" => narration.to_vec(),
            "data" => data.to_vec(),
            other => panic!("unexpected event {other:?} in {text}"),
        };
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(json["seq"], json!(seq));
        assert_eq!(event.id.as_deref(), Some(seq.to_string().as_str()));
        assert_eq!(json["job_id"], json!(job.job_id.as_str()));
    }
    let tokens = rest
        .iter()
        .filter(|e| e.event == "data" && e.data[0].contains(r#""token":"[DONE]""#))
        .count();
    assert_eq!(tokens, 2, "[DONE] more words [DONE] more");
    cluster.settle("the raw stream").await;
}

/// An idle stream carries `: keep-alive` comments at the node's keep-alive interval (50 ms
/// here), and a keeper reading it still ends `done`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_streams_carry_keep_alive_comments() {
    let cluster = Cluster::start_with(Mode::Distributed, &["tinyllama"], |c| {
        c.keep_alive = Duration::from_millis(50);
    })
    .await;
    let job = cluster
        .keeper()
        .submit(&download("phi-2", 2, 400))
        .await
        .expect("submit");
    let opened = tokio::time::Instant::now();
    let stream = open_stream(&cluster.queen.endpoint, job.job_id.as_str()).await;
    let body = stream.bytes().await.expect("the stream reads to its end");
    let elapsed_ms = opened.elapsed().as_millis();
    let text = std::str::from_utf8(&body).expect("UTF-8");
    let (events, comments) = parse_sse(text);
    assert!(
        comments >= 4,
        "{comments} keep-alive comments in 800 ms:\n{text}"
    );
    // At the interval, not faster: no more than one comment per 50 ms of stream.
    assert!(
        comments as u128 <= elapsed_ms / 50 + 1,
        "{comments} keep-alive comments in {elapsed_ms} ms"
    );
    assert!(text.contains(": keep-alive\n"), "{text}");
    assert_eq!(events.last().map(|e| e.event.as_str()), Some("done"));

    let run = cluster.run_settled(download("phi-3", 2, 400)).await;
    run.assert_done();
}

//! One full job per operation, checked against its narration contract (docs/spec.md §2), in both
//! distributed and integrated mode: the keeper-visible stream must be the same.

use crate::harness::*;
use rbee::hive::expected_tokens;
use serde_json::json;

both_modes!(
    status,
    hive_check,
    model_list,
    model_list_of_an_empty_catalogue,
    model_get,
    model_download,
    model_delete,
    worker_spawn_list_stop,
    worker_install,
    infer,
);

/// Checks the plumbing around an operation's narration: hive lines carry the hive's actor,
/// `at_ms` never goes backwards, and the job executed once on the queen and (distributed)
/// once on the hive, whose `job_create` line the queen relayed.
fn assert_ran_once(cluster: &Cluster, run: &Run) {
    let id = &run.job.job_id;
    assert_eq!(cluster.queen.recorder.executions(id), 1);
    let mut at_ms = 0;
    for n in run.narrations() {
        assert!(
            n.at_ms >= at_ms,
            "at_ms went backwards\n{}",
            run.transcript()
        );
        at_ms = n.at_ms;
    }
    let forwarded = run.human("forward");
    if let Some(hive) = &cluster.hive {
        let hive_job = cluster.hive_job_of(id);
        assert_eq!(hive.recorder.executions(&hive_job), 1);
        assert_eq!(forwarded.len(), 1, "{}", run.transcript());
        assert!(forwarded[0].contains(&hive.endpoint.to_string()));
        let relayed_create: Vec<_> = run
            .narrations()
            .filter(|n| n.action == "job_create" && n.actor == "hive")
            .collect();
        assert_eq!(relayed_create.len(), 1, "{}", run.transcript());
        assert!(relayed_create[0].human.contains(hive_job.as_str()));
    } else {
        assert!(forwarded.is_empty(), "integrated mode forwards nothing");
    }
}

/// Narration lines of the hive's handlers, with the hive's actor in both modes.
fn assert_hive_actor(run: &Run) {
    for n in run
        .narrations()
        .filter(|n| n.action != "job_create" && n.action != "forward")
    {
        assert_eq!(n.actor, "hive", "{}", run.transcript());
    }
}

/// `status` runs on the queen: one line per known hive, then a summary.
async fn status(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let run = cluster.run_settled(json!({"operation": "status"})).await;
    run.assert_done();
    run.assert_actions(&["status_hive", "status_summary"]);
    let line = run.human("status_hive")[0];
    let how = match &cluster.hive {
        Some(hive) => format!("hive '{HIVE}': remote at {}", hive.endpoint),
        None => format!("hive '{HIVE}': local (integrated)"),
    };
    assert_eq!(line, how);
    assert_eq!(run.human("status_summary"), ["1 hive(s) known"]);
    assert_eq!(cluster.queen.recorder.executions(&run.job.job_id), 1);
    if let Some(hive) = &cluster.hive {
        assert_eq!(hive.recorder.created(), [], "status is not forwarded");
    }
}

/// `hive_check`: start, ten numbered check lines, complete.
async fn hive_check(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let run = cluster.run_settled(hive_op("hive_check", json!({}))).await;
    run.assert_done();
    let mut expected = vec!["hive_check_start"];
    expected.extend(["hive_check_step"; 10]);
    expected.push("hive_check_complete");
    run.assert_actions(&expected);
    for (i, line) in run.human("hive_check_step").iter().enumerate() {
        assert!(line.starts_with(&format!("[{}/10] ", i + 1)), "{line}");
    }
    assert_hive_actor(&run);
    assert_ran_once(&cluster, &run);
}

/// `model_list`: start, one line per model, a `data` event `{"models": [...]}`, complete.
async fn model_list(mode: Mode) {
    let cluster = Cluster::start_with(mode, &["tinyllama", "phi-2"], |_| {}).await;
    let run = cluster.run_settled(hive_op("model_list", json!({}))).await;
    run.assert_done();
    run.assert_actions(&[
        "model_list_start",
        "model_list_entry",
        "model_list_entry",
        "data:model_list",
        "model_list_complete",
    ]);
    assert_eq!(run.human("model_list_entry"), ["phi-2", "tinyllama"]);
    assert_eq!(
        run.data("model_list"),
        [&json!({"models": ["phi-2", "tinyllama"]})]
    );
    assert_eq!(run.human("model_list_complete"), ["Found 2 model(s)"]);
    assert_hive_actor(&run);
    assert_ran_once(&cluster, &run);
}

/// `model_list` of an empty catalogue says so and still sends `{"models": []}`.
async fn model_list_of_an_empty_catalogue(mode: Mode) {
    let cluster = Cluster::start_with(mode, &[], |_| {}).await;
    let run = cluster.run_settled(hive_op("model_list", json!({}))).await;
    run.assert_done();
    run.assert_actions(&[
        "model_list_start",
        "model_list_empty",
        "data:model_list",
        "model_list_complete",
    ]);
    assert_eq!(run.data("model_list"), [&json!({"models": []})]);
}

/// `model_get`: found + details for a present model; a job error "model not found" (and no
/// "found" line) for an absent one.
async fn model_get(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let run = cluster
        .run_settled(hive_op("model_get", json!({"model": "tinyllama"})))
        .await;
    run.assert_done();
    run.assert_actions(&["model_get_found", "model_get_details"]);
    let details = run.human("model_get_details")[0];
    assert!(
        details.starts_with("tinyllama: ") && details.contains("MiB"),
        "{details}"
    );
    assert_ran_once(&cluster, &run);

    let run = cluster
        .run_settled(hive_op("model_get", json!({"model": "nope"})))
        .await;
    run.assert_failed("model not found");
    run.assert_failed("'nope'");
    run.assert_actions(&[]);
}

/// `model_download`: start, exactly `chunks` progress lines `interval_ms` apart, complete;
/// the model is then listed; downloading it again is a job error.
async fn model_download(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let run = cluster.run_settled(download("phi-2", 4, 20)).await;
    run.assert_done();
    let mut expected = vec!["model_download_start"];
    expected.extend(["model_download_progress"; 4]);
    expected.push("model_download_complete");
    run.assert_actions(&expected);
    let progress: Vec<_> = run
        .narrations()
        .filter(|n| n.action == "model_download_progress")
        .collect();
    for (i, n) in progress.iter().enumerate() {
        let pct = (i + 1) * 25;
        assert!(
            n.human.ends_with(&format!("chunk {}/4 ({pct}%)", i + 1)),
            "{}",
            n.human
        );
    }
    if mode == Mode::Integrated {
        // Emitted on the queen's own clock, 20 ms apart (relayed lines are stamped on arrival).
        let span = progress[3].at_ms - progress[0].at_ms;
        assert!(span >= 60, "3 intervals of 20 ms took {span} ms");
    }
    assert_ran_once(&cluster, &run);
    assert_eq!(cluster.world.models(), ["phi-2", "tinyllama"]);

    let list = cluster.run_settled(hive_op("model_list", json!({}))).await;
    assert_eq!(
        list.data("model_list"),
        [&json!({"models": ["phi-2", "tinyllama"]})]
    );

    let again = cluster.run_settled(download("phi-2", 4, 20)).await;
    again.assert_failed("already present");
    again.assert_actions(&[]);
}

/// `model_delete`: start, complete; the model is gone; deleting it again is "model not found".
async fn model_delete(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let op = hive_op("model_delete", json!({"model": "tinyllama"}));
    let run = cluster.run_settled(op.clone()).await;
    run.assert_done();
    run.assert_actions(&["model_delete_start", "model_delete_complete"]);
    assert_ran_once(&cluster, &run);
    assert!(cluster.world.models().is_empty());

    let again = cluster.run_settled(op).await;
    again.assert_failed("model not found");
    again.assert_actions(&["model_delete_start"]);
}

/// `worker_spawn` (start, the worker's start-up lines, port, complete), `worker_list` (a
/// line per worker and a `data` event) and `worker_stop` (stop, complete) agree on one
/// worker; absent models and workers are job errors.
async fn worker_spawn_list_stop(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let spawn = cluster
        .run_settled(hive_op("worker_spawn", json!({"model": "tinyllama"})))
        .await;
    spawn.assert_done();
    let startup = rbee::hive::WORKER_STARTUP_LINES as usize;
    let mut expected = vec!["worker_spawn_start"];
    expected.extend(std::iter::repeat_n("worker_startup", startup));
    expected.extend(["worker_spawn_port", "worker_spawn_complete"]);
    spawn.assert_actions(&expected);
    assert_eq!(
        spawn.human("worker_spawn_port"),
        ["Worker 'worker-1' listens on port 9001"]
    );
    assert_ran_once(&cluster, &spawn);

    let list = cluster.run_settled(hive_op("worker_list", json!({}))).await;
    list.assert_done();
    list.assert_actions(&["worker_list_entry", "data:worker_list"]);
    let worker = json!({"worker_id": "worker-1", "model": "tinyllama", "port": 9001});
    assert_eq!(list.data("worker_list"), [&json!({"workers": [worker]})]);

    let stop = hive_op("worker_stop", json!({"worker_id": "worker-1"}));
    let run = cluster.run_settled(stop.clone()).await;
    run.assert_done();
    run.assert_actions(&["worker_stop", "worker_stop_complete"]);

    let list = cluster.run_settled(hive_op("worker_list", json!({}))).await;
    list.assert_actions(&["data:worker_list"]);
    assert_eq!(list.data("worker_list"), [&json!({"workers": []})]);

    cluster
        .run_settled(stop)
        .await
        .assert_failed("worker not found");
    let absent = cluster
        .run_settled(hive_op("worker_spawn", json!({"model": "nope"})))
        .await;
    absent.assert_failed("model not found");
}

/// `worker_install`: start, exactly `lines` numbered build-log lines in order, complete.
async fn worker_install(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let run = cluster
        .run_settled(hive_op("worker_install", json!({"lines": 25})))
        .await;
    run.assert_done();
    let mut expected = vec!["worker_install_start"];
    expected.extend(["worker_install_log"; 25]);
    expected.push("worker_install_complete");
    run.assert_actions(&expected);
    for (i, line) in run.human("worker_install_log").iter().enumerate() {
        assert!(line.ends_with(&format!("({}/25)", i + 1)), "{line}");
    }
    assert_hive_actor(&run);
    assert_ran_once(&cluster, &run);
}

/// `infer`: start, exactly `max_tokens` `token` data events carrying the prompt's words
/// cyclically (16 by default), complete; an absent model is "model not found".
async fn infer(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let prompt = "the quick brown fox";
    let run = cluster
        .run_settled(crate::harness::infer("tinyllama", prompt, 10))
        .await;
    run.assert_done();
    let mut expected = vec!["infer_start"];
    expected.extend(["data:token"; 10]);
    expected.push("infer_complete");
    run.assert_actions(&expected);
    assert_eq!(run.tokens(), expected_tokens(prompt, 10));
    let indexes: Vec<_> = run
        .data("token")
        .iter()
        .map(|p| p["index"].clone())
        .collect();
    assert_eq!(indexes, (0..10).map(|i| json!(i)).collect::<Vec<_>>());
    assert_ran_once(&cluster, &run);

    let default = hive_op("infer", json!({"model": "tinyllama", "prompt": "a b c"}));
    let run = cluster.run_settled(default).await;
    run.assert_done();
    assert_eq!(run.tokens(), expected_tokens("a b c", 16));

    let absent = cluster
        .run_settled(crate::harness::infer("nope", prompt, 3))
        .await;
    absent.assert_failed("model not found");
    assert_eq!(absent.count("token"), 0);
}

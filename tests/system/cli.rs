//! The `rbee` binary as a keeper: it prints narration and its exit code tells the outcome
//! (0 done, 1 error or refused, 2 cancelled, 3 connection lost, 64 usage error).

use crate::harness::{Cluster, Mode, HIVE};
use tokio::process::Command;

async fn rbee(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rbee"))
        .args(args)
        .output()
        .await
        .expect("rbee runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Proves `rbee model ls` prints the job's narration and exits 0 on done, and a failing job
/// exits 1 with its message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeper_cli_exit_codes_follow_the_outcome() {
    let cluster = Cluster::start(Mode::Integrated).await;
    let queen = cluster.queen.endpoint.to_string();
    let (code, out, _) = rbee(&["model", "ls", "--hive", HIVE, "--queen", &queen]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("model_list_start") && out.contains("tinyllama") && out.ends_with("done\n"),
        "{out}"
    );
    let (code, out, _) = rbee(&["model", "get", "absent", "--hive", HIVE, "--queen", &queen]).await;
    assert_eq!(code, 1);
    assert!(out.contains("error: model not found"), "{out}");
    let (code, _, err) = rbee(&["model", "ls", "--hive", "nope", "--queen", &queen]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("404") && err.contains("unknown hive 'nope'"),
        "{err}"
    );
}

/// Proves an unreachable queen exits 3 (connection lost) and bad arguments exit 64.
#[tokio::test]
async fn unreachable_queen_and_usage_errors_have_their_own_codes() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let (code, _, err) = rbee(&["status", "--queen", &url]).await;
    assert_eq!(code, 3, "{err}");
    let (code, _, err) = rbee(&["job", "{not json", "--queen", &url]).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("not valid JSON"));
    assert_eq!(rbee(&["no-such-command"]).await.0, 64);
}

/// Proves `rbee model` and `rbee worker` without `--hive` are usage errors (64) that say
/// what to give, before any request (they used to ask the queen for a hive named
/// `localhost` and report its 404).
#[tokio::test]
async fn model_and_worker_commands_need_a_hive() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    for args in [
        &["model", "ls"][..],
        &["worker", "ls"],
        &["model", "get", "m"],
    ] {
        let (code, out, err) = rbee(&[args, &["--queen", &url]].concat()).await;
        assert_eq!(code, 64, "{args:?}: {err}");
        assert!(err.contains("needs --hive NAME"), "{args:?}: {err}");
        assert!(!err.contains("localhost"), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
}

/// Starts `rbee ARGS --listen 127.0.0.1:0` and returns the process (killed on drop) and
/// the address it printed on stderr.
async fn serve_process(args: &[&str]) -> (tokio::process::Child, rbee::dial::Endpoint) {
    use tokio::io::AsyncBufReadExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rbee"))
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("rbee starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Some(line) = lines.next_line().await.expect("stderr is readable") {
        if let Some(url) = line.strip_prefix("rbee listening on ") {
            return (child, rbee::dial::Endpoint::parse(url).expect("a URL"));
        }
    }
    panic!("rbee {args:?} exited without listening");
}

/// Proves `--ttl-ms` sets how long a never-streamed job lives in a hive and a queen
/// process: with 200 ms the stream request 600 ms after submitting gets 404 (the job
/// expired), with the default 60 s the same request streams the job to `done`; a TTL of 0
/// is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_ms_sets_when_a_never_streamed_job_expires() {
    use rbee::keeper::{Flow, Keeper, KeeperError, Outcome};
    let op = serde_json::json!({"operation": "model_list", "hive_id": "h"});
    let late_stream = |server: rbee::dial::Endpoint| {
        let op = op.clone();
        async move {
            let keeper = Keeper::new(std::sync::Arc::new(rbee::dial::TcpDial), server);
            let job = keeper.submit(&op).await.expect("submit");
            tokio::time::sleep(std::time::Duration::from_millis(600)).await;
            keeper.follow(&job, |_| Flow::Continue).await
        }
    };
    let (_hive, hive) = serve_process(&["hive", "--name", "h", "--ttl-ms", "200"]).await;
    match late_stream(hive.clone()).await {
        Err(KeeperError::Rejected { status: 404, .. }) => {}
        other => panic!("expected 404 from the hive, got {other:?}"),
    }
    let (_queen, queen) = serve_process(&["queen", "--local-hive", "h", "--ttl-ms", "200"]).await;
    match late_stream(queen).await {
        Err(KeeperError::Rejected { status: 404, .. }) => {}
        other => panic!("expected 404 from the queen, got {other:?}"),
    }
    let (_patient, patient) = serve_process(&["hive", "--name", "h"]).await;
    assert_eq!(late_stream(patient).await, Ok(Outcome::Done));
    let (code, _, err) = rbee(&[
        "hive",
        "--name",
        "h",
        "--listen",
        "127.0.0.1:0",
        "--ttl-ms",
        "0",
    ])
    .await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--ttl-ms"), "{err}");
}

/// Proves `--models ''` starts a hive with an empty catalogue (`rbee-sim real` passes a
/// scenario's `models = []` that way), where the default is `tinyllama`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_models_argument_means_no_models() {
    let (_hive, hive) = serve_process(&["hive", "--name", "h", "--models", ""]).await;
    let (code, out, _) = rbee(&["model", "ls", "--hive", "h", "--queen", &hive.to_string()]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("model_list_empty"), "{out}");
    assert!(out.contains(r#"{"models":[]}"#), "{out}");
}

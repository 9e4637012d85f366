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

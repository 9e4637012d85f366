//! The bug patches of `scripts/historical-bugs/` and `scripts/model-bugs/` still apply to
//! this tree. They are the evidence that each checker fires (docs/mutation.md,
//! `scripts/historical-bugs.sh`, `scripts/first-failure.sh`, `scripts/model-check.sh`): a
//! patch whose context the code moved away from is skipped by those scripts as "cannot
//! apply", and its bug silently stops being tried.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `git apply --check` of `patch` (a file's path, or `-` with `stdin`) in the repository
/// root: `None` if it applies, else git's message.
fn check(patch: &Path, stdin: Option<&str>) -> Option<String> {
    use std::io::Write;
    let mut child = Command::new("git")
        .args(["apply", "--check"])
        .arg(patch)
        .current_dir(root())
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("git runs (it is needed to try the bug patches)");
    if let Some(text) = stdin {
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(text.as_bytes()).expect("patch written");
    }
    let out = child.wait_with_output().expect("git finishes");
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

fn patches() -> Vec<PathBuf> {
    let mut all = Vec::new();
    for dir in ["scripts/historical-bugs", "scripts/model-bugs"] {
        let read = std::fs::read_dir(root().join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        all.extend(
            read.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "patch")),
        );
    }
    all.sort();
    all
}

/// Proves every bug patch applies to this tree, and that the check refuses a patch whose
/// context is gone (the way `bug09`, `det-b` and `time-c` once stopped applying when the
/// TTL and backoff timers moved to the perturber's clock).
#[test]
fn every_bug_patch_still_applies() {
    let all = patches();
    assert!(all.len() > 30, "{} patches found", all.len());
    let stale: Vec<String> = all
        .iter()
        .filter_map(|p| check(p, None).map(|e| format!("{}: {e}", p.display())))
        .collect();
    assert!(
        stale.is_empty(),
        "re-make these against the current code:\n{}",
        stale.join("\n")
    );

    let time_c = std::fs::read_to_string(
        root().join("scripts/historical-bugs/time-c-ttl-one-and-a-half.patch"),
    )
    .expect("time-c patch");
    let moved = time_c.replace(
        "node.perturb.sleep(ttl).await;",
        "tokio::time::sleep(ttl).await;",
    );
    assert_ne!(moved, time_c, "time-c's context names the TTL timer");
    let err =
        check(Path::new("-"), Some(&moved)).expect("a patch whose context is gone is refused");
    assert!(err.contains("src/node.rs"), "{err}");
}

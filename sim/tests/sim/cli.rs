//! The `rbee-sim` binary: exit codes, output shape, and hashes across processes.

use std::path::PathBuf;
use std::process::Command;

fn sim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rbee-sim"))
}

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn write_temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rbee-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Proves an invalid scenario exits 2 with `file:line: key: message` and runs nothing.
#[test]
fn an_invalid_scenario_exits_2_naming_file_line_and_key() {
    let cases = [
        ("unknown_key.toml", "name = \"x\"\nkeepers = [\"a\"]\ncolour = 1\n", ":3: `colour`"),
        (
            "unknown_host.toml",
            "name = \"x\"\nhives = [\"h\"]\nkeepers = [\"a\"]\n\n[[faults]]\nat_ms = 1\nkind = \"crash\"\nhost = \"nope\"\n",
            ":8: `host`: unknown host 'nope'",
        ),
        (
            "unknown_op.toml",
            "name = \"x\"\nhives = [\"h\"]\nkeepers = [\"a\"]\n\n[[jobs]]\nkeeper = \"a\"\noperation = \"fly\"\n",
            ":7: `operation`",
        ),
        (
            "unknown_keeper.toml",
            "name = \"x\"\nhives = [\"h\"]\nkeepers = [\"a\"]\n\n[[jobs]]\nkeeper = \"zed\"\noperation = \"status\"\n",
            ":6: `keeper`: unknown keeper 'zed'",
        ),
    ];
    for (name, text, needle) in cases {
        let path = write_temp(name, text);
        let out = sim().arg("replay").arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{}{needle}", path.display())),
            "{name}: {err}"
        );
        assert!(out.stdout.is_empty(), "{name}: ran something");
    }
}

/// Proves two separate processes print the same `trace <hash>` last line for a seed, and
/// that `--check-determinism` passes.
#[test]
fn two_processes_print_the_same_trace_hash() {
    let file = repo("scenarios/basic_distributed.toml");
    let last_line = |extra: &[&str]| {
        let out = sim().arg("replay").arg(&file).args(extra).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        stdout.lines().last().unwrap().to_owned()
    };
    let a = last_line(&[]);
    assert!(a.starts_with("trace ") && a.len() == 6 + 32, "{a}");
    assert_eq!(a, last_line(&["--check-determinism"]));
    assert_ne!(a, last_line(&["--seed", "1"]));
}

/// Proves a violated `expect` exits 1 and prints the replay command.
#[test]
fn a_violation_exits_1_with_a_replay_line() {
    let text = "name = \"x\"\nhives = [\"h\"]\nkeepers = [\"a\"]\n\n[[jobs]]\nkeeper = \"a\"\noperation = \"model_get\"\nhive_id = \"h\"\nmodel = \"absent\"\nexpect = \"done\"\n";
    let path = write_temp("violation.toml", text);
    let out = sim().arg("replay").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("expect                 VIOLATED (1)"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("rbee-sim replay"));
}

/// Proves `replay --json` writes the `rbee-sim/replay` schema: the trace hash the text
/// prints, every invariant with its exercised count, each job's outcome.
#[test]
fn replay_json_carries_the_hash_the_verdicts_and_the_outcomes() {
    let file = repo("scenarios/basic_distributed.toml");
    let json = std::env::temp_dir().join(format!("rbee-replay-{}.json", std::process::id()));
    let out = sim()
        .arg("replay")
        .arg(&file)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["schema"], "rbee-sim/replay");
    assert_eq!(report["version"], 1);
    let hash = stdout
        .lines()
        .last()
        .unwrap()
        .strip_prefix("trace ")
        .unwrap();
    assert_eq!(report["trace_hash"], hash);
    assert_eq!(report["violated"], false);
    assert_eq!(
        report["invariants"]["isolation"]["violations"],
        serde_json::json!([])
    );
    assert!(
        report["invariants"]["no-panic"]["exercised"]
            .as_u64()
            .unwrap()
            > 0
    );
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 4);
    assert!(jobs.iter().all(|j| j["outcome"] == "done"), "{jobs:?}");
}

/// Proves determinism holds across processes at every tick size and with perturbation on:
/// two processes replaying the same perturbed scenario at 1, 2, 5 and 10 ms ticks print the
/// same trace hash, and each tick size gives a run of its own.
#[test]
fn every_tick_size_and_perturbation_replay_identically_in_two_processes() {
    let text = std::fs::read_to_string(repo("scenarios/perturbed_races_stay_correct.toml"))
        .expect("the perturbed scenario");
    let mut hashes = Vec::new();
    for tick in [1, 2, 5, 10] {
        let path = write_temp(
            &format!("perturbed-tick-{tick}.toml"),
            &format!("tick_ms = {tick}\n{text}"),
        );
        let hash = || {
            let out = sim().arg("replay").arg(&path).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "tick {tick}");
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .last()
                .unwrap()
                .to_owned()
        };
        let first = hash();
        assert_eq!(first, hash(), "tick {tick}: two processes, two traces");
        hashes.push(first);
    }
    hashes.sort();
    hashes.dedup();
    assert_eq!(
        hashes.len(),
        4,
        "tick sizes gave identical runs: {hashes:?}"
    );
}

/// Runs `rbee-sim ARGS`; returns the exit code, stdout and stderr.
fn run_sim(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let out = sim().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `rbee-sim` with string arguments.
fn run_str(args: &[&str]) -> (Option<i32>, String, String) {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    run_sim(&args)
}

/// Proves a mistyped job key is reported by the name it was written with, on its line,
/// with the key it resembles and the job keys besides the operation's fields (it used to
/// be the operation's "unknown field" list without `expect` or `at_ms`, or, for `keepr`,
/// "every job needs a keeper").
#[test]
fn a_mistyped_job_key_is_named_with_a_suggestion() {
    let head = "name = \"x\"\nhives = [\"h\"]\nkeepers = [\"a\"]\n\n[[jobs]]\n";
    let cases = [
        (
            "expekt.toml",
            format!("{head}keeper = \"a\"\noperation = \"status\"\nexpekt = \"done\"\n"),
            ":8: `expekt`: unknown key in a job; did you mean `expect`?",
        ),
        (
            "keepr.toml",
            format!("{head}keepr = \"a\"\noperation = \"status\"\n"),
            ":6: `keepr`: unknown key in a job; did you mean `keeper`?",
        ),
    ];
    for (name, text, needle) in cases {
        let path = write_temp(name, &text);
        let (code, stdout, stderr) = run_sim(&["replay".as_ref(), path.as_os_str()]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{}{needle}", path.display())),
            "{name}: {stderr}"
        );
        for listed in ["at_ms", "expect", "hive_id", "docs/scenario-format.md"] {
            assert!(
                stderr.contains(listed),
                "{name}: {listed} not named: {stderr}"
            );
        }
        assert!(stdout.is_empty(), "{name}: ran something");
    }
}

/// Proves every output path of `explore` and `replay` is tried before anything runs: an
/// `--out` that is a regular file (or lies under one) and a `--json` or `--timeline` in a
/// missing directory exit 2 naming the flag and the path, with nothing run or printed on
/// stdout (`explore --out FILE` used to exit 0 and write nothing; `--json` was found
/// unwritable only after every seed had run).
#[test]
fn unwritable_outputs_are_refused_before_anything_runs() {
    let file = write_temp("not-a-dir", "");
    let under = file.join("sub");
    let missing = file.with_file_name("no-such-dir").join("x.json");
    let scenario = repo("scenarios/basic_distributed.toml");
    let (seeds, explore) = (["--seeds", "3"], "explore");
    let cases: [(Vec<&std::ffi::OsStr>, &str, &std::path::Path); 5] = [
        (
            vec![
                explore.as_ref(),
                seeds[0].as_ref(),
                seeds[1].as_ref(),
                "--out".as_ref(),
                file.as_os_str(),
            ],
            "--out",
            &file,
        ),
        (
            vec![
                explore.as_ref(),
                seeds[0].as_ref(),
                seeds[1].as_ref(),
                "--out".as_ref(),
                under.as_os_str(),
            ],
            "--out",
            &under,
        ),
        (
            vec![
                explore.as_ref(),
                seeds[0].as_ref(),
                seeds[1].as_ref(),
                "--json".as_ref(),
                missing.as_os_str(),
            ],
            "--json",
            &missing,
        ),
        (
            vec![
                "replay".as_ref(),
                scenario.as_os_str(),
                "--timeline".as_ref(),
                missing.as_os_str(),
            ],
            "--timeline",
            &missing,
        ),
        (
            vec![
                "merge".as_ref(),
                scenario.as_os_str(),
                "--json".as_ref(),
                missing.as_os_str(),
            ],
            "--json",
            &missing,
        ),
    ];
    for (args, flag, path) in cases {
        let (code, stdout, stderr) = run_sim(&args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("error: cannot write {flag} {}: ", path.display())),
            "{args:?}: {stderr}"
        );
        assert!(stdout.is_empty(), "{args:?} ran: {stdout}");
    }
}

/// Proves an exploration that would run nothing is an error, not an empty success with a
/// table of never-hit probes: `--seeds 0`, and a range holding no seed of the shard.
#[test]
fn an_exploration_of_no_seeds_is_an_error() {
    let (code, stdout, stderr) = run_str(&["explore", "--seeds", "0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--seeds 0: nothing to run"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let (code, _, stderr) = run_str(&["explore", "--seeds", "1", "--shard", "3/4"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no seed of shard 3/4"), "{stderr}");
}

/// Proves `merge` refuses shards that do not make up their whole range, naming the ones
/// missing, unless `--allow-partial` (then it warns), and merges a complete set silently.
#[test]
fn merge_of_a_partial_shard_set_fails_unless_allowed() {
    let dir = write_temp("merge-keep", "").with_file_name("merge");
    std::fs::create_dir_all(&dir).unwrap();
    let shard = |i: u32| {
        let json = dir.join(format!("shard-{i}.json"));
        let (code, _, stderr) = run_sim(&[
            "explore".as_ref(),
            "--seeds".as_ref(),
            "2".as_ref(),
            "--jobs".as_ref(),
            "2".as_ref(),
            "--shard".as_ref(),
            format!("{i}/2").as_ref(),
            "--json".as_ref(),
            json.as_os_str(),
        ]);
        assert_eq!(code, Some(0), "{stderr}");
        json
    };
    let (a, b) = (shard(0), shard(1));
    let (code, stdout, stderr) = run_sim(&["merge".as_ref(), a.as_os_str()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("cover shard(s) 0/2 of seeds 0..2, not 1/2")
            && stderr.contains("--allow-partial"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    let (code, stdout, stderr) =
        run_sim(&["merge".as_ref(), a.as_os_str(), "--allow-partial".as_ref()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: the summaries cover shard(s) 0/2"),
        "{stderr}"
    );
    assert!(stdout.contains("seeds run              1"), "{stdout}");
    let (code, stdout, stderr) = run_sim(&["merge".as_ref(), a.as_os_str(), b.as_os_str()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(stdout.contains("seeds run              2"), "{stdout}");
}

/// Proves a scenario file that does not exist is named without a made-up line number
/// (it used to read `nope.toml:0: cannot read`).
#[test]
fn a_missing_scenario_file_is_named_without_a_line() {
    let (code, stdout, stderr) = run_str(&["replay", "no-such-scenario.toml"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("error: no-such-scenario.toml: cannot read the scenario file: "),
        "{stderr}"
    );
    assert!(!stderr.contains(":0:"), "{stderr}");
    assert!(stdout.is_empty());
}

/// Proves `replay` says where it wrote each file it was asked for (`--timeline` used to
/// write silently), on stderr, so stdout still ends with the trace line.
#[test]
fn replay_says_where_it_wrote_its_files() {
    let dir = write_temp("outputs-keep", "").with_file_name("outputs");
    std::fs::create_dir_all(&dir).unwrap();
    let (svg, jsonl, json) = (
        dir.join("run.svg"),
        dir.join("run.jsonl"),
        dir.join("run.json"),
    );
    let file = repo("scenarios/basic_distributed.toml");
    let (code, stdout, stderr) = run_sim(&[
        "replay".as_ref(),
        file.as_os_str(),
        "--timeline".as_ref(),
        svg.as_os_str(),
        "--trace".as_ref(),
        jsonl.as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    for (what, path) in [("timeline", &svg), ("trace", &jsonl), ("results", &json)] {
        assert!(
            stderr.contains(&format!("wrote the {what} to {}", path.display())),
            "{what}: {stderr}"
        );
        assert!(path.is_file(), "{} not written", path.display());
    }
    assert!(
        stdout.lines().last().unwrap().starts_with("trace "),
        "{stdout}"
    );
}

/// Proves a run in which every job ended `[DONE]` does not call `terminal` vacuous: it
/// checked each stream's one marker, and says only that no rare case was reached.
#[test]
fn terminal_is_not_called_vacuous_when_every_job_ended_done() {
    let file = repo("scenarios/basic_distributed.toml");
    let (code, stdout, _) = run_sim(&["replay".as_ref(), file.as_os_str()]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout.matches("outcome: done").count(), 4, "{stdout}");
    let terminal = stdout
        .lines()
        .find(|l| l.starts_with("terminal "))
        .expect("a terminal verdict");
    assert_eq!(
        terminal,
        "terminal               ok — no trigger reached (plain cases only)"
    );
    assert!(!stdout.contains("vacuous"), "{stdout}");
}

/// Proves `rbee-sim real` without an `rbee` beside it exits 2 with the command that builds
/// both binaries for its profile, before starting anything.
#[test]
fn real_without_rbee_beside_it_says_how_to_build_both() {
    let dir = write_temp("real-keep", "").with_file_name("release");
    std::fs::create_dir_all(&dir).unwrap();
    let alone = dir.join("rbee-sim");
    std::fs::copy(env!("CARGO_BIN_EXE_rbee-sim"), &alone).unwrap();
    let out = Command::new(&alone)
        .arg("real")
        .arg(repo("scenarios/basic_distributed.toml"))
        .env_remove("RBEE_BIN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot find the rbee binary at {}",
            dir.join("rbee").display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("`cargo build --release --workspace`"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let _ = std::fs::remove_file(&alone);
}

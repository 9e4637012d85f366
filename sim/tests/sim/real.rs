//! `rbee-sim real`: scenarios run against real `rbee` processes on loopback agree with the
//! simulator job by job — a real job agrees when some simulated run (one of K seeds at each
//! of two timings, on loopback-like links) produces it — and a planted difference shows up
//! as a fidelity difference with the closest simulated transcript as its diff.
//!
//! The scenarios include a race whose winner reality picks by microseconds (a listing
//! beside a spawn); faults fall ≥ 0.5 s from any chunk boundary, so those runs test the
//! proxy's faults rather than timing.
//!
//! The `rbee` binary comes from `$RBEE_BIN` or the target directory of this test, where
//! `cargo test --workspace` builds it; if it is missing it is built with cargo.

use rbee_sim::real::{self, compare, process::find_rbee, QueenSource, SimSide};
use rbee_sim::scenario::Scenario;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The `rbee` binary (built once per test process if missing).
fn rbee_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let sim = Path::new(env!("CARGO_BIN_EXE_rbee-sim"));
        find_rbee(sim)
            .or_else(|missing| {
                let dir = sim.parent().expect("a target directory");
                let profile = match dir.file_name().and_then(|n| n.to_str()) {
                    Some("debug") | None => "dev",
                    Some(other) => other,
                };
                let target = dir.parent().expect("a target root");
                let built = Command::new(option_env!("CARGO").unwrap_or("cargo"))
                    .args(["build", "-p", "rbee", "--bin", "rbee", "--profile", profile])
                    .arg("--target-dir")
                    .arg(target)
                    .status();
                match built {
                    Ok(s) if s.success() => find_rbee(sim),
                    _ => Err(format!("{missing}; building it failed too")),
                }
            })
            .unwrap_or_else(|e| panic!("{e}"))
    })
    .clone()
}

fn write_temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rbee-sim-real-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write scenario");
    path
}

/// Runs `file` for real and simulated; fails with the verdicts and diffs unless they agree.
fn assert_agrees(file: &Path) -> real::Outcome {
    let source = QueenSource::Spawn(rbee_bin());
    let loaded = real::load(file, &source).unwrap_or_else(|e| panic!("{e}"));
    let s = &loaded.scenario;
    let outcome =
        real::execute(s, &source, &SimSide::new(s.seed)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        outcome.agrees(),
        "{}:\n{}{}{}",
        file.display(),
        rbee_sim::report::transcripts(s, &outcome.real),
        real::verdict_table(&outcome.verdicts),
        compare::render(s, &outcome.comparison)
    );
    assert_eq!(outcome.comparison.agreeing.len(), s.jobs.len());
    outcome
}

/// Proves fault-free scenarios in both modes — concurrent jobs on two hives, jobs that
/// emit at once (integrated), failures, and relayed hive markers — give every job the
/// same events and outcome against real processes as in the simulator, and pass every
/// client-side invariant.
#[test]
fn fault_free_scenarios_agree_with_the_simulator() {
    for file in [
        "scenarios/basic_distributed.toml",
        "scenarios/bug01_subscribe_execute_race.toml",
        "scenarios/bug07_failures_are_reported_as_errors.toml",
        "scenarios/bug12_relay_interprets_hive_markers.toml",
    ] {
        assert_agrees(&repo(file));
    }
}

/// Proves a hive killed between two chunks and started again on its port gives the same
/// per-job result as the simulated crash: the download ends in an error after one
/// progress line, and the later listing shows only the initial catalogue.
#[test]
fn a_hive_crash_and_restart_agree_with_the_simulator() {
    let outcome = assert_agrees(&repo("scenarios/hive_crash_between_chunks.toml"));
    assert_eq!(outcome.comparison.agreeing[0].outcome, "error");
    assert_eq!(outcome.comparison.agreeing[1].outcome, "done");
}

/// Proves a hold on the queen–hive link, done by the harness's proxy, delays the stream
/// past the release (so it really held) and loses nothing, as in the simulator.
#[test]
fn a_held_link_through_the_proxy_agrees_with_the_simulator() {
    let file = write_temp(
        "hold.toml",
        r#"
name = "hold between queen and hive"
seed = 5
hives = ["hive-a"]
keepers = ["alice"]
run_for_ms = 20000

[[jobs]]
keeper = "alice"
operation = "model_download"
hive_id = "hive-a"
model = "phi-2"
chunks = 6
interval_ms = 100
expect = "done"

[[faults]]
at_ms = 300
kind = "hold"
between = ["queen", "hive-a"]

[[faults]]
at_ms = 1300
kind = "release"
between = ["queen", "hive-a"]
"#,
    );
    let outcome = assert_agrees(&file);
    let done_at = outcome.real.end();
    assert!(
        done_at >= 1300,
        "the hold delayed nothing: done at {done_at} ms"
    );
}

/// Proves a hold keeps bytes, not connects, in both worlds alike (`sim/src/link.rs`): the
/// queen's forward connects to the hive over the held link, its request waits, and the
/// partition that follows drops it, so the relay hears nothing and ends the job in an
/// error after its silence limit. A hold that kept the connect itself (turmoil's) let the
/// partition fail the connect instead, and the relay's retries reached the hive after the
/// repair: the job was done in the simulator and an error against real processes
/// (generated seed 234 with faults).
#[test]
fn a_connect_over_a_held_link_completes_and_a_partition_loses_its_request() {
    let file = write_temp(
        "held-connect.toml",
        r#"
name = "a connect over a held link"
seed = 5
hives = ["hive-a"]
keepers = ["alice"]
run_for_ms = 30000

[[jobs]]
keeper = "alice"
at_ms = 200
operation = "model_download"
hive_id = "hive-a"
model = "phi-2"
chunks = 2
interval_ms = 100

[[faults]]
at_ms = 100
kind = "hold"
between = ["queen", "hive-a"]

[[faults]]
at_ms = 500
kind = "partition"
between = ["queen", "hive-a"]

[[faults]]
at_ms = 700
kind = "repair"
between = ["queen", "hive-a"]

[[faults]]
at_ms = 900
kind = "release"
between = ["queen", "hive-a"]
"#,
    );
    let outcome = assert_agrees(&file);
    assert_eq!(outcome.comparison.agreeing[0].outcome, "error");
}

/// Proves a partition done by the proxy refuses new connections as turmoil's does (its
/// dropped SYN fails the connect at once): the queen's retries get through once the link
/// is repaired, so a job forwarded during the partition is done — in both runs alike, and
/// only after the repair.
#[test]
fn a_partition_through_the_proxy_refuses_connects_until_the_repair() {
    let file = write_temp(
        "partition.toml",
        r#"
name = "forwarding during a short partition"
seed = 6
hives = ["hive-a"]
keepers = ["alice"]
run_for_ms = 20000

[[jobs]]
keeper = "alice"
at_ms = 100
operation = "hive_check"
hive_id = "hive-a"
expect = "done"

[[faults]]
at_ms = 0
kind = "partition"
between = ["queen", "hive-a"]

[[faults]]
at_ms = 700
kind = "repair"
between = ["queen", "hive-a"]
"#,
    );
    let outcome = assert_agrees(&file);
    let done_at = outcome.real.end();
    assert!(
        (700..3000).contains(&done_at),
        "done at {done_at} ms: not held up by the partition, or stalled"
    );
}

const LIST_AND_INFER: &str = r#"
name = "a listing and an inference"
seed = 8
hives = ["hive-a"]
keepers = ["alice", "bob"]
run_for_ms = 20000

[[jobs]]
keeper = "alice"
operation = "model_list"
hive_id = "hive-a"
expect = "done"

[[jobs]]
keeper = "bob"
operation = "infer"
hive_id = "hive-a"
model = "tinyllama"
prompt = "one two"
max_tokens = 3
expect = "done"

[[jobs]]
keeper = "bob"
at_ms = 200
operation = "status"
expect = "done"
"#;

/// Proves a difference between reality and the simulator is still reported, per job, as a
/// fidelity difference: the simulated side gets one more model in its hive than the real
/// run (planted here, in the test, through the scenario each side is given), so no run of
/// the K seeds at any timing reproduces the listing job; its diff is against the closest simulated transcript,
/// names the job and shows the extra entry line and payload, and the other jobs agree.
#[test]
fn a_planted_difference_is_reported_as_a_fidelity_difference_with_a_diff() {
    let scenario = Scenario::parse("list.toml", LIST_AND_INFER).expect("valid");
    let real_trace = real::run::run(&scenario, &QueenSource::Spawn(rbee_bin())).expect("runs");
    let planted = Scenario {
        models: vec!["tinyllama".into(), "planted".into()],
        ..scenario.clone()
    };
    let side = SimSide::new(scenario.seed);
    let comparison = side.judge(&planted, &real_trace);
    assert_eq!(
        comparison.runs,
        side.run_list().collect::<Vec<_>>(),
        "every seed at every timing was tried before the job was called a difference"
    );
    assert_eq!(comparison.differing.len(), 1, "{comparison:#?}");
    let diff = &comparison.differing[0];
    assert_eq!(diff.index, 0);
    let closest = diff.run.expect("a closest run");
    assert!(
        diff.diff.contains(&format!(
            "--- simulated {closest} job #0 (alice, model_list)\n+++ real job #0 (alice, model_list)\n"
        )),
        "{}",
        diff.diff
    );
    assert!(
        diff.diff.contains("\n-narration hive model_list_entry\n"),
        "{}",
        diff.diff
    );
    assert!(
        diff.diff
            .contains("\n-data model_list {\"models\":[\"planted\",\"tinyllama\"]}\n"),
        "{}",
        diff.diff
    );
    let text = compare::render(&scenario, &comparison);
    assert!(
        text.contains(&format!("job #0 alice model_list: DIFFERS (fidelity difference: no simulated run of 100 produces it; closest: simulated {closest}, 3 line(s) differ)")),
        "{text}"
    );
    assert!(
        text.contains("job #1 bob infer: agrees (simulated seed "),
        "{text}"
    );
    assert!(text.contains("2 of 3 jobs agree"), "{text}");
}

/// Two keepers at the same millisecond: a worker spawned on hive-a and hive-a's workers
/// listed. Which reaches the hive first is a matter of microseconds on loopback, so the
/// listing shows the worker in some real runs and not in others.
const SPAWN_AND_LIST: &str = r#"
name = "a listing racing a spawn on one hive"
seed = 1
hives = ["hive-a"]
keepers = ["alice", "bob"]
run_for_ms = 10000

[[jobs]]
keeper = "alice"
operation = "worker_spawn"
hive_id = "hive-a"
model = "tinyllama"
expect = "done"

[[jobs]]
keeper = "bob"
operation = "worker_list"
hive_id = "hive-a"
expect = "done"
"#;

/// Proves a race that reality decides by microseconds agrees by reachability: a
/// `worker_list` racing a `worker_spawn` on one hive, run for real four times, agrees in
/// every run with some simulated run — the one that lists the worker when reality did,
/// one that does not when reality did not (the simulated side reaches both branches:
/// `real::simulated`'s unit tests).
#[test]
fn a_listing_racing_a_spawn_agrees_by_reachability() {
    let file = write_temp("spawn_and_list.toml", SPAWN_AND_LIST);
    let scenario = Scenario::parse("spawn_and_list.toml", SPAWN_AND_LIST).expect("valid");
    let side = SimSide::new(scenario.seed);
    let mut branches = Vec::new();
    for _ in 0..4 {
        let outcome = assert_agrees(&file);
        let list = &outcome.comparison.agreeing[1];
        assert_eq!(list.index, 1);
        let real_lines = compare::job_lines(&scenario, &outcome.real, 1);
        let replayed = compare::job_lines(&scenario, &side.run(&scenario, list.run), 1);
        assert_eq!(
            real_lines, replayed,
            "the run the report names reproduces the real listing"
        );
        branches.push(real_lines.iter().any(|l| l.contains("worker-1")));
    }
    eprintln!("the listing showed the worker in real runs: {branches:?}");
}

/// A process started by hand, killed when dropped.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `rbee ARGS --listen 127.0.0.1:0` and returns it with the URL it printed.
fn start_by_hand(args: &[&str]) -> (Started, String) {
    let mut child = Command::new(rbee_bin())
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("rbee starts");
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let started = Started(child);
    for line in lines.by_ref() {
        let line = line.expect("stderr is readable");
        if let Some(url) = line.strip_prefix("rbee listening on ") {
            let url = url.to_owned();
            #[allow(
                clippy::disallowed_methods,
                reason = "drains a real child process's stderr; no simulation involved"
            )]
            std::thread::spawn(move || lines.for_each(drop));
            return (started, url);
        }
    }
    panic!("rbee {args:?} exited without listening");
}

fn sim_cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rbee-sim"))
        .args(args)
        .env("RBEE_BIN", rbee_bin())
        .output()
        .expect("rbee-sim runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Proves `rbee-sim real FILE --queen URL` runs only the keepers against a queen and hive
/// started by hand and agrees with the simulator, honouring a keeper–queen hold in its own
/// proxy (the held job ends after the release); a crash it cannot inject into someone else's queen is refused with file, line
/// and key, exit 2, and nothing runs.
#[test]
fn staging_runs_the_keepers_against_a_queen_started_by_hand() {
    let (_hive, hive) = start_by_hand(&["hive", "--name", "hive-a"]);
    let (_queen, queen) = start_by_hand(&["queen", "--hive", &format!("hive-a={hive}")]);
    let hold = "\n[[faults]]\nat_ms = 100\nkind = \"hold\"\nbetween = [\"bob\", \"queen\"]\n\n[[faults]]\nat_ms = 600\nkind = \"release\"\nbetween = [\"bob\", \"queen\"]\n";
    let file = write_temp("staging.toml", &format!("{LIST_AND_INFER}{hold}"));
    let file = file.to_str().expect("utf-8 path");
    let (code, out, err) = sim_cli(&["real", file, "--queen", &queen]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains(&format!("real run against the queen at {queen}")),
        "{out}"
    );
    assert!(out.contains("3 of 3 jobs agree"), "{out}");
    // bob's status at 200 ms waited in his held link until the release at 600 ms.
    let status = out.split("-- job #2").nth(1).expect("job #2's transcript");
    let done_at: u64 = status
        .lines()
        .find(|l| l.ends_with("bob outcome: done"))
        .and_then(|l| l.trim_start().split("ms").next())
        .and_then(|t| t.parse().ok())
        .expect("an outcome line");
    assert!(done_at >= 600, "the hold delayed nothing: {status}");
    let crash = "\n[[faults]]\nat_ms = 100\nkind = \"crash\"\nhost = \"hive-a\"\n";
    let text = format!("{LIST_AND_INFER}{crash}");
    let line = text.lines().count();
    let file = write_temp("staging_crash.toml", &text);
    let file = file.to_str().expect("utf-8 path");
    let (code, out, err) = sim_cli(&["real", file, "--queen", &queen]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "{file}:{line}: `host`: a crash of hive-a needs processes"
        )),
        "{err}"
    );
    assert!(out.is_empty(), "ran something: {out}");
}

/// Proves the command's exit codes: 1 when a client-side invariant fails (a job expected
/// `done` that ends in an error, in both runs alike), 2 when the file is invalid or the
/// `rbee` binary cannot be found.
#[test]
fn the_command_exits_1_on_a_violation_and_2_when_it_cannot_run() {
    let text = "name = \"x\"\nhives = [\"h\"]\nkeepers = [\"a\"]\n\n[[jobs]]\nkeeper = \"a\"\noperation = \"model_get\"\nhive_id = \"h\"\nmodel = \"absent\"\nexpect = \"done\"\n";
    let file = write_temp("violation.toml", text);
    let file = file.to_str().expect("utf-8 path");
    let (code, out, err) = sim_cli(&["real", file]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(out.contains("expect                 VIOLATED (1)"), "{out}");
    assert!(out.contains("1 of 1 jobs agree"), "{out}");
    let bad = write_temp("bad.toml", "name = \"x\"\nkeepers = [\"a\"]\ncolour = 1\n");
    let bad = bad.to_str().expect("utf-8 path");
    let (code, out, err) = sim_cli(&["real", bad]);
    assert_eq!(code, Some(2));
    assert!(err.contains(&format!("{bad}:3: `colour`")), "{err}");
    assert!(out.is_empty());
    let out = Command::new(env!("CARGO_BIN_EXE_rbee-sim"))
        .args(["real", file])
        .env("RBEE_BIN", "/nonexistent/rbee")
        .output()
        .expect("rbee-sim runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RBEE_BIN=/nonexistent/rbee"));
}

/// Proves `rbee-sim real FILE --queen URL` with nothing listening at URL exits 2 with
/// `cannot reach the queen at URL: <reason>` before any job runs (no transcript, no
/// verdict naming a proxy port), instead of reporting a failure of rbee.
#[test]
fn an_unreachable_queen_exits_2_before_any_job_runs() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let queen = format!("http://127.0.0.1:{port}");
    let file = write_temp("unreachable.toml", LIST_AND_INFER);
    let file = file.to_str().expect("utf-8 path");
    let (code, out, err) = sim_cli(&["real", file, "--queen", &queen]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(
        err.contains(&format!("error: cannot reach the queen at {queen}: ")),
        "{err}"
    );
    assert!(err.contains("refused"), "{err}");
    assert!(out.is_empty(), "ran something: {out}");
    assert!(!err.contains("failure-form"), "{err}");
}

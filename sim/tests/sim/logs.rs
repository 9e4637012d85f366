//! `rbee-sim replay` logs in simulated time: off by default, host and simulated millisecond
//! on every line, byte-identical across processes, and named in a failure's replay line.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rbee-sim-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `rbee-sim replay <file> <args>` with `RUST_LOG` set to `rust_log` (or removed).
fn replay(file: &PathBuf, args: &[&str], rust_log: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rbee-sim"));
    cmd.arg("replay").arg(file).args(args);
    match rust_log {
        Some(v) => cmd.env("RUST_LOG", v),
        None => cmd.env_remove("RUST_LOG"),
    };
    cmd.output().unwrap()
}

/// Proves `--log FILE` (default filter `rbee=debug`) writes the same bytes in two separate
/// processes, that each line names its host and a simulated time, that queen and hive
/// lines interleave, and that logging changes nothing the replay prints on stdout.
#[test]
fn two_replays_write_byte_identical_logs_in_simulated_time() {
    let file = repo("scenarios/basic_distributed.toml");
    let (a, b) = (temp("a.log"), temp("b.log"));
    let mut simulated_ms = 0;
    for path in [&a, &b] {
        let out = replay(&file, &["--log", path.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(0));
        // stderr: "simulated 747 ms in 12 ms of wall time"
        let stderr = String::from_utf8_lossy(&out.stderr);
        simulated_ms = stderr
            .split("simulated ")
            .nth(1)
            .and_then(|rest| rest.split(" ms").next())
            .and_then(|ms| ms.parse().ok())
            .expect("replay reports the simulated time");
    }
    let (a, b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(a, b, "two runs of one file and seed logged different bytes");
    let text = String::from_utf8(a).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 20, "{text}");
    let mut hosts = Vec::new();
    let mut last_ms = 0;
    for line in &lines {
        // "     204ms  INFO node{name="queen"}: rbee::narration: …"
        let (ms, rest) = line.trim_start().split_once("ms ").expect(line);
        let ms: u64 = ms.parse().expect(line);
        assert!(ms >= last_ms, "time went backwards: {line}");
        last_ms = ms;
        let host = rest
            .split_once("node{name=\"")
            .and_then(|(_, h)| h.split_once('"'))
            .map(|(h, _)| h)
            .expect(line);
        assert!(rest.contains(": rbee::"), "{line}");
        if hosts.last() != Some(&host) {
            hosts.push(host);
        }
    }
    // The queen's and the hives' lines alternate several times: one log, in time order.
    assert!(hosts.contains(&"queen") && hosts.contains(&"hive-a"));
    assert!(hosts.len() >= 4, "not interleaved: {hosts:?}");
    // Simulated, not wall time: the last line is near the end of the simulated run.
    assert!(
        (simulated_ms * 3 / 4..=simulated_ms).contains(&last_ms),
        "{last_ms} of {simulated_ms} ms"
    );
    let plain = replay(&file, &[], None);
    let logged = replay(&file, &["--log", temp("c.log").to_str().unwrap()], None);
    assert_eq!(plain.stdout, logged.stdout);
}

/// Proves logging is off unless asked for (stderr holds only the wall-time line), that
/// `RUST_LOG` alone logs to stderr with its own filter, and that a bad `RUST_LOG` is a
/// usage error (exit 2) naming it, before anything runs.
#[test]
fn rust_log_turns_logging_on_and_a_bad_filter_is_an_error() {
    let file = repo("scenarios/basic_distributed.toml");
    let off = replay(&file, &[], None);
    let stderr = String::from_utf8(off.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("simulated "), "{stderr}");

    let on = replay(&file, &[], Some("rbee::narration=info"));
    let stderr = String::from_utf8(on.stderr).unwrap();
    assert!(
        stderr.contains(" INFO node{name=\"hive-b\"}: rbee::narration: Generated 6 token(s)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("DEBUG"),
        "the filter was ignored: {stderr}"
    );
    assert_eq!(on.stdout, off.stdout);

    let bad = replay(&file, &[], Some("rbee=loud"));
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(
        stderr.starts_with("error: RUST_LOG=rbee=loud: "),
        "{stderr}"
    );
}

/// Proves a failing replay's replay line says how to get its log.
#[test]
fn a_failure_names_the_logging_option() {
    let path = temp("violation.toml");
    let text = "name = \"x\"\nhives = [\"h\"]\nkeepers = [\"a\"]\n\n[[jobs]]\nkeeper = \"a\"\noperation = \"model_get\"\nhive_id = \"h\"\nmodel = \"absent\"\nexpect = \"done\"\n";
    std::fs::write(&path, text).unwrap();
    let out = replay(&path, &[], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let want = format!(
        "(logs: RUST_LOG=rbee=debug rbee-sim replay {} --seed 0 --log run.log)",
        path.display()
    );
    assert!(stderr.contains(&want), "{stderr}");
}

/// Proves `explore`'s summary line for a failing seed says how to get the seed's log.
#[test]
fn an_explore_failure_line_names_the_logging_option() {
    use rbee_sim::explore::{summary, ExploreConfig, SeedResult};
    let scenario = rbee_sim::scenario::Scenario::parse(
        "seed-7.toml",
        "name = \"x\"\nseed = 7\nkeepers = [\"a\"]\n",
    )
    .unwrap();
    let cfg = ExploreConfig {
        from: 7,
        seeds: 1,
        shard: (0, 1),
        gen: rbee_sim::generate::GenConfig::default(),
        out: Some("out".into()),
        threads: 1,
        shrink_budget: rbee_sim::shrink::Budget::default(),
        guide: None,
        budget: None,
        recheck: rbee_sim::explore::Recheck::default(),
    };
    let shrunk = rbee_sim::shrink::Shrunk {
        scenario,
        runs: 4,
        complete: true,
        elapsed: std::time::Duration::ZERO,
    };
    let failed = SeedResult {
        seed: 7,
        violations: [("expect", 1)].into_iter().collect(),
        failure: Some((shrunk, Some("out/seed-7.toml".into()))),
        ..SeedResult::default()
    };
    let text = summary(&cfg, &[failed]);
    assert!(
        text.contains(
            "seed 7 failed (expect; shrunk to 0 job(s), 0 fault(s) after 4 run(s)): rbee-sim replay out/seed-7.toml  \
             (logs: RUST_LOG=rbee=debug rbee-sim replay out/seed-7.toml --log run.log)\n"
        ),
        "{text}"
    );
}

/// Proves the log excerpt that README.md quotes under "Logs in simulated time" is what
/// `rbee-sim replay scenarios/basic_distributed.toml --log FILE` writes, line for line (it
/// had fallen behind the log once the relay's timing moved).
#[test]
fn the_readme_log_excerpt_is_the_real_log() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let after = &readme[readme
        .find("Queen and hive lines interleave")
        .expect("the README's log section")..];
    let block = &after[after.find("```text\n").expect("a text block") + 8..];
    let excerpt: Vec<&str> = block[..block.find("```").expect("its end")]
        .lines()
        .collect();
    assert!(excerpt.len() >= 4, "{excerpt:?}");
    let log = temp("readme.log");
    let out = replay(
        &repo("scenarios/basic_distributed.toml"),
        &["--log", log.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for line in excerpt {
        assert!(
            lines.contains(&line),
            "README.md quotes a log line that the log does not have:\n{line}\n(the log: {})",
            log.display()
        );
    }
}

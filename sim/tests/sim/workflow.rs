//! The GitHub Actions workflow (`.github/workflows/ci.yml`) is checked here so it cannot rot
//! unnoticed: GitHub only reads it on GitHub, so a renamed script, a shard left out of the
//! matrix or a report path that no longer matches `.config/nextest.toml` would otherwise
//! show up only as a silently weaker CI. The checker reads the YAML's structure (jobs,
//! steps, matrix), not its text, and is shown to fire on mutated copies of the real file.

use std::path::Path;
use yaml_rust2::{Yaml, YamlLoader};

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The steps of a job (empty when it has none).
fn steps(job: &Yaml) -> &[Yaml] {
    job["steps"].as_vec().map_or(&[], Vec::as_slice)
}

/// A string field of a YAML map, or "" when absent or not a string.
fn text<'a>(node: &'a Yaml, key: &str) -> &'a str {
    node[key].as_str().unwrap_or("")
}

/// Whether a step's `if` lets it run after an earlier step failed.
fn runs_after_failure(step: &Yaml) -> bool {
    let cond = text(step, "if");
    ["always()", "failure()", "!cancelled()"]
        .iter()
        .any(|c| cond.contains(c))
}

/// Whether a job's `if` lets it run for both push and pull_request events.
fn runs_on_push_and_pr(job: &Yaml) -> bool {
    let cond = text(job, "if");
    cond.is_empty() || (cond.contains("'push'") && cond.contains("'pull_request'"))
}

/// The word following `flag` in `run`, without quotes: `--out DIR` gives `DIR`.
fn arg<'a>(run: &'a str, flag: &str) -> Option<&'a str> {
    let rest = run.split_once(&format!("{flag} "))?.1.trim_start();
    let word = rest.split_whitespace().next()?;
    Some(word.trim_matches('"'))
}

/// The N of `--shard "${{ matrix.shard }}/N"`, if the step shards over `matrix.shard`.
fn shard_count(run: &str) -> Option<u64> {
    let rest = run.split_once("--shard ")?.1.trim_start();
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let n = rest.strip_prefix("${{ matrix.shard }}/")?;
    n.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Every way `workflow` (the YAML text) falls short of what README.md promises of it, with
/// `nextest` the text of `.config/nextest.toml`; empty when it holds.
fn problems(workflow: &str, nextest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let doc = match YamlLoader::load_from_str(workflow) {
        Ok(docs) if docs.len() == 1 => docs.into_iter().next().unwrap_or(Yaml::Null),
        Ok(docs) => return vec![format!("want one YAML document, found {}", docs.len())],
        Err(e) => return vec![format!("ci.yml does not parse: {e}")],
    };
    let on = &doc["on"];
    for event in ["push", "pull_request", "workflow_dispatch"] {
        if on[event].is_badvalue() {
            out.push(format!("the workflow does not run on {event}"));
        }
    }
    let nightly = on["schedule"]
        .as_vec()
        .is_some_and(|s| s.iter().any(|e| !text(e, "cron").is_empty()));
    if !nightly {
        out.push("the workflow has no schedule with a cron".into());
    }
    let Some(jobs) = doc["jobs"].as_hash() else {
        out.push("the workflow has no jobs".into());
        return out;
    };
    let jobs: Vec<(&str, &Yaml)> = jobs
        .iter()
        .map(|(k, v)| (k.as_str().unwrap_or("?"), v))
        .collect();

    // Push / PR: `.ci/run`, and nextest's JUnit under a profile that exists.
    let ci_run = |s: &Yaml| {
        text(s, "run")
            .lines()
            .any(|l| matches!(l.trim(), ".ci/run" | "bash .ci/run"))
    };
    match jobs.iter().find(|(_, j)| steps(j).iter().any(ci_run)) {
        None => out.push("no job runs .ci/run".into()),
        Some((name, job)) if !runs_on_push_and_pr(job) => out.push(format!(
            "job {name} runs .ci/run but not on push and pull_request"
        )),
        Some(_) => {}
    }
    check_junit(&jobs, nextest, &mut out);

    // Nightly: explore sharded over a matrix covering 0..N once, failures uploaded.
    let explores = |s: &Yaml| text(s, "run").contains(" explore ");
    let Some((name, job)) = jobs.iter().find(|(_, j)| steps(j).iter().any(explores)) else {
        out.push("no job runs explore".into());
        return out;
    };
    if !text(job, "if").contains("'schedule'") {
        out.push(format!("job {name} runs explore but not on schedule"));
    }
    let run = steps(job)
        .iter()
        .find(|s| explores(s))
        .map_or("", |s| text(s, "run"));
    for flag in ["--faults", "--seeds"] {
        if !run.contains(flag) {
            out.push(format!("job {name} runs explore without {flag}"));
        }
    }
    if !steps(job)
        .iter()
        .any(|s| text(s, "run").contains("--release"))
    {
        out.push(format!(
            "job {name} does not build the simulator in release"
        ));
    }
    if job["strategy"]["fail-fast"].as_bool() != Some(false) {
        out.push(format!(
            "job {name} lacks fail-fast: false (one failing shard would cancel the others)"
        ));
    }
    match shard_count(run) {
        None => out.push(format!(
            "job {name}: explore is not run with --shard \"${{{{ matrix.shard }}}}/N\""
        )),
        Some(n) => {
            let mut shards: Vec<i64> = job["strategy"]["matrix"]["shard"]
                .as_vec()
                .map_or(Vec::new(), |v| v.iter().filter_map(Yaml::as_i64).collect());
            let listed = format!("{shards:?}");
            shards.sort_unstable();
            if shards != (0..n as i64).collect::<Vec<_>>() {
                out.push(format!(
                    "job {name}: matrix shard values {listed} do not cover 0..{n} exactly once"
                ));
            }
        }
    }
    let Some(dir) = arg(run, "--out") else {
        out.push(format!("job {name} runs explore without --out DIR"));
        return out;
    };
    let uploads = steps(job).iter().any(|s| {
        text(s, "uses").starts_with("actions/upload-artifact@")
            && text(&s["with"], "path").trim().trim_end_matches('/') == dir
            && runs_after_failure(s)
    });
    if !uploads {
        out.push(format!(
            "job {name}: no step uploads {dir} after a failing explore"
        ));
    }
    let summary = steps(job).iter().any(|s| {
        let r = text(s, "run");
        r.contains("GITHUB_STEP_SUMMARY")
            && r.contains(&format!("{dir}/summary.txt"))
            && r.contains(&format!("{dir}/seed-"))
            && runs_after_failure(s)
    });
    if !summary {
        out.push(format!(
            "job {name}: no step writes {dir}'s summary and seeds to the job summary after a failure"
        ));
    }
    out
}

/// The push / PR job runs `cargo nextest run --profile P`, P has a JUnit path in
/// `nextest.toml`, and a step that runs after failures publishes that file.
fn check_junit(jobs: &[(&str, &Yaml)], nextest: &str, out: &mut Vec<String>) {
    let nextest_run = |s: &Yaml| text(s, "run").contains("cargo nextest run");
    let Some((name, job)) = jobs.iter().find(|(_, j)| steps(j).iter().any(nextest_run)) else {
        out.push("no job runs cargo nextest run".into());
        return;
    };
    if !runs_on_push_and_pr(job) {
        out.push(format!(
            "job {name} runs nextest but not on push and pull_request"
        ));
    }
    let run = steps(job)
        .iter()
        .find(|s| nextest_run(s))
        .map_or("", |s| text(s, "run"));
    let Some(profile) = arg(run, "--profile") else {
        out.push(format!("job {name} runs nextest without --profile"));
        return;
    };
    let config: toml::Table = match nextest.parse() {
        Ok(t) => t,
        Err(e) => return out.push(format!(".config/nextest.toml does not parse: {e}")),
    };
    let junit = config
        .get("profile")
        .and_then(|p| p.get(profile))
        .and_then(|p| p.get("junit"))
        .and_then(|j| j.get("path"))
        .and_then(|p| p.as_str())
        .filter(|p| !p.is_empty());
    let Some(junit) = junit else {
        return out.push(format!(
            "nextest profile {profile} has no [profile.{profile}.junit] path in .config/nextest.toml"
        ));
    };
    let report = format!("target/nextest/{profile}/{junit}");
    let published = steps(job)
        .iter()
        .any(|s| text(&s["with"], "path").trim() == report && runs_after_failure(s));
    if !published {
        out.push(format!(
            "job {name}: no step publishes {report} after a failing run"
        ));
    }
}

/// Proves the committed workflow runs `.ci/run` on push and PR, publishes nextest's JUnit
/// from a profile that `.config/nextest.toml` defines, and runs `explore` nightly over a
/// matrix whose shards cover 0..N once, uploading and summarising failing seeds.
#[test]
fn the_workflow_runs_ci_run_explores_nightly_and_keeps_failures() {
    let problems = problems(
        &read(".github/workflows/ci.yml"),
        &read(".config/nextest.toml"),
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Proves each check fires: every mutation of the real workflow (or nextest config) below
/// is reported with its own message, and nothing else changes.
#[test]
fn the_workflow_check_fires_on_each_kind_of_breakage() {
    let yaml = read(".github/workflows/ci.yml");
    let toml = read(".config/nextest.toml");
    let cases: [(&str, &str, &str, &str); 9] = [
        (
            "yaml",
            "run: .ci/run",
            "run: cargo test",
            "no job runs .ci/run",
        ),
        (
            "yaml",
            "shard: [0, 1, 2, 3]",
            "shard: [0, 1, 1, 3]",
            "matrix shard values [0, 1, 1, 3] do not cover 0..4 exactly once",
        ),
        (
            "yaml",
            "matrix.shard }}/4\"",
            "matrix.shard }}/5\"",
            "do not cover 0..5 exactly once",
        ),
        (
            "yaml",
            "--shard \"${{ matrix.shard }}/4\"",
            "",
            "explore is not run with --shard",
        ),
        (
            "yaml",
            "fail-fast: false",
            "fail-fast: true",
            "lacks fail-fast: false",
        ),
        (
            "yaml",
            "Upload failing seeds\n        if: always()",
            "Upload failing seeds\n        if: success()",
            "no step uploads explore-out after a failing explore",
        ),
        (
            "yaml",
            "--profile ci",
            "--profile nightly",
            "nextest profile nightly has no [profile.nightly.junit] path",
        ),
        (
            "toml",
            "[profile.ci.junit]\npath = \"junit.xml\"",
            "",
            "nextest profile ci has no [profile.ci.junit] path",
        ),
        (
            "yaml",
            "  schedule:\n    - cron: \"17 3 * * *\"\n",
            "",
            "no schedule with a cron",
        ),
    ];
    for (file, from, to, want) in cases {
        let (y, t) = match file {
            "yaml" => (yaml.replacen(from, to, 1), toml.clone()),
            _ => (yaml.clone(), toml.replacen(from, to, 1)),
        };
        assert!(y != yaml || t != toml, "mutation {from:?} did not apply");
        let found = problems(&y, &t);
        assert!(
            found.len() == 1 && found[0].contains(want),
            "mutation {from:?} -> {to:?}: want one problem containing {want:?}, got {found:#?}"
        );
    }
    assert!(problems("jobs: [", &toml)[0].starts_with("ci.yml does not parse"));
}

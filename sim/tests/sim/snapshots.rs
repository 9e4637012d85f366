//! One insta snapshot per scenario (`snapshots/scenario@<file>.toml.snap`): what each keeper
//! saw, line by line, without simulated times or job ids, then outcomes and verdicts. A
//! change of narration reads there as a plain diff. Each scenario's trace hash — which a
//! change of timing alone changes — is pinned apart, one line per scenario, in
//! `snapshots/trace-hashes.txt`, so a timing change is a review of that one file.
//! `rbee-sim replay FILE` prints the timed transcript.
//!
//! Review snapshot changes with `cargo insta review`; accept hash changes with
//! `RBEE_UPDATE_TRACE_HASHES=1` (see [`HASHES`]). With `CI=true` a missing or changed
//! snapshot or hash fails the build. Each header names its own scenario as `input_file`,
//! checked here because insta rewrites a header only with its body.

use super::harness::run_it;
use rbee_sim::check::check_all;
use rbee_sim::coverage::hits;
use rbee_sim::report::{narration, plain_verdicts};
use rbee_sim::scenario::Scenario;
use rbee_sim::trace::Trace;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The pinned trace hashes, relative to the repository root.
const HASHES: &str = "snapshots/trace-hashes.txt";
/// Set to 1 to rewrite [`HASHES`] from this run (refused when `CI` is set).
const UPDATE: &str = "RBEE_UPDATE_TRACE_HASHES";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every scenario of `scenarios/` run once at its own seed, by file name: shared by the
/// transcript snapshots and the pinned hashes (each run costs as much as a replay).
fn runs() -> &'static BTreeMap<String, (Scenario, Trace)> {
    static RUNS: OnceLock<BTreeMap<String, (Scenario, Trace)>> = OnceLock::new();
    RUNS.get_or_init(|| {
        let dir = root().join("scenarios");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("scenarios/ exists")
            .map(|e| e.expect("readable").path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|path| {
                let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                let trace = run_it(&s);
                let name = path
                    .file_name()
                    .expect("a file")
                    .to_string_lossy()
                    .into_owned();
                (name, (s, trace))
            })
            .collect()
    })
}

/// Proves every scenario's narration transcript and verdicts match the reviewed snapshot.
#[test]
fn every_scenario_matches_its_reviewed_transcript() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::glob!("../../../scenarios", "*.toml", |path| {
            let name = path.file_name().expect("a file").to_string_lossy();
            let (s, trace) = &runs()[name.as_ref()];
            let text = format!(
                "{}{}",
                narration(s, trace),
                plain_verdicts(&check_all(s, trace), &hits(s, trace)),
            );
            insta::assert_snapshot!("scenario", text);
        });
    });
}

/// The text of [`HASHES`] for `hashes` (scenario file name to trace hash).
fn hashes_file(hashes: &BTreeMap<String, String>) -> String {
    let mut out = String::from(
        "# The trace hash of every scenario of scenarios/ at its own seed: the last line of\n\
         # `rbee-sim replay scenarios/FILE`. A change here while snapshots/*.snap stay as they\n\
         # are is a change of timing or scheduling only: keepers saw the same narration.\n\
         # Accept one with: RBEE_UPDATE_TRACE_HASHES=1 cargo test -p rbee-sim --test sim trace_hash\n",
    );
    for (file, hash) in hashes {
        out.push_str(&format!("{file} {hash}\n"));
    }
    out
}

/// Every way `pinned` (the text of [`HASHES`]) differs from `now`, one line each.
fn hash_problems(pinned: &str, now: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = BTreeMap::new();
    for (n, line) in pinned.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            [file, hash] => {
                seen.insert(file.to_owned(), hash.to_owned());
            }
            _ => out.push(format!(
                "line {}: want `<file> <hash>`, got `{line}`",
                n + 1
            )),
        }
    }
    for (file, hash) in now {
        match seen.get(file) {
            None => out.push(format!("{file}: not pinned (now {hash})")),
            Some(old) if old != hash => out.push(format!("{file}: pinned {old}, now {hash}")),
            Some(_) => {}
        }
    }
    for file in seen.keys().filter(|f| !now.contains_key(*f)) {
        out.push(format!("{file}: pinned, but there is no scenarios/{file}"));
    }
    out
}

/// Proves every scenario's trace hash is the one pinned in `snapshots/trace-hashes.txt`:
/// the same seed gives the same trace, and a change of timing is seen even when no
/// keeper's narration changed.
#[test]
fn every_scenario_has_its_pinned_trace_hash() {
    let now: BTreeMap<String, String> = runs()
        .iter()
        .map(|(file, (_, trace))| (file.clone(), trace.hash()))
        .collect();
    let path = root().join(HASHES);
    let pinned = std::fs::read_to_string(&path).unwrap_or_default();
    let problems = hash_problems(&pinned, &now);
    if problems.is_empty() {
        return;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if std::env::var(UPDATE).is_ok_and(|v| v == "1") && !ci {
        std::fs::write(&path, hashes_file(&now)).expect("write the hashes");
        eprintln!("{HASHES} rewritten:\n  {}", problems.join("\n  "));
        return;
    }
    panic!(
        "{HASHES} does not match this run:\n  {}\n\
         If the transcript snapshots pass, this is a change of timing or scheduling only: \
         review it and accept it with\n  \
         {UPDATE}=1 cargo test -p rbee-sim --test sim trace_hash\n\
         (never under CI=true), then commit {HASHES}.",
        problems.join("\n  ")
    );
}

/// Proves the hash check fires on a changed, a missing, an unknown and a malformed row,
/// passes the file it writes itself, and ignores comments.
#[test]
fn the_trace_hash_check_fires_on_every_kind_of_difference() {
    let now: BTreeMap<String, String> = [("a.toml", "11"), ("b.toml", "22")]
        .into_iter()
        .map(|(f, h)| (f.to_owned(), h.to_owned()))
        .collect();
    assert_eq!(
        hash_problems(&hashes_file(&now), &now),
        Vec::<String>::new()
    );
    let pinned = "# comment\na.toml 10\nc.toml 33\nnonsense\n";
    assert_eq!(
        hash_problems(pinned, &now),
        [
            "line 4: want `<file> <hash>`, got `nonsense`",
            "a.toml: pinned 10, now 11",
            "b.toml: not pinned (now 22)",
            "c.toml: pinned, but there is no scenarios/c.toml",
        ]
    );
}

/// Whether `name` in `snapshots/` is the pinned hashes rather than a snapshot.
fn is_hash_file(name: &str) -> bool {
    Path::new(HASHES).file_name().is_some_and(|f| f == name)
}

/// Proves no snapshot is left without its scenario (a renamed or deleted scenario must take
/// its snapshot along).
#[test]
fn no_snapshot_is_unreferenced() {
    let root = root();
    let snaps = std::fs::read_dir(root.join("snapshots")).expect("snapshots/ exists");
    for entry in snaps {
        let name = entry
            .expect("readable")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if is_hash_file(&name) {
            continue;
        }
        let Some(stem) = name
            .strip_prefix("scenario@")
            .and_then(|n| n.strip_suffix(".snap"))
        else {
            panic!("unexpected file in snapshots/: {name}");
        };
        assert!(
            root.join("scenarios").join(stem).exists(),
            "snapshots/{name} has no scenarios/{stem}"
        );
    }
}

/// What is wrong with the `input_file:` header of snapshot `name` (text `text`), if
/// anything: it must name `scenarios/<file>` where the snapshot is
/// `scenario@<file>.snap`. insta writes the header only when the snapshot's body changes,
/// so a renamed scenario leaves a header pointing at a file that no longer exists.
fn input_file_problem(name: &str, text: &str) -> Option<String> {
    let Some(stem) = name
        .strip_prefix("scenario@")
        .and_then(|n| n.strip_suffix(".snap"))
    else {
        return Some(format!("{name}: not named scenario@<file>.snap"));
    };
    let mut lines = text.lines();
    if lines.next() != Some("---") {
        return Some(format!("{name}: no insta header"));
    }
    let header: Vec<&str> = lines.take_while(|l| *l != "---").collect();
    let found: Vec<&str> = header
        .iter()
        .filter_map(|l| l.strip_prefix("input_file:"))
        .map(str::trim)
        .collect();
    let want = format!("scenarios/{stem}");
    match found.as_slice() {
        [one] if *one == want => None,
        [one] => Some(format!("{name}: input_file is {one}, want {want}")),
        _ => Some(format!(
            "{name}: want exactly one input_file line, found {}",
            found.len()
        )),
    }
}

/// Proves every snapshot's header names, as `input_file`, the scenario its own file name
/// names, and that this scenario exists.
#[test]
fn every_snapshot_header_names_its_existing_scenario() {
    let root = root();
    let mut names: Vec<String> = std::fs::read_dir(root.join("snapshots"))
        .expect("snapshots/ exists")
        .map(|e| {
            e.expect("readable")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| !is_hash_file(name))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no snapshots found");
    let mut problems = Vec::new();
    for name in &names {
        let text = std::fs::read_to_string(root.join("snapshots").join(name)).expect("readable");
        problems.extend(input_file_problem(name, &text));
        let stem = name
            .trim_start_matches("scenario@")
            .trim_end_matches(".snap");
        if !root.join("scenarios").join(stem).is_file() {
            problems.push(format!("{name}: scenarios/{stem} does not exist"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Proves the header check fires on a stale `input_file` (the old name of a renamed
/// scenario), on a missing one and on a file without a header, and passes a right one.
#[test]
fn the_header_check_fires_on_a_stale_input_file() {
    let snap = |input: &str| {
        format!("---\nsource: sim/tests/sim/snapshots.rs\nexpression: text\n{input}---\n== keeper alice\n")
    };
    let name = "scenario@bug04_x.toml.snap";
    assert_eq!(
        input_file_problem(name, &snap("input_file: scenarios/bug04_x.toml\n")),
        None
    );
    let stale = input_file_problem(name, &snap("input_file: scenarios/every_operation.toml\n"));
    assert_eq!(
        stale.as_deref(),
        Some(
            "scenario@bug04_x.toml.snap: input_file is scenarios/every_operation.toml, \
             want scenarios/bug04_x.toml"
        )
    );
    assert!(input_file_problem(name, &snap("")).is_some_and(|p| p.contains("found 0")));
    assert!(input_file_problem(name, "== keeper alice\n")
        .is_some_and(|p| p.contains("no insta header")));
    // A body line that looks like a header does not count: only the header is read.
    let body_only = format!("{}input_file: scenarios/bug04_x.toml\n", snap(""));
    assert!(input_file_problem(name, &body_only).is_some());
}

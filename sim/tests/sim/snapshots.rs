//! One insta snapshot per scenario (`snapshots/scenario@<file>.toml.snap`): what each keeper
//! saw, line by line, then outcomes and verdicts. Review changes with `cargo insta review`;
//! with `CI=true` a missing or changed snapshot fails the build. Each header names its own
//! scenario as `input_file`, checked here because insta rewrites a header only with its body.

use super::harness::run_it;
use rbee_sim::check::check_all;
use rbee_sim::coverage::hits;
use rbee_sim::report::{transcripts, verdicts};
use rbee_sim::scenario::Scenario;
use std::path::Path;

/// Proves every scenario's narration transcript and verdicts match the reviewed snapshot.
#[test]
fn every_scenario_matches_its_reviewed_transcript() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::glob!("../../../scenarios", "*.toml", |path| {
            let s = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
            let trace = run_it(&s);
            let text = format!(
                "{}{}trace {}\n",
                transcripts(&s, &trace),
                verdicts(&check_all(&s, &trace), &hits(&s, &trace)),
                trace.hash()
            );
            insta::assert_snapshot!("scenario", text);
        });
    });
}

/// Proves no snapshot is left without its scenario (a renamed or deleted scenario must take
/// its snapshot along).
#[test]
fn no_snapshot_is_unreferenced() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let snaps = std::fs::read_dir(root.join("snapshots")).expect("snapshots/ exists");
    for entry in snaps {
        let name = entry
            .expect("readable")
            .file_name()
            .to_string_lossy()
            .into_owned();
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut names: Vec<String> = std::fs::read_dir(root.join("snapshots"))
        .expect("snapshots/ exists")
        .map(|e| {
            e.expect("readable")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
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

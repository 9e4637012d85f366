//! One insta snapshot per scenario (`snapshots/scenario@<file>.toml.snap`): what each keeper
//! saw, line by line, then outcomes and verdicts. Review changes with `cargo insta review`;
//! with `CI=true` a missing or changed snapshot fails the build.

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

//! Every committed scenario replays green, twice, with equal trace hashes.

use super::harness::*;
use rbee_sim::scenario::Scenario;
use std::path::PathBuf;

fn scenario_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// Proves every scenario in `scenarios/` holds all invariants and replays identically.
#[test]
fn every_scenario_holds_all_invariants_and_replays_identically() {
    let files = scenario_files();
    assert!(
        files.len() >= 5,
        "expected the scenario catalogue, found {files:?}"
    );
    for file in files {
        let s = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let first = run_it(&s);
        let v = violations(&s, &first);
        assert!(v.is_empty(), "{}: {v:#?}", file.display());
        let second = run_it(&s);
        assert_eq!(
            first.hash(),
            second.hash(),
            "{} is not deterministic",
            file.display()
        );
    }
}

/// Proves the hive half of historical bug 11's scenario reaches the windows it is about:
/// queen jobs cancelled while their hive job was queued, unstreamed, and while the
/// forward's POST or its reply was on the wire (without them, the scenario would pass
/// with or without the relay's `DELETE`).
#[test]
fn bug11_cancel_reaches_a_hive_job_before_its_stream_hits_its_window() {
    let hits = window_hits("bug11_cancel_reaches_a_hive_job_before_its_stream");
    for window in ["cancel_before_hive_stream", "cancel_during_forward"] {
        assert!(
            hits[window] >= 2,
            "the scenario no longer cancels jobs in the window {window}: {hits:?}"
        );
    }
}

/// Proves a different seed changes the run (the seed really drives the simulation).
#[test]
fn a_different_seed_gives_a_different_trace() {
    let s = download_with("", 3);
    let a = rbee_sim::world::run(&s, rbee_sim::world::RunOptions::new(1));
    let b = rbee_sim::world::run(&s, rbee_sim::world::RunOptions::new(2));
    assert_ne!(a.hash(), b.hash());
    assert!(violations(&s, &a).is_empty() && violations(&s, &b).is_empty());
}

/// Proves `expect` reads as an author who knows only docs/spec.md §7 means it: a dropped stream's job is
/// `cancelled` (on the queen) and a keeper that lost the queen has an `error`.
#[test]
fn expect_accepts_the_spec_words_for_dropped_and_lost_streams() {
    let s = scenario(
        r#"
name = "spec words"
mode = "integrated"
hives = ["Hive_A"]
keepers = ["Alice", "bob"]

[[jobs]]
keeper = "Alice"
operation = "model_download"
hive_id = "Hive_A"
model = "phi-2"
chunks = 30
disconnect_after_events = 2
expect = "cancelled"

[[jobs]]
keeper = "bob"
operation = "model_download"
hive_id = "Hive_A"
model = "qwen"
chunks = 30
expect = "error"

[[faults]]
at_ms = 1000
kind = "crash"
host = "queen"
"#,
    );
    let t = run_it(&s);
    assert_eq!(
        (outcome(&t, 0).1.as_str(), outcome(&t, 1).1.as_str()),
        ("detached", "lost")
    );
    assert!(violations(&s, &t).is_empty(), "{:#?}", violations(&s, &t));
}

/// Proves `an_effect_does_not_outlive_a_cancel` reaches the windows it is about: cancels
/// that land after the hive committed (the completion line is relayed before `cancelled`,
/// the queen drains the hive job) and a cancel that lands before the commit (the download
/// leaves no effect). Without them the scenario would pass whatever a cancel did to an
/// effect; its seed once drifted out of both when every connection got the link pumps.
#[test]
fn an_effect_does_not_outlive_a_cancel_hits_its_windows() {
    let hits = window_hits("an_effect_does_not_outlive_a_cancel");
    for window in [
        "completion_after_cancel",
        "cancel_drained",
        "write_cancelled_before_commit",
    ] {
        assert!(
            hits[window] >= 1,
            "the scenario no longer cancels a download in the window {window}: {hits:?}"
        );
    }
}

/// Proves historical bug 13's scenario reaches the window it is about: the keeper's held
/// link stalls the queen's stream, its buffer fills and the relay waits (backpressure).
/// A hold that buffered without bound (the link pumps did, once) never fills it, and the
/// scenario would pass with or without bug 13.
#[test]
fn bug13_backpressure_loses_nothing_hits_its_window() {
    let hits = window_hits("bug13_backpressure_loses_nothing");
    assert!(
        hits["backpressure_wait"] >= 1,
        "the relay never waited on a full buffer: {hits:?}"
    );
}

/// Runs `scenarios/NAME.toml` and returns how often it hit each probe, failing if it
/// violated an invariant: what a window test checks its windows against.
fn window_hits(name: &str) -> rbee_sim::coverage::Hits {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    let s = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let trace = run_it(&s);
    assert!(violations(&s, &trace).is_empty(), "{name}");
    rbee_sim::coverage::hits(&s, &trace)
}

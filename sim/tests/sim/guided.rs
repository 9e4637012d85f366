//! Guided exploration and the regression corpus: the same flags give the same corpus and
//! summary whatever the threads, a corpus directory is read, resumed and checked, shards
//! merge, bad flags are refused, and `corpus/` reaches every probe.

use rbee_sim::corpus::{replay, unreached, Replayed};
use rbee_sim::explore::{explore, summary, ExploreConfig, SeedResult};
use rbee_sim::generate::GenConfig;
use rbee_sim::guided::{write_entries, Corpus, Guide};
use rbee_sim::summary::Summary;
use std::path::PathBuf;
use std::process::Command;

fn config(seeds: u64, threads: usize, guide: Guide) -> ExploreConfig {
    ExploreConfig {
        from: 500,
        seeds,
        shard: (0, 1),
        gen: GenConfig {
            max_jobs: 4,
            ..GenConfig::default()
        },
        out: None,
        threads,
        shrink_budget: rbee_sim::shrink::Budget::default(),
        recheck: rbee_sim::explore::Recheck::default(),
        guide: Some(guide),
        budget: None,
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rbee-guided-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn kept(results: &[SeedResult]) -> Vec<(u64, Option<String>)> {
    results
        .iter()
        .filter_map(|r| Some((r.seed, r.kept.as_ref()?.parent.clone())))
        .collect()
}

/// Proves a guided run is a function of its flags: one thread or two, the same seeds join
/// the corpus from the same parents, and the summaries are identical; most seeds run
/// mutants, and the corpus grows.
#[test]
fn two_identical_guided_runs_print_identical_summaries() {
    let one = config(150, 1, Guide::default());
    let two = config(150, 2, Guide::default());
    let (a, b) = (explore(&one, &|| ()), explore(&two, &|| ()));
    assert_eq!(summary(&one, &a), summary(&two, &b));
    assert_eq!(kept(&a), kept(&b));
    let mutants = kept(&a).iter().filter(|(_, p)| p.is_some()).count();
    assert!(mutants > 10, "{mutants} mutants joined: {:?}", kept(&a));
    assert!(summary(&one, &a).contains(", guided"));
    assert!(
        a.iter().all(|r| r.violations.is_empty()),
        "{}",
        summary(&one, &a)
    );
}

/// Proves a corpus directory round trip: a run writes its entries (each replayable, with
/// its header), a second run starts from them (and so differs from a fresh start), and
/// reading a directory with a bad file is an error naming the file and line.
#[test]
fn a_corpus_directory_is_written_resumed_and_checked() {
    let dir = scratch("resume");
    let first = explore(&config(80, 2, Guide::default()), &|| ());
    let written = write_entries(&dir, &first).expect("written");
    assert_eq!(written, kept(&first).len());
    let initial = Corpus::read_dir(&dir).expect("readable");
    assert_eq!(initial.len(), written);
    let text = std::fs::read_to_string(dir.join(&initial[0].0)).unwrap();
    assert!(
        text.starts_with("# Corpus entry of `rbee-sim explore --guided`"),
        "{text}"
    );
    let resumed = |threads| {
        let guide = Guide {
            initial: initial.clone(),
            ..Guide::default()
        };
        let cfg = config(80, threads, guide);
        let results = explore(&cfg, &|| ());
        (summary(&cfg, &results), results)
    };
    let ((text_two, again), (text_one, _)) = (resumed(2), resumed(1));
    assert_eq!(
        text_two, text_one,
        "a resumed run is a function of its files"
    );
    assert_ne!(
        kept(&again),
        kept(&first),
        "a resumed run starts from the entries"
    );

    std::fs::write(
        dir.join("zz-bad.toml"),
        "name = \"x\"\nkeepers = [\"a\"]\ncolour = 1\n",
    )
    .unwrap();
    let err = Corpus::read_dir(&dir).unwrap_err();
    assert!(err.contains("zz-bad.toml:3: `colour`"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Proves a corpus entry that fails on this tree is a failure of the run, under the
/// entry's own seed, and not a silent start: nightly guided shards start from a copy of
/// `corpus/`, and an entry the tree broke must turn them red, not breed.
#[test]
fn a_corpus_entry_that_fails_on_this_tree_is_reported() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus/seed-00000420.toml");
    let text = std::fs::read_to_string(&path).expect("corpus entry");
    let broken = text.replacen("expect = \"done\"", "expect = \"cancelled\"", 1);
    assert_ne!(broken, text, "the entry declares a done job");
    let dir = scratch("failing-entry");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("broken.toml"), broken).unwrap();
    let initial = Corpus::read_dir(&dir).expect("readable");
    let seed = initial[0].1.seed;
    let cfg = config(
        10,
        2,
        Guide {
            initial,
            ..Guide::default()
        },
    );
    let results = explore(&cfg, &|| ());
    let failing: Vec<u64> = results
        .iter()
        .filter(|r| !r.violations.is_empty())
        .map(|r| r.seed)
        .collect();
    assert_eq!(failing, vec![seed], "{}", summary(&cfg, &results));
    assert_eq!(results[0].seed, seed, "the entry is reported first");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Proves guided shards merge into one summary whose behaviours are the union of theirs,
/// and a guided summary does not merge with a random one.
#[test]
fn guided_shards_merge_and_do_not_mix_with_random_ones() {
    let shard = |i: u64, guided: bool| {
        let mut cfg = config(60, 2, Guide::default());
        cfg.shard = (i, 2);
        if !guided {
            cfg.guide = None;
        }
        Summary::of(&cfg, &explore(&cfg, &|| ()))
    };
    let (a, b) = (shard(0, true), shard(1, true));
    let mut merged = a.clone();
    merged.merge(&b).expect("shards of one guided exploration");
    assert_eq!(merged.shards, vec![[0, 1]]);
    assert!(merged.behaviours.jobs.len() >= a.behaviours.jobs.len().max(b.behaviours.jobs.len()));
    let union: std::collections::BTreeSet<&String> =
        a.behaviours.jobs.iter().chain(&b.behaviours.jobs).collect();
    assert_eq!(merged.behaviours.jobs.len(), union.len());
    let err = a.clone().merge(&shard(1, false)).unwrap_err();
    assert!(
        err.contains("guided true") && err.contains("guided false"),
        "{err}"
    );
}

/// Proves bad guided flags exit 2 before any seed runs: an unknown `--target` names the
/// closest probes, `--corpus` without `--guided` is refused.
#[test]
fn bad_guided_flags_exit_2() {
    let sim = || Command::new(env!("CARGO_BIN_EXE_rbee-sim"));
    let out = sim()
        .args([
            "explore",
            "--seeds",
            "5",
            "--guided",
            "--target",
            "subtask_abort",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean subtask_aborted"), "{err}");
    let out = sim()
        .args(["explore", "--seeds", "5", "--corpus", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--guided"));
}

fn replay_corpus() -> Vec<Replayed> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    Corpus::read_dir(&dir)
        .expect("corpus/ is readable")
        .iter()
        .map(|(name, s)| replay(name, s))
        .collect()
}

/// The regression corpus (`corpus/`, README.md "Guided exploration"): every entry holds
/// every invariant, and together they reach every probe of the catalogue. When a change
/// makes a probe unreachable from them, this names it; `rbee-sim distill` makes a new
/// corpus.
#[test]
fn the_regression_corpus_holds_every_invariant_and_reaches_every_probe() {
    let replayed = replay_corpus();
    assert!(!replayed.is_empty(), "corpus/ is empty");
    for r in &replayed {
        assert!(
            r.violations.is_empty(),
            "corpus/{}: {:?}",
            r.name,
            r.violations
        );
    }
    let missing = unreached(&replayed);
    assert!(
        missing.is_empty(),
        "corpus/ no longer reaches these probes: {missing:?} (make a new corpus: README.md, \"Guided exploration\")"
    );
}

/// Proves the corpus check fires: without the entry that alone reaches some probe, that
/// probe is named.
#[test]
fn the_corpus_check_names_a_probe_no_entry_reaches() {
    let replayed = replay_corpus();
    let alone = replayed.iter().position(|r| {
        let rest: Vec<Replayed> = replayed
            .iter()
            .filter(|o| o.name != r.name)
            .cloned()
            .collect();
        !unreached(&rest).is_empty()
    });
    let i = alone.expect("some entry is the only one reaching a probe (the corpus is minimal)");
    let mut rest = replayed.clone();
    let gone = rest.remove(i);
    let missing = unreached(&rest);
    assert!(!missing.is_empty());
    for p in &missing {
        assert!(gone.hits.get(p).copied().unwrap_or(0) > 0, "{p}");
    }
}

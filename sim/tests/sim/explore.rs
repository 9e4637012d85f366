//! `explore`: a seed range always yields the same scenarios and the same summary.

use rbee_sim::explore::{explore, summary, ExploreConfig};
use rbee_sim::generate::GenConfig;

/// Proves exploring the same seed range twice (on several threads) gives identical
/// summaries, with no violation.
#[test]
fn the_same_seed_range_gives_identical_summaries() {
    let cfg = ExploreConfig {
        from: 100,
        seeds: 6,
        shard: (0, 1),
        gen: GenConfig {
            max_jobs: 4,
            ..GenConfig::default()
        },
        out: None,
        threads: 2,
        shrink_budget: rbee_sim::shrink::Budget::default(),
        guide: None,
        budget: None,
        recheck: rbee_sim::explore::Recheck::default(),
    };
    let a = explore(&cfg, &|| ());
    let b = explore(&cfg, &|| ());
    assert_eq!(summary(&cfg, &a), summary(&cfg, &b));
    assert_eq!(a.len(), 6);
    assert!(
        a.iter().all(|r| r.violations.is_empty()),
        "{}",
        summary(&cfg, &a)
    );
    let sharded = ExploreConfig {
        shard: (1, 2),
        ..cfg.clone()
    };
    let half = explore(&sharded, &|| ());
    assert_eq!(
        half.iter().map(|r| r.seed).collect::<Vec<_>>(),
        [101, 103, 105]
    );
}

/// Proves the summaries of three shards of a range, merged, are exactly the summary of the
/// whole range (text and JSON alike), and that merging a shard twice is refused.
#[test]
fn shard_summaries_merge_into_the_whole_ranges_summary() {
    use rbee_sim::summary::Summary;
    let whole = ExploreConfig {
        from: 40,
        seeds: 9,
        shard: (0, 1),
        gen: GenConfig {
            max_jobs: 4,
            tick_ms: 10,
            ..GenConfig::default()
        },
        out: None,
        threads: 2,
        shrink_budget: rbee_sim::shrink::Budget::default(),
        guide: None,
        budget: None,
        recheck: rbee_sim::explore::Recheck {
            every: 2,
            ..Default::default()
        },
    };
    let expected = Summary::of(&whole, &explore(&whole, &|| ()));
    let shard = |i| {
        let cfg = ExploreConfig {
            shard: (i, 3),
            ..whole.clone()
        };
        Summary::of(&cfg, &explore(&cfg, &|| ()))
    };
    let mut merged = shard(2);
    let first = shard(0);
    merged.merge(&first).expect("disjoint shards");
    merged.merge(&shard(1)).expect("disjoint shards");
    assert_eq!(merged, expected);
    assert_eq!(merged.text(), expected.text());
    let json = serde_json::to_string(&merged).unwrap();
    assert_eq!(serde_json::from_str::<Summary>(&json).unwrap(), expected);
    let mut twice = first.clone();
    let refused = twice.merge(&first).expect_err("the same shard twice");
    assert!(refused.contains("shard 0/3 is in both"), "{refused}");
}

/// Proves a regression that fails many seeds is reported in bounded time: only the lowest
/// `Budget::seeds` failing seeds are shrunk (the same ones whatever the threads did), the
/// others are written as generated, and every file carries the line that replays it. The
/// failure is planted in the harness, not the system: the "fresh process" of every
/// cross-process re-run is `true`, which prints no trace hash.
#[test]
fn only_the_lowest_failing_seeds_are_shrunk() {
    let out = std::env::temp_dir().join(format!("rbee-sim-shrink-seeds-{}", std::process::id()));
    let cfg = ExploreConfig {
        from: 0,
        seeds: 6,
        shard: (0, 1),
        gen: GenConfig {
            max_jobs: 2,
            ..GenConfig::default()
        },
        out: Some(out.clone()),
        threads: 2,
        shrink_budget: rbee_sim::shrink::Budget {
            runs: 5,
            seeds: 2,
            ..rbee_sim::shrink::Budget::default()
        },
        guide: None,
        budget: None,
        recheck: rbee_sim::explore::Recheck {
            every: 0,
            cross_every: 1,
            exe: Some("true".into()),
        },
    };
    let results = explore(&cfg, &|| ());
    let shrunk: Vec<(u64, usize)> = results
        .iter()
        .map(|r| (r.seed, r.failure.as_ref().expect("every seed fails").0.runs))
        .collect();
    assert!(shrunk[..2].iter().all(|(_, runs)| *runs > 0), "{shrunk:?}");
    assert!(shrunk[2..].iter().all(|(_, runs)| *runs == 0), "{shrunk:?}");
    let text = summary(&cfg, &results);
    assert_eq!(text.matches("(not shrunk)").count(), 4, "{text}");
    for seed in 0..6 {
        let file = std::fs::read_to_string(out.join(format!("seed-{seed}.toml")))
            .expect("every failing seed is written");
        assert!(file.contains("--check-determinism"), "{file}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// Regression: two explorations side by side in one process (as the tests of one binary
/// run) re-ran seed 0 in fresh processes through one shared file name; one removed the file
/// while the other's child was reading it, and a deterministic seed was reported as
/// diverged ("hash … here, <none> in a fresh process"). Each re-run now has a file of its
/// own, so neither exploration sees a divergence, however their re-runs interleave.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "two whole explorations side by side, as the test harness runs tests; no simulated run spans the threads"
)]
fn cross_process_re_runs_side_by_side_do_not_share_a_file() {
    let cfg = ExploreConfig {
        from: 0,
        seeds: 4,
        shard: (0, 1),
        gen: GenConfig {
            max_jobs: 3,
            ..GenConfig::default()
        },
        out: None,
        threads: 2,
        shrink_budget: rbee_sim::shrink::Budget::default(),
        guide: None,
        budget: None,
        recheck: rbee_sim::explore::Recheck {
            every: 0,
            cross_every: 1,
            exe: Some(env!("CARGO_BIN_EXE_rbee-sim").into()),
        },
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| explore(&cfg, &|| ()));
        let b = s.spawn(|| explore(&cfg, &|| ()));
        (a.join().expect("a"), b.join().expect("b"))
    });
    for results in [&a, &b] {
        assert!(
            results.iter().all(|r| r.rechecked.cross_process),
            "every seed re-run"
        );
        assert!(
            results.iter().all(|r| r.divergence.is_none()),
            "{}",
            summary(&cfg, results)
        );
    }
}

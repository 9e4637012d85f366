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

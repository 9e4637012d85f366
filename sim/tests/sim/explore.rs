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

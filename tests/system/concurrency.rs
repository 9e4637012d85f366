//! Many keepers at once: channels are job-scoped (docs/spec.md §4.3), never shared.

use crate::harness::*;
use rbee::hive::expected_tokens;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

both_modes!(bug_02_twenty_concurrent_keepers_each_see_only_their_own_job);

const KEEPERS: usize = 20;

/// 20 keepers run 20 overlapping jobs: each stream holds only its own job's events (every
/// `job_id` is the keeper's, every keeper-specific word is its own), with `seq` 0, 1, 2, ...
async fn bug_02_twenty_concurrent_keepers_each_see_only_their_own_job(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let start = Arc::new(Barrier::new(KEEPERS));
    let mut keepers = JoinSet::new();
    for i in 0..KEEPERS {
        let keeper = cluster.keeper();
        let start = start.clone();
        keepers.spawn(async move {
            let op = match i % 4 {
                0 => download(&format!("model-{i}"), 5, 10),
                1 => infer("tinyllama", &format!("keeper-{i} says hello"), 12),
                2 => hive_op("worker_install", json!({"lines": 150})),
                _ => hive_op("hive_check", json!({})),
            };
            start.wait().await;
            // `run` checks job ids and seq of every event (Run::assert_well_formed).
            (i, run(&keeper, op).await)
        });
    }
    let mut ids = BTreeSet::new();
    while let Some(joined) = keepers.join_next().await {
        let (i, run) = joined.expect("keeper task");
        run.assert_done();
        assert!(ids.insert(run.job.job_id.clone()), "job ids are unique");
        match i % 4 {
            0 => {
                let model = format!("'model-{i}'");
                let lines = run.human("model_download_progress");
                assert_eq!(lines.len(), 5, "{}", run.transcript());
                assert!(
                    lines.iter().all(|l| l.contains(&model)),
                    "{}",
                    run.transcript()
                );
            }
            1 => {
                let prompt = format!("keeper-{i} says hello");
                assert_eq!(run.tokens(), expected_tokens(&prompt, 12));
            }
            2 => assert_eq!(run.count("worker_install_log"), 150),
            _ => assert_eq!(run.count("hive_check_step"), 10),
        }
        // Nothing of another job: no foreign download or token in this stream.
        let foreign = run.narrations().any(|n| {
            (0..KEEPERS)
                .filter(|&j| j != i)
                .any(|j| n.human.contains(&format!("'model-{j}'")))
        });
        assert!(!foreign, "foreign narration\n{}", run.transcript());
    }
    assert_eq!(ids.len(), KEEPERS);
    let mut models = cluster.world.models();
    models.retain(|m| m.starts_with("model-"));
    assert_eq!(models.len(), KEEPERS / 4);
    cluster.settle("20 concurrent jobs").await;
}

//! Memory under churn: 100,000 sequential jobs through one node's hub and registry, each
//! through the real life cycle (create → take → execute → drain → stream end). Reports live
//! channels and jobs at the end (must be 0) and resident memory after the first 1,000 jobs
//! and at the end (goal: within 10%). Exits non-zero if either goal is missed.
//!
//! `cargo bench --bench churn` (a report, not a criterion benchmark: the figure is memory).

use rbee::hive::Hive;
use rbee::node::{Node, NodeConfig, Role};
use rbee::operation::Operation;
use std::sync::Arc;

const JOBS: usize = 100_000;

/// Resident set size in KiB, from /proc (Linux).
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

async fn one_job(node: &Arc<Node>, op: &Operation) {
    let id = node.create(op.clone()).expect("valid job");
    let (job, mut rx) = node.take(&id).await.expect("fresh job");
    while rx.recv().await.is_some() {}
    node.stream_finished(&job);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks harness-less benches to list; nothing to list.
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(async {
        let hive = Arc::new(Hive::new("hive-a", ["tinyllama".to_owned()]));
        let node = Node::new(NodeConfig::new(Role::Hive(hive)));
        let op = Operation::ModelList {
            hive_id: "hive-a".into(),
        };
        #[allow(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
        let start = std::time::Instant::now();
        for _ in 0..1_000 {
            one_job(&node, &op).await;
        }
        let after_1k = rss_kib();
        for _ in 1_000..JOBS {
            one_job(&node, &op).await;
        }
        let end = rss_kib();
        let stats = node.hub().stats();
        let growth = (end as f64 - after_1k as f64) / after_1k as f64 * 100.0;
        println!("jobs run                {JOBS}");
        println!(
            "wall time               {:.2} s ({:.0} jobs/s)",
            start.elapsed().as_secs_f64(),
            JOBS as f64 / start.elapsed().as_secs_f64()
        );
        println!("live channels at end    {}", stats.live_channels);
        println!("live jobs at end        {}", node.jobs().len());
        println!("RSS after 1,000 jobs    {after_1k} KiB");
        println!("RSS after {JOBS} jobs  {end} KiB ({growth:+.1}%)");
        let ok = stats.live_channels == 0 && node.jobs().is_empty() && growth <= 10.0;
        println!(
            "goal (0 live, RSS within 10%): {}",
            if ok { "met" } else { "MISSED" }
        );
        i32::from(!ok)
    });
    std::process::exit(code);
}

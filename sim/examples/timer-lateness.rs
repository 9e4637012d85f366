//! How late real tokio timers fire on this machine: the measurement behind
//! `rbee_sim::real::timing::REAL_TIMER_LATENESS`, which the simulated side of
//! `rbee-sim real` draws its late timers from.
//!
//! ```text
//! cargo run --release -p rbee-sim --example timer-lateness
//! ```
//!
//! Prints, on a real multi-threaded tokio runtime (as `rbee` runs): how late 2,000 sleeps
//! of 1 ms and 100 sleeps of 40 ms were, in whole milliseconds, and the drift of ninety
//! 1 ms pauses in a row (a build log of ~900 lines), 30 times.

use std::time::Duration;
use tokio::time::Instant;

/// Sleeps `d` `n` times and counts how late each was, in whole ms (the last bucket: 5 or more).
async fn lateness(d: Duration, n: usize) -> [u32; 6] {
    let mut buckets = [0u32; 6];
    for _ in 0..n {
        let start = Instant::now();
        tokio::time::sleep(d).await;
        let late = start.elapsed().saturating_sub(d).as_millis();
        buckets[usize::try_from(late).unwrap_or(usize::MAX).min(5)] += 1;
    }
    buckets
}

#[tokio::main]
async fn main() {
    println!("late by 0, 1, 2, 3, 4, 5+ ms");
    println!(
        "2000 sleeps of 1 ms:  {:?}",
        lateness(Duration::from_millis(1), 2000).await
    );
    println!(
        "100 sleeps of 40 ms:  {:?}",
        lateness(Duration::from_millis(40), 100).await
    );
    let mut drifts = Vec::new();
    for _ in 0..30 {
        let start = Instant::now();
        for _ in 0..90 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drifts.push(start.elapsed().as_secs_f64() * 1000.0 - 90.0);
    }
    drifts.sort_by(f64::total_cmp);
    println!(
        "drift of 90 pauses of 1 ms, 30 times: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        drifts[0], drifts[15], drifts[29]
    );
}

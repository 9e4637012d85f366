//! Hub hot path: events per second from emit to a taken receiver, against raw
//! `tokio::sync::mpsc` with the same capacity, in the same run (goal: >= 0.5x raw).
//!
//! `cargo bench --bench hub`. Each iteration sends `EVENTS` events and reads all of them
//! on a current-thread runtime (as every simulated host has).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rbee::clock::Clock;
use rbee::hub::{Body, Hub, QUEEN_CAPACITY};
use rbee::ids::JobId;
use rbee::observer::NoObserver;
use std::sync::Arc;
use tokio::sync::mpsc;

const EVENTS: u64 = 20_000;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn body(i: u64) -> Body {
    Body::Narration {
        actor: "hive".into(),
        action: "worker_install_log".into(),
        human: format!("line {i}"),
        at_ms: i,
    }
}

/// Our hub: `jobs` channels, events round-robin, each channel drained by its own task.
async fn hub_run(jobs: u64) {
    let hub = Hub::new(QUEEN_CAPACITY, Clock::start(), Arc::new(NoObserver));
    let ids: Vec<JobId> = (0..jobs).map(|j| JobId::from_bits(j.into())).collect();
    let mut readers = Vec::new();
    for id in &ids {
        hub.create(id);
        let mut rx = hub.take(id).expect("fresh channel");
        readers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while rx.recv().await.is_some() {
                n += 1;
            }
            n
        }));
    }
    for i in 0..EVENTS {
        hub.send_wait(&ids[(i % jobs) as usize], body(i)).await;
    }
    for id in &ids {
        hub.remove(id);
    }
    let mut total = 0;
    for r in readers {
        total += r.await.expect("reader");
    }
    assert_eq!(total, EVENTS);
}

/// Baseline: the same traffic through raw bounded mpsc channels.
async fn raw_run(jobs: u64) {
    let mut txs = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..jobs {
        let (tx, mut rx) = mpsc::channel::<(u64, Body)>(QUEEN_CAPACITY);
        txs.push(tx);
        readers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while rx.recv().await.is_some() {
                n += 1;
            }
            n
        }));
    }
    for i in 0..EVENTS {
        txs[(i % jobs) as usize]
            .send((i, body(i)))
            .await
            .expect("open");
    }
    drop(txs);
    let mut total = 0;
    for r in readers {
        total += r.await.expect("reader");
    }
    assert_eq!(total, EVENTS);
}

fn bench(c: &mut Criterion) {
    let rt = rt();
    let mut group = c.benchmark_group("emit_to_receiver");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(20);
    for jobs in [1u64, 64] {
        group.bench_with_input(BenchmarkId::new("raw_mpsc", jobs), &jobs, |b, &jobs| {
            b.iter(|| rt.block_on(raw_run(jobs)))
        });
        group.bench_with_input(BenchmarkId::new("hub", jobs), &jobs, |b, &jobs| {
            b.iter(|| rt.block_on(hub_run(jobs)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

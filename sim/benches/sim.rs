//! Simulator benchmarks, each against a baseline measured in the same run:
//!
//! - **throughput**: 40 forwarded `model_list` jobs (queen + hive + 4 keepers) vs a bare
//!   turmoil + axum + hyper pipeline over the same hosts streaming the same number of SSE
//!   events (the queen proxies a hive stream), none of rbee's code. Goal: >= 0.5x.
//! - **time_compression**: an idle-heavy 3-host scenario (a download waiting 6 × 10 s) vs a
//!   bare turmoil sim with the same 3 hosts doing nothing for as long. Goal: >= 0.85x
//!   simulated seconds per wall second.
//!
//! - **oracles**: where the time of one generated seed goes: running it (the simulation)
//!   against judging its trace (every checker, the reference model's search among them,
//!   and the probe count), for seeds 0..20 with faults. Goal: judging stays a small share.
//!
//! - **guided**: what guided exploration adds per seed. Making 64 candidates from a corpus
//!   (choice weights, mutation, validation) and offering 64 results to it, against running
//!   64 generated scenarios; and running the 64 mutants themselves, against the same
//!   baseline (a mutant's scenario may be heavier or lighter than a generated one). Goal:
//!   the bookkeeping at most 10% of the runs.
//!
//! `cargo bench -p rbee-sim --bench sim`; BENCHMARKS.md holds the figures.

use axum::response::sse::{Event, Sse};
use axum::routing::{get, post};
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rbee_sim::net::SimListener;
use rbee_sim::scenario::Scenario;
use rbee_sim::world::{run, RunOptions};
use std::convert::Infallible;
use std::time::Duration;

const KEEPERS: usize = 4;
const JOBS_PER_KEEPER: usize = 10;
/// SSE events per baseline job: as many as a forwarded model_list stream carries.
const EVENTS_PER_JOB: usize = 8;

fn rbee_throughput_scenario() -> Scenario {
    let mut text = String::from(
        "name = \"throughput\"\nhives = [\"hive-a\"]\nkeepers = [\"k1\", \"k2\", \"k3\", \"k4\"]\n",
    );
    for k in 1..=KEEPERS {
        for j in 0..JOBS_PER_KEEPER {
            text.push_str(&format!("[[jobs]]\nkeeper = \"k{k}\"\nat_ms = {}\noperation = \"model_list\"\nhive_id = \"hive-a\"\nexpect = \"done\"\n", j * 10));
        }
    }
    Scenario::parse("throughput.toml", &text).expect("valid")
}

/// One request over a fresh simulated connection; the response body still streams.
async fn request(
    host: &str,
    port: u16,
    path: &str,
    method: hyper::Method,
) -> hyper::Response<hyper::body::Incoming> {
    let io = turmoil::net::TcpStream::connect((host, port))
        .await
        .expect("connect");
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .expect("request");
    tx.send_request(req).await.expect("response")
}

/// One request; returns the length of its whole body.
async fn get_body(host: &str, port: u16, path: &str, method: hyper::Method) -> usize {
    let resp = request(host, port, path, method).await;
    resp.into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .len()
}

/// The baseline app of a host: a job POST and an SSE stream.
fn bare_app<H, T>(stream: H) -> Router
where
    H: axum::handler::Handler<T, ()>,
    T: 'static,
{
    Router::new()
        .route(
            "/jobs",
            post(|| async { (axum::http::StatusCode::CREATED, "{\"job_id\":\"x\"}") }),
        )
        .route("/stream", get(stream))
}

fn bare_pipeline() {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(600))
        .rng_seed(1)
        .build();
    sim.host("hive-a", || async {
        let app = bare_app(|| async {
            let events = (0..EVENTS_PER_JOB).map(|i| {
                Ok::<_, Infallible>(
                    Event::default()
                        .event("narration")
                        .data(format!("{{\"seq\":{i},\"human\":\"line {i}\"}}")),
                )
            });
            Sse::new(futures::stream::iter(events))
        });
        axum::serve(SimListener::bind(7835).await?, app).await?;
        Ok(())
    });
    sim.host("queen", || async {
        let app = bare_app(|| async {
            // Like the real relay: submit to the hive, then stream it through.
            get_body("hive-a", 7835, "/jobs", hyper::Method::POST).await;
            let resp = request("hive-a", 7835, "/stream", hyper::Method::GET).await;
            axum::body::Body::new(resp.into_body())
        });
        axum::serve(SimListener::bind(7833).await?, app).await?;
        Ok(())
    });
    for k in 0..KEEPERS {
        sim.client(format!("k{k}"), async {
            let jobs = (0..JOBS_PER_KEEPER).map(|j| async move {
                tokio::time::sleep(Duration::from_millis(j as u64 * 10)).await;
                get_body("queen", 7833, "/jobs", hyper::Method::POST).await;
                assert!(get_body("queen", 7833, "/stream", hyper::Method::GET).await > 0);
            });
            futures::future::join_all(jobs).await;
            Ok(())
        });
    }
    sim.run().expect("bare pipeline completes");
    BARE_SIM_MS.store(
        sim.elapsed().as_millis() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// Simulated ms of the last bare pipeline run (reported next to rbee's).
static BARE_SIM_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn idle_scenario() -> Scenario {
    Scenario::parse(
        "idle.toml",
        "name = \"idle\"\nhives = [\"hive-a\"]\nkeepers = [\"alice\"]\nrun_for_ms = 90000\n[[jobs]]\nkeeper = \"alice\"\noperation = \"model_download\"\nhive_id = \"hive-a\"\nmodel = \"phi-2\"\nchunks = 6\ninterval_ms = 10000\nexpect = \"done\"\n",
    )
    .expect("valid")
}

/// The same 3 hosts doing nothing for `ms` simulated milliseconds.
fn bare_idle(ms: u64) {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(600))
        .rng_seed(1)
        .build();
    for host in ["queen", "hive-a"] {
        sim.host(host, || async {
            std::future::pending::<()>().await;
            Ok(())
        });
    }
    sim.client("alice", async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(())
    });
    sim.run().expect("idle sim completes");
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("throughput_40_jobs");
    g.sample_size(10);
    let s = rbee_throughput_scenario();
    g.bench_function("bare_turmoil_axum_hyper", |b| b.iter(bare_pipeline));
    g.bench_function("rbee_sim", |b| b.iter(|| run(&s, RunOptions::new(1))));
    g.finish();
    eprintln!(
        "simulated: bare pipeline {} ms, rbee {} ms",
        BARE_SIM_MS.load(std::sync::atomic::Ordering::Relaxed),
        run(&s, RunOptions::new(1)).end()
    );

    let mut g = c.benchmark_group("time_compression");
    g.sample_size(10);
    let idle = idle_scenario();
    let simulated = run(&idle, RunOptions::new(1)).end();
    eprintln!("idle scenario simulates {simulated} ms");
    g.bench_function("bare_turmoil_idle", |b| b.iter(|| bare_idle(simulated)));
    g.bench_function("rbee_sim_idle", |b| {
        b.iter(|| run(&idle, RunOptions::new(1)))
    });
    g.finish();

    let mut g = c.benchmark_group("oracles_20_seeds");
    g.sample_size(10);
    let cfg = rbee_sim::generate::GenConfig::default();
    let seeds: Vec<Scenario> = (0..20)
        .map(|n| rbee_sim::generate::scenario(n, cfg))
        .collect();
    let traces: Vec<_> = seeds
        .iter()
        .map(|s| run(s, RunOptions::new(s.seed)))
        .collect();
    g.bench_function("run", |b| {
        b.iter(|| {
            for s in &seeds {
                run(s, RunOptions::new(s.seed));
            }
        })
    });
    g.bench_function("judge", |b| {
        b.iter(|| {
            for (s, t) in seeds.iter().zip(&traces) {
                rbee_sim::check::check_all(s, t);
                rbee_sim::coverage::hits(s, t);
            }
        })
    });
    for (name, check) in rbee_sim::check::CHECKERS.iter().map(|c| (c.name, c.check)) {
        g.bench_function(format!("judge_{name}"), |b| {
            b.iter(|| {
                for (s, t) in seeds.iter().zip(&traces) {
                    check(s, t);
                }
            })
        });
    }
    g.finish();
}

/// The guided group (see the module documentation).
fn guided(c: &mut Criterion) {
    use rbee_sim::behaviour::job_histories;
    use rbee_sim::coverage::hits;
    use rbee_sim::guided::Corpus;
    let gen = rbee_sim::generate::GenConfig::default();
    let mut corpus = Corpus::default();
    for seed in 0..400u64 {
        let s = rbee_sim::generate::scenario(seed, gen);
        let t = run(&s, RunOptions::new(seed));
        corpus.offer(
            format!("{seed}"),
            &s,
            &job_histories(&s, &t),
            &hits(&s, &t),
            true,
        );
    }
    let seeds: Vec<u64> = (10_000..10_064).collect();
    let generated: Vec<Scenario> = seeds
        .iter()
        .map(|&n| rbee_sim::generate::scenario(n, gen))
        .collect();
    let plan = corpus.plan(None);
    let mutants: Vec<Scenario> = seeds
        .iter()
        .map(|&n| corpus.candidate(&plan, n, gen).scenario)
        .collect();
    let results: Vec<_> = mutants
        .iter()
        .map(|s| {
            let t = run(s, RunOptions::new(s.seed));
            (job_histories(s, &t), hits(s, &t))
        })
        .collect();
    let mut g = c.benchmark_group("guided_64_seeds");
    g.sample_size(10);
    g.bench_function("run_generated", |b| {
        b.iter(|| {
            for s in &generated {
                run(s, RunOptions::new(s.seed));
            }
        })
    });
    g.bench_function("run_mutants", |b| {
        b.iter(|| {
            for s in &mutants {
                run(s, RunOptions::new(s.seed));
            }
        })
    });
    g.bench_function("make_and_offer", |b| {
        b.iter_batched(
            || corpus.clone(),
            |mut corpus| {
                let plan = corpus.plan(None);
                let made: Vec<_> = seeds
                    .iter()
                    .map(|&n| corpus.candidate(&plan, n, gen))
                    .collect();
                for (c, (h, p)) in made.iter().zip(&results) {
                    corpus.offer(format!("{}", c.scenario.seed), &c.scenario, h, p, false);
                }
                corpus
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench, guided);
criterion_main!(benches);

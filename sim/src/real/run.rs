//! One run of a scenario against real processes, on tokio's real clock: start the
//! cluster, then from time 0 run every keeper (the simulator's own keeper code,
//! [`crate::keeper`]) and fire every fault at its millisecond, until every keeper is done
//! or `run_for_ms` has passed; then kill the processes and return the client-visible trace.
//!
//! The trace holds what the keepers saw (submits, events, cancels, outcomes), the faults
//! (host `sim`, as in the simulator), a `time_limit` entry if the limit was hit, and a
//! `panic` entry per process that panicked or died on its own. It holds no hub records:
//! those live inside the processes.

use super::cluster::{Cluster, QueenSource};
use crate::keeper::{jobs_of, requests_of, run_keeper, Schedule};
use crate::scenario::Scenario;
use crate::trace::{Recorder, TimeSource, Trace, What};
use rbee::dial::TcpDial;
use rbee::keeper::Keeper;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Runs `scenario` against real processes (or a staging queen) and returns its trace, or
/// why it could not run.
pub fn run(scenario: &Scenario, source: &QueenSource) -> Result<Trace, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    runtime.block_on(execute(scenario, source))
}

async fn execute(scenario: &Scenario, source: &QueenSource) -> Result<Trace, String> {
    let (reports, mut reported) = tokio::sync::mpsc::unbounded_channel();
    let mut cluster = Cluster::start(scenario, source, reports).await?;
    let origin = Instant::now();
    let recorder = Recorder::with_clock(TimeSource::Since(origin));
    let forward = {
        let recorder = recorder.clone();
        tokio::spawn(async move {
            while let Some((host, what)) = reported.recv().await {
                recorder.push(&host, what);
            }
        })
    };
    let mut keepers = JoinSet::new();
    for name in &scenario.keepers {
        let endpoint = cluster
            .keeper_endpoint(name)
            .ok_or_else(|| format!("keeper '{name}' has no link"))?;
        let (name, recorder, jobs) = (name.clone(), recorder.clone(), jobs_of(scenario, name));
        let (requests, hives) = (requests_of(scenario, &name), scenario.hives.clone());
        keepers.spawn(async move {
            let client = Keeper::new(Arc::new(TcpDial), endpoint);
            let schedule = Schedule::exact(origin);
            run_keeper(&name, &client, &recorder, &schedule, jobs, requests, &hives).await;
        });
    }
    let mut faults = scenario.faults.clone();
    faults.sort_by_key(|f| f.at_ms);
    let inject = async {
        for fault in &faults {
            tokio::time::sleep_until(origin + Duration::from_millis(fault.at_ms)).await;
            recorder.push(
                "sim",
                What::Fault {
                    fault: fault.kind.name().into(),
                    hosts: fault.hosts.clone(),
                },
            );
            cluster.apply(fault).await?;
        }
        std::future::pending::<Result<(), String>>().await
    };
    let limit = origin + Duration::from_millis(scenario.run_for_ms);
    let outcome = tokio::select! {
        () = async { while keepers.join_next().await.is_some() {} } => Ok(()),
        () = tokio::time::sleep_until(limit) => {
            recorder.push("sim", What::TimeLimit);
            Ok(())
        }
        failed = inject => failed,
    };
    keepers.abort_all();
    cluster.shutdown().await;
    let _ = forward.await;
    outcome?;
    let mut trace = recorder.trace();
    // Keepers record from several threads: order by time (stable, so each keeper's own
    // entries keep their order).
    trace.entries.sort_by_key(|e| e.t);
    Ok(trace)
}

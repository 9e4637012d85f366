//! What a scenario's keeper does with its jobs, written once for both kinds of run: the
//! simulated world drives it on turmoil's clock and network, `rbee-sim real` on tokio's
//! real clock against real processes. Each job is submitted at its `at_ms`, then followed,
//! dropped after N events, never connected, cancelled at `cancel_at_ms`, or followed while
//! its stream is asked for a second time (`stream_twice`); everything the
//! keeper sees goes into the [`Recorder`] under the keeper's name.

use crate::scenario::{Behaviour, JobPlan, Scenario};
use crate::trace::{Recorder, What};
use rbee::keeper::{Flow, Keeper, KeeperError, Outcome};
use std::time::Duration;

/// The jobs of `keeper` in `scenario`, with their scenario indexes (which name them in
/// traces), in file order.
pub fn jobs_of(scenario: &Scenario, keeper: &str) -> Vec<(usize, JobPlan)> {
    scenario
        .jobs
        .iter()
        .enumerate()
        .filter(|(_, j)| j.keeper == keeper)
        .map(|(i, j)| (i, j.clone()))
        .collect()
}

/// Runs all of one keeper's jobs concurrently, each at its own time after `start`.
pub async fn run_keeper(
    name: &str,
    client: &Keeper,
    recorder: &Recorder,
    start: tokio::time::Instant,
    jobs: Vec<(usize, JobPlan)>,
) {
    let runs = jobs
        .into_iter()
        .map(|(index, plan)| keeper_job(name, client, recorder, start, index, plan));
    futures::future::join_all(runs).await;
}

/// One keeper job: submit at its time, then follow / disconnect / never connect / cancel.
pub async fn keeper_job(
    name: &str,
    keeper: &Keeper,
    recorder: &Recorder,
    start: tokio::time::Instant,
    index: usize,
    plan: JobPlan,
) {
    tokio::time::sleep_until(start + Duration::from_millis(plan.at_ms)).await;
    let outcome = |job, outcome: &str, message: String| What::Outcome {
        index,
        job,
        outcome: outcome.to_owned(),
        message,
    };
    let submitted = match keeper.submit(&plan.operation.to_json()).await {
        Ok(s) => s,
        Err(e) => {
            let kind = match e {
                KeeperError::Rejected { .. } => "rejected",
                _ => "lost",
            };
            recorder.push(
                name,
                What::SubmitFailed {
                    index,
                    error: e.to_string(),
                },
            );
            recorder.push(name, outcome(None, kind, e.to_string()));
            return;
        }
    };
    let job = submitted.job_id.clone();
    recorder.push(
        name,
        What::Submit {
            index,
            job: job.clone(),
        },
    );
    if plan.behaviour == Behaviour::NeverConnect {
        recorder.push(name, outcome(Some(job), "never_connected", String::new()));
        return;
    }
    let cancel = async {
        if let Behaviour::CancelAt(at) = plan.behaviour {
            tokio::time::sleep_until(start + Duration::from_millis(at)).await;
            let result = match keeper.cancel(&job).await {
                Ok(_) => "ok".to_owned(),
                Err(e) => e.to_string(),
            };
            recorder.push(
                name,
                What::Cancel {
                    index,
                    job: job.clone(),
                    result,
                },
            );
        }
    };
    let (first_event, got_first) = tokio::sync::oneshot::channel::<()>();
    let restream = async {
        if plan.behaviour == Behaviour::StreamTwice && got_first.await.is_ok() {
            // A second request for the same stream; the reply's status is all that matters
            // (a 200 here would be a bug, and dropping it would cancel the job).
            let status = rbee::http_client::send(
                keeper.dial(),
                keeper.server(),
                http::Method::GET,
                &submitted.sse_url,
                None,
            )
            .await
            .map_or(0, |r| r.status.as_u16());
            recorder.push(
                name,
                What::Restream {
                    index,
                    job: job.clone(),
                    status,
                },
            );
        }
    };
    let follow = async {
        // Owned here, so a stream that ends without any event releases `restream`.
        let mut first_event = Some(first_event);
        tokio::time::sleep(Duration::from_millis(plan.connect_after_ms)).await;
        let mut seen = 0u64;
        let limit = match plan.behaviour {
            Behaviour::DisconnectAfter(n) => Some(n),
            _ => None,
        };
        let result = keeper
            .follow(&submitted, |event| {
                recorder.push(
                    name,
                    What::Received {
                        index,
                        job: job.clone(),
                        event: event.clone(),
                    },
                );
                seen += 1;
                if let Some(first) = first_event.take() {
                    let _ = first.send(());
                }
                match limit {
                    Some(n) if seen >= n => Flow::Stop,
                    _ => Flow::Continue,
                }
            })
            .await;
        let what = match &result {
            Ok(o @ (Outcome::Failed(m) | Outcome::Lost(m))) => {
                outcome(Some(job.clone()), o.name(), m.clone())
            }
            Ok(o) => outcome(Some(job.clone()), o.name(), String::new()),
            Err(e @ KeeperError::Rejected { .. }) => {
                outcome(Some(job.clone()), "rejected", e.to_string())
            }
            Err(e) => outcome(Some(job.clone()), "lost", e.to_string()),
        };
        recorder.push(name, what);
    };
    tokio::join!(follow, cancel, restream);
}

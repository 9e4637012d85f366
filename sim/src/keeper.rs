//! What a scenario's keeper does with its jobs, written once for both kinds of run: the
//! simulated world drives it on turmoil's clock and network, `rbee-sim real` on tokio's
//! real clock against real processes. Each job is submitted at its `at_ms`, then followed,
//! dropped after N events, never connected, cancelled at `cancel_at_ms`, or followed while
//! its stream is asked for a second time (`stream_twice`); everything the
//! keeper sees goes into the [`Recorder`] under the keeper's name.

use crate::scenario::{AfterEnd, Behaviour, JobPlan, RequestKind, RequestPlan, Scenario};
use crate::trace::{Recorder, What};
use bytes::Bytes;
use http::Method;
use rbee::ids::JobId;
use rbee::keeper::{Flow, Keeper, KeeperError, Outcome, Seen};
use rbee::perturb::Perturb;
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

/// The `[[requests]]` of `keeper` in `scenario`, with their indexes, in file order.
pub fn requests_of(scenario: &Scenario, keeper: &str) -> Vec<(usize, RequestPlan)> {
    scenario
        .requests
        .iter()
        .enumerate()
        .filter(|(_, r)| r.keeper == keeper)
        .map(|(i, r)| (i, r.clone()))
        .collect()
}

/// When a keeper acts: its time zero, and the timers it waits on, so that the simulated
/// side of a real run can make them late as a real keeper's timers are (exact everywhere
/// else, and in a real run, whose timers are late on their own).
#[derive(Clone)]
pub struct Schedule {
    /// The keeper's time zero: a plan's `at_ms` counts from it.
    pub start: tokio::time::Instant,
    /// The keeper's timers ([`Perturb::sleep`]).
    pub timers: Perturb,
}

impl Schedule {
    /// A schedule from `start` on exact timers.
    pub fn exact(start: tokio::time::Instant) -> Self {
        Self {
            start,
            timers: Perturb::off(),
        }
    }

    /// Waits until `ms` after the start.
    async fn at(&self, ms: u64) {
        self.timers
            .sleep_after(self.start, Duration::from_millis(ms))
            .await;
    }
}

/// Runs all of one keeper's jobs and requests concurrently, each at its own time after
/// the schedule's start.
pub async fn run_keeper(
    name: &str,
    client: &Keeper,
    recorder: &Recorder,
    schedule: &Schedule,
    jobs: Vec<(usize, JobPlan)>,
    requests: Vec<(usize, RequestPlan)>,
    hives: &[String],
) {
    let runs = jobs
        .into_iter()
        .map(|(index, plan)| keeper_job(name, client, recorder, schedule, index, plan));
    let asks = requests
        .into_iter()
        .map(|(index, plan)| keeper_request(name, client, recorder, schedule, index, plan, hives));
    futures::future::join(
        futures::future::join_all(runs),
        futures::future::join_all(asks),
    )
    .await;
}

/// A job id that is well formed and that no process ever creates: ids are 128 random bits,
/// and this one is fixed.
fn never_created(index: usize) -> JobId {
    JobId::from_bits(0x0bad_0000_0000_0000_0000_0000_0000_0000 | index as u128)
}

/// An id the server must refuse as malformed (docs/spec.md §2: characters outside
/// `[A-Za-z0-9_-]`).
const MALFORMED_ID: &str = "job-not*an*id";

/// One request of `[[requests]]`: sent at its time, its status recorded (0: no reply).
async fn keeper_request(
    name: &str,
    keeper: &Keeper,
    recorder: &Recorder,
    schedule: &Schedule,
    index: usize,
    plan: RequestPlan,
    hives: &[String],
) {
    schedule.at(plan.at_ms).await;
    let hive = hives.first().map_or("hive", String::as_str);
    let json = |v: serde_json::Value| Some(Bytes::from(v.to_string()));
    let (method, path, body) = match plan.kind {
        RequestKind::SubmitOversized => {
            let prompt = "x".repeat(rbee::server::MAX_BODY + 1);
            let op = serde_json::json!({"operation": "infer", "hive_id": hive, "model": "tinyllama", "prompt": prompt});
            (Method::POST, "/v1/jobs".to_owned(), json(op))
        }
        RequestKind::SubmitMalformed => (
            Method::POST,
            "/v1/jobs".to_owned(),
            Some(Bytes::from_static(b"{\"operation\": \"model_list\"")),
        ),
        RequestKind::SubmitUnknownField => {
            let op =
                serde_json::json!({"operation": "model_list", "hive_id": hive, "colour": "blue"});
            (Method::POST, "/v1/jobs".to_owned(), json(op))
        }
        RequestKind::SubmitUnknownHive => {
            let op = serde_json::json!({"operation": "model_list", "hive_id": "no-such-hive"});
            (Method::POST, "/v1/jobs".to_owned(), json(op))
        }
        RequestKind::StreamUnknown => (
            Method::GET,
            format!("/v1/jobs/{}/stream", never_created(index)),
            None,
        ),
        RequestKind::StreamMalformed => {
            (Method::GET, format!("/v1/jobs/{MALFORMED_ID}/stream"), None)
        }
        RequestKind::CancelUnknown => (
            Method::DELETE,
            format!("/v1/jobs/{}", never_created(index)),
            None,
        ),
        RequestKind::CancelMalformed => (Method::DELETE, format!("/v1/jobs/{MALFORMED_ID}"), None),
    };
    let status = status_of(keeper, method, &path, body).await;
    recorder.push(
        name,
        What::Request {
            job: None,
            request: Some(index),
            ask: plan.kind.name().to_owned(),
            status,
        },
    );
}

/// Sends one request and returns its status (0: no reply). The body of the reply is not
/// needed, and a stream that was (wrongly) granted is dropped at once.
async fn status_of(keeper: &Keeper, method: Method, path: &str, body: Option<Bytes>) -> u16 {
    rbee::http_client::send(keeper.dial(), keeper.server(), method, path, body)
        .await
        .map_or(0, |r| r.status.as_u16())
}

/// One keeper job: submit at its time, then follow / disconnect / never connect / cancel.
pub async fn keeper_job(
    name: &str,
    keeper: &Keeper,
    recorder: &Recorder,
    schedule: &Schedule,
    index: usize,
    plan: JobPlan,
) {
    schedule.at(plan.at_ms).await;
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
            schedule.at(at).await;
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
        schedule
            .timers
            .sleep(Duration::from_millis(plan.connect_after_ms))
            .await;
        let mut seen = 0u64;
        let limit = match plan.behaviour {
            Behaviour::DisconnectAfter(n) => Some(n),
            _ => None,
        };
        let result = keeper
            .watch(&submitted, |item| {
                let event = match item {
                    Seen::Event(event) => event,
                    Seen::KeepAlive => {
                        recorder.push(name, What::KeepAlive { index });
                        return Flow::Continue;
                    }
                };
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
    if let Some(after) = plan.after_end {
        let (method, path, kind) = match after {
            AfterEnd::Cancel => (
                Method::DELETE,
                format!("/v1/jobs/{job}"),
                "cancel_after_end",
            ),
            AfterEnd::Stream => (Method::GET, submitted.sse_url.clone(), "stream_after_end"),
        };
        let status = status_of(keeper, method, &path, None).await;
        recorder.push(
            name,
            What::Request {
                job: Some(index),
                request: None,
                ask: kind.to_owned(),
                status,
            },
        );
    }
}

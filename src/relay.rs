//! The queen's relay of a forwarded job (docs/spec.md §6, distributed mode).
//!
//! The queen POSTs the operation to the hive, streams the hive job, and re-emits each hive
//! narration or data event into the queen job's channel — queen job id, hive actor, order
//! kept, waiting for buffer space so a slow keeper loses nothing. Hive markers are
//! *interpreted*, never relayed as narration (historical bug 12). An unreachable hive, a lost
//! connection, 15 s of silence or no marker within the operation's deadline end the queen
//! job in an error naming the hive. If the relay is dropped before the hive job ended (the
//! queen job was cancelled), it cancels the hive job too (historical bug 11) — also when it
//! is dropped while the POST or the hive's reply is still on the wire, since the submit
//! runs in a task of its own that outlives the relay.

use crate::context::{self, narrate_wait};
use crate::dial::{Dial, Endpoint};
use crate::event::QUEEN_ACTOR;
use crate::event::{StreamEvent, Terminal};
use crate::handoff::{handoff, Taker};
use crate::http_client::{self, error_message};
use crate::hub::Sent;
use crate::ids::JobId;
use crate::observer::HubRecord;
use crate::operation::Operation;
use crate::perturb::Point;
use crate::probe::Probe;
use crate::sse_reader::{SseReader, StreamError};
use bytes::Bytes;
use http::{Method, StatusCode};
use std::sync::Arc;
use tokio::time::timeout_at;

/// Forwards `op` to the hive `name` at `ep` and relays its stream into the current job.
///
/// `cancelled` turns `true` when the queen job is cancelled (its channel stays open,
/// [`crate::registry::Job::drain_on_cancel`]). Before the hive job's stream is asked for,
/// the forward just stops (the hive job never ran; it is cancelled on the hive as below).
/// After, the hive job may already have committed its effect: the forward asks the hive to
/// cancel it and relays on until the hive's marker, so that a commit line the hive showed
/// reaches the queen's stream before `cancelled` (docs/spec.md §9 `semantics`).
pub(crate) async fn forward(
    dial: &Arc<dyn Dial>,
    name: &str,
    ep: &Endpoint,
    op: &Operation,
    mut cancelled: Option<tokio::sync::watch::Receiver<bool>>,
) -> Result<(), String> {
    let stop = || "the job was cancelled".to_owned();
    let deadline = tokio::time::Instant::now() + op.deadline();
    let late = || {
        format!(
            "hive '{name}' gave no result within the {} ms deadline",
            op.deadline().as_millis()
        )
    };
    narrate_wait(
        QUEEN_ACTOR,
        "forward",
        format!("Forwarding {} to hive '{name}' at {ep}", op.name()),
    )
    .await;
    let hive_job = tokio::select! {
        submitted = timeout_at(deadline, submit_or_cancel(dial, name, ep, op)) => {
            submitted.map_err(|_| late())??
        }
        () = cancel_of(&mut cancelled) => return Err(stop()),
    };
    if let Some(ctx) = context::current() {
        ctx.hub.record(|| HubRecord::Forward {
            job: ctx.job_id.clone(),
            hive: name.to_owned(),
            hive_job: hive_job.clone(),
        });
    }
    let mut guard = CancelOnDrop {
        dial: dial.clone(),
        ep: ep.clone(),
        job: Some(hive_job.clone()),
        ctx: context::current(),
    };
    if let Some(ctx) = &guard.ctx {
        tokio::select! {
            () = ctx.perturb.pause(Point::Forward) => {}
            () = cancel_of(&mut cancelled) => return Err(stop()),
        }
    }
    let relaying = timeout_at(deadline, relay(dial.as_ref(), name, ep, &hive_job));
    let mut relaying = std::pin::pin!(relaying);
    let relayed = tokio::select! {
        relayed = &mut relaying => relayed,
        () = cancel_of(&mut cancelled) => {
            // Drain: the hive cancels its job (or has finished it) and says so with its
            // marker, which ends the relay.
            if let Some(job) = guard.job.take() {
                let (dial, ep, ctx) = (dial.clone(), ep.clone(), guard.ctx.clone());
                if let Some(ctx) = &ctx {
                    ctx.probe(Probe::CancelDrained);
                }
                crate::spawn::spawn(async move { cancel_hive_job(dial, ep, job, ctx.as_ref()).await });
            }
            relaying.await
        }
    };
    let result = match relayed {
        Err(_) => Err(late()),
        Ok(Ok(())) => Ok(()),
        Ok(Err(Broken::HiveEnded(msg))) => {
            guard.job = None;
            Err(msg)
        }
        Ok(Err(Broken::Link(msg))) => Err(msg),
    };
    if result.is_ok() {
        guard.job = None;
    }
    result
}

/// Resolves once the queen job is cancelled; never without a signal.
async fn cancel_of(cancelled: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    match cancelled {
        Some(rx) => {
            if rx.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// How a relay ended without `done`.
enum Broken {
    /// The hive job ended in error or was cancelled: nothing left to cancel there.
    HiveEnded(String),
    /// The link broke; the hive job may still be running.
    Link(String),
}

/// Submits `op` from a task of its own. The hive creates its job as soon as the POST
/// arrives; if the forward is dropped before it took the reply (the queen job cancelled or
/// its client gone, the deadline passed), nobody would learn that job's id and it would sit
/// queued until its TTL. The task outlives the forward and the reply is handed over
/// ([`crate::handoff`]): whichever side holds it last cancels the hive job, so a queen job's
/// cancel reaches the hive (docs/spec.md §6) even when it lands while the POST or its reply is on
/// the wire.
async fn submit_or_cancel(
    dial: &Arc<dyn Dial>,
    name: &str,
    ep: &Endpoint,
    op: &Operation,
) -> Result<JobId, String> {
    let (giver, taker) = handoff();
    let mut pending = PendingSubmit {
        taker,
        dial: dial.clone(),
        ep: ep.clone(),
        ctx: context::current(),
    };
    let (dial, owned_name, ep, op) = (dial.clone(), name.to_owned(), ep.clone(), op.clone());
    context::spawn_lasting(async move {
        let result = submit(dial.as_ref(), &owned_name, &ep, &op).await;
        if let Err(Ok(job)) = giver.give(result) {
            // The forward was dropped before the reply: cancel what the hive created.
            cancel_hive_job(dial, ep, job, context::current().as_ref()).await;
        }
    });
    pending
        .taker
        .take()
        .await
        .unwrap_or_else(|| Err(format!("hive '{name}': the submit was stopped")))
}

/// A submit's reply, awaited by the forward. Dropped with a reply in it that the forward
/// never took, it cancels that hive job; dropped before the reply, it leaves the cancel to
/// the submit task, whose reply is refused.
struct PendingSubmit {
    taker: Taker<Result<JobId, String>>,
    dial: Arc<dyn Dial>,
    ep: Endpoint,
    ctx: Option<context::NarrationContext>,
}

impl Drop for PendingSubmit {
    fn drop(&mut self) {
        if let Some(Ok(job)) = self.taker.abandon() {
            let (dial, ep, ctx) = (self.dial.clone(), self.ep.clone(), self.ctx.clone());
            crate::spawn::spawn(async move { cancel_hive_job(dial, ep, job, ctx.as_ref()).await });
        }
    }
}

async fn submit(
    dial: &dyn Dial,
    name: &str,
    ep: &Endpoint,
    op: &Operation,
) -> Result<JobId, String> {
    let body = Bytes::from(op.to_json().to_string());
    let resp = http_client::send(dial, ep, Method::POST, "/v1/jobs", Some(body))
        .await
        .map_err(|e| format!("hive '{name}' unreachable at {ep}: {e}"))?;
    let status = resp.status;
    let json = resp
        .json()
        .await
        .map_err(|e| format!("hive '{name}' sent a bad reply: {e}"))?;
    if status != StatusCode::CREATED {
        return Err(format!(
            "hive '{name}' refused the job ({status}): {}",
            error_message(&json)
        ));
    }
    json.get("job_id")
        .and_then(|j| j.as_str())
        .and_then(|j| JobId::parse(j).ok())
        .ok_or_else(|| format!("hive '{name}' sent no valid job_id"))
}

/// Relays the hive job's stream until its marker.
async fn relay(dial: &dyn Dial, name: &str, ep: &Endpoint, hive_job: &JobId) -> Result<(), Broken> {
    let link = |m: String| Broken::Link(m);
    let path = format!("/v1/jobs/{hive_job}/stream");
    let resp = http_client::send(dial, ep, Method::GET, &path, None)
        .await
        .map_err(|e| link(format!("hive '{name}' unreachable at {ep}: {e}")))?;
    if resp.status != StatusCode::OK {
        let status = resp.status;
        let msg = resp
            .json()
            .await
            .map(|j| error_message(&j))
            .unwrap_or_default();
        return Err(link(format!(
            "hive '{name}' refused the stream ({status}): {msg}"
        )));
    }
    let mut reader = SseReader::new(resp.body);
    let ctx = context::current();
    let probe = |p: Probe| {
        if let Some(ctx) = &ctx {
            ctx.probe(p);
        }
    };
    loop {
        let event = match reader.next().await {
            Ok(Some(event)) => event,
            Ok(None) => {
                probe(Probe::RelayLinkLost);
                return Err(link(format!(
                    "lost connection to hive '{name}': stream ended without a result"
                )));
            }
            Err(StreamError::Silent(d)) => {
                probe(Probe::RelaySilence);
                return Err(link(format!(
                    "lost connection to hive '{name}': no data for {} s",
                    d.as_secs()
                )));
            }
            Err(e) => {
                probe(Probe::RelayLinkLost);
                return Err(link(format!("lost connection to hive '{name}': {e}")));
            }
        };
        let sent = match event {
            StreamEvent::Narration(n) => narrate_wait(&n.actor, &n.action, n.human).await,
            StreamEvent::Data(d) => context::data(&d.action, d.payload).await,
            StreamEvent::Lagged(l) => {
                narrate_wait(
                    QUEEN_ACTOR,
                    "relay_lagged",
                    format!("hive '{name}' dropped {} event(s) of this job", l.dropped),
                )
                .await
            }
            StreamEvent::Terminal(Terminal::Done) => return Ok(()),
            StreamEvent::Terminal(Terminal::Error(msg)) => return Err(Broken::HiveEnded(msg)),
            StreamEvent::Terminal(Terminal::Cancelled) => {
                return Err(Broken::HiveEnded(format!(
                    "hive '{name}' cancelled the job"
                )))
            }
        };
        if sent == Some(Sent::NoChannel) {
            // The queen job ended while its relay was still running: the event belongs to
            // no stream (docs/spec.md §4.3), and was counted by the hub.
            probe(Probe::RelayAfterEnd);
        }
        if let Some(ctx) = &ctx {
            ctx.perturb.pause(Point::Relay).await;
        }
    }
}

/// Cancels the hive job when the relay is dropped before the hive job ended.
struct CancelOnDrop {
    dial: Arc<dyn Dial>,
    ep: Endpoint,
    job: Option<JobId>,
    /// The queen job's context, for the probe.
    ctx: Option<context::NarrationContext>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(job) = self.job.take() else { return };
        let (dial, ep, ctx) = (self.dial.clone(), self.ep.clone(), self.ctx.clone());
        crate::spawn::spawn(async move { cancel_hive_job(dial, ep, job, ctx.as_ref()).await });
    }
}

/// Sends the hive a `DELETE` for `job`, a hive job whose queen job no longer follows it.
/// Best effort and bounded: the hive also cancels a job when its stream drops.
async fn cancel_hive_job(
    dial: Arc<dyn Dial>,
    ep: Endpoint,
    job: JobId,
    ctx: Option<&context::NarrationContext>,
) {
    if let Some(ctx) = ctx {
        ctx.probe(Probe::CancelForwarded);
    }
    let path = format!("/v1/jobs/{job}");
    let _ = http_client::send(dial.as_ref(), &ep, Method::DELETE, &path, None).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dial::BoxIo;
    use crate::handoff::Giver;
    use futures::future::BoxFuture;
    use std::sync::Mutex;

    /// Records every dial and fails it (not as a refusal, so nothing is retried).
    #[derive(Default)]
    struct RecordingDial(Mutex<Vec<String>>);

    impl Dial for RecordingDial {
        fn dial(&self, host: &str, port: u16) -> BoxFuture<'static, std::io::Result<BoxIo>> {
            self.0.lock().unwrap().push(format!("{host}:{port}"));
            Box::pin(async { Err(std::io::Error::other("recorded")) })
        }
    }

    fn pending(dial: &Arc<RecordingDial>) -> (Giver<Result<JobId, String>>, PendingSubmit) {
        let (giver, taker) = handoff();
        let pending = PendingSubmit {
            taker,
            dial: dial.clone(),
            ep: Endpoint {
                host: "hive-a".into(),
                port: 7835,
            },
            ctx: None,
        };
        (giver, pending)
    }

    /// The reply reached the channel but the forward was dropped before taking it: the
    /// pending submit sends the hive a `DELETE` for that job (nobody else knows its id).
    #[tokio::test]
    async fn a_reply_the_dropped_forward_never_took_is_cancelled_on_the_hive() {
        let dial = Arc::new(RecordingDial::default());
        let (giver, pending) = pending(&dial);
        giver
            .give(Ok(JobId::from_bits(7)))
            .expect("the forward still waits");
        drop(pending);
        for _ in 0..100 {
            if !dial.0.lock().unwrap().is_empty() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(*dial.0.lock().unwrap(), ["hive-a:7835"]);
    }

    /// Dropped before the reply: the hand-off is abandoned, so the submit task is refused the
    /// reply and cancels the job itself; the pending submit sends nothing.
    #[tokio::test]
    async fn a_forward_dropped_before_the_reply_leaves_the_cancel_to_the_submit_task() {
        let dial = Arc::new(RecordingDial::default());
        let (giver, pending) = pending(&dial);
        drop(pending);
        let refused = giver.give(Ok(JobId::from_bits(7)));
        assert!(
            matches!(refused, Err(Ok(_))),
            "the reply comes back to the task"
        );
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(dial.0.lock().unwrap().is_empty());
    }
}

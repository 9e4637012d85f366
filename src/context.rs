//! The narration context: which job (and which process's hub) narration belongs to.
//!
//! The context is set **once**, where a job starts executing ([`scope`]), for every
//! operation (historical bug 4). Narration reads it to route to the job's channel; without
//! a context a line goes to the process log only, never to a stream. Sub-tasks must be
//! started with [`spawn`], which carries the context along: a plain `tokio::spawn` would
//! lose it (historical bug 5).
//!
//! The context is task-local storage, not shared state: two simulated processes in one OS
//! process each carry their own hub in their own tasks.

use crate::clock::Clock;
use crate::hub::{Body, Commit, Hub, Sent};
use crate::ids::JobId;
use crate::perturb::{Perturb, Point};
use crate::probe::Probe;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::task::{JoinError, JoinHandle};

/// Where narration of the current task goes.
#[derive(Clone, Debug)]
pub struct NarrationContext {
    /// The job the narration belongs to.
    pub job_id: JobId,
    /// The hub of the process running the job.
    pub hub: Hub,
    /// The process clock, for `at_ms`.
    pub clock: Clock,
    /// The process's perturbation points (off outside the simulator).
    pub perturb: Perturb,
    /// Set in a sub-task's context: whether it has delivered a line yet (probed once).
    sub_task: Option<Arc<AtomicBool>>,
}

impl NarrationContext {
    /// The context of job `job_id` on the process owning `hub`.
    pub fn new(job_id: JobId, hub: Hub, clock: Clock, perturb: Perturb) -> Self {
        Self {
            job_id,
            hub,
            clock,
            perturb,
            sub_task: None,
        }
    }

    /// Records that `probe` happened to this context's job.
    pub fn probe(&self, probe: Probe) {
        self.hub.probe(probe, Some(&self.job_id));
    }

    /// Notes a send's result: the first delivered line of a sub-task is probed.
    fn sent(&self, sent: Sent) -> Sent {
        if let (Sent::Delivered(_), Some(first)) = (sent, &self.sub_task) {
            if !first.swap(true, Ordering::Relaxed) {
                self.probe(Probe::SubtaskLineDelivered);
            }
        }
        sent
    }
}

tokio::task_local! {
    static CONTEXT: NarrationContext;
}

/// Runs `fut` with `ctx` as its narration context.
pub async fn scope<F: Future>(ctx: NarrationContext, fut: F) -> F::Output {
    CONTEXT.scope(ctx, fut).await
}

/// The current task's narration context, if any.
pub fn current() -> Option<NarrationContext> {
    CONTEXT.try_with(Clone::clone).ok()
}

/// Records that `probe` happened to the current task's job; nothing outside a job.
pub fn probe(probe: Probe) {
    if let Some(ctx) = current() {
        ctx.probe(probe);
    }
}

/// Spawns a sub-task that inherits the current narration context.
///
/// This is the only way job code starts tasks, so sub-task output (build logs) reaches the
/// job's stream. The returned [`SubTask`] aborts the task when dropped, so cancelling a
/// job also stops everything it started (and that abort is probed).
pub fn spawn<F>(fut: F) -> SubTask<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match current() {
        Some(ctx) => {
            let child = NarrationContext {
                sub_task: Some(Arc::new(AtomicBool::new(false))),
                ..ctx.clone()
            };
            SubTask {
                task: crate::spawn::spawn(CONTEXT.scope(child, fut)),
                job: Some(ctx),
            }
        }
        None => SubTask {
            task: crate::spawn::spawn(fut),
            job: None,
        },
    }
}

/// Spawns a task that drives I/O for the current job (an HTTP connection) in its context.
/// Like [`spawn`] it is aborted when dropped, but that is its normal end, not a probe.
pub fn spawn_driver<F>(fut: F) -> SubTask<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    SubTask {
        task: match current() {
            Some(ctx) => crate::spawn::spawn(CONTEXT.scope(ctx, fut)),
            None => crate::spawn::spawn(fut),
        },
        job: None,
    }
}

/// Spawns a task that carries the current narration context (its probes still name the
/// job) but is *not* aborted when its handle is dropped: for a step whose effect elsewhere
/// must be seen through even if the job ends meanwhile — the relay's submit to a hive,
/// which must cancel the hive job it created if nobody waits for it any more.
pub fn spawn_lasting<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match current() {
        Some(ctx) => crate::spawn::spawn(CONTEXT.scope(ctx, fut)),
        None => crate::spawn::spawn(fut),
    }
}

/// Spawns a process-level task that is *not* part of any job — a worker that outlives the
/// job which started it. It runs outside every narration context (it can only narrate
/// with an explicit job id, [`narrate_to`]) and is aborted when its handle is dropped.
pub fn spawn_detached<F>(fut: F) -> SubTask<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    SubTask {
        task: crate::spawn::spawn(fut),
        job: None,
    }
}

/// A task started by [`spawn`]: awaiting it yields its output; dropping it aborts it.
#[derive(Debug)]
pub struct SubTask<T> {
    task: JoinHandle<T>,
    /// The job whose sub-task this is (probed if it is aborted unfinished).
    job: Option<NarrationContext>,
}

impl<T> Future for SubTask<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.task).poll(cx)
    }
}

impl<T> Drop for SubTask<T> {
    fn drop(&mut self) {
        if !self.task.is_finished() {
            if let Some(ctx) = &self.job {
                ctx.probe(Probe::SubtaskAborted);
            }
        }
        self.task.abort();
    }
}

fn trace(job: Option<&JobId>, actor: &str, action: &str, human: &str) {
    match job {
        Some(job) => {
            tracing::info!(target: "rbee::narration", job_id = %job, actor, action, "{human}")
        }
        None => tracing::info!(target: "rbee::narration", actor, action, "{human}"),
    }
}

fn narration(ctx: &NarrationContext, actor: &str, action: &str, human: String) -> Body {
    Body::Narration {
        actor: actor.to_owned(),
        action: action.to_owned(),
        human,
        at_ms: ctx.clock.now_ms(),
    }
}

/// Emits a narration line on the synchronous path (never waits; may drop if the job's
/// buffer is full, which the stream reports as `lagged`). Returns `None` without a context.
pub fn narrate(actor: &str, action: &str, human: impl Into<String>) -> Option<Sent> {
    let human = human.into();
    let ctx = current();
    trace(ctx.as_ref().map(|c| &c.job_id), actor, action, &human);
    let ctx = ctx?;
    Some(narrate_to(&ctx, actor, action, human))
}

/// Emits a narration line for `ctx`'s job on the synchronous path, from anywhere: the
/// explicit-job-id form of docs/spec.md §4.3, for tasks that outlive their job's context (a
/// worker). A job without a channel drops the line and counts it.
pub fn narrate_to(ctx: &NarrationContext, actor: &str, action: &str, human: String) -> Sent {
    trace(Some(&ctx.job_id), actor, action, &human);
    let body = narration(ctx, actor, action, human);
    ctx.sent(ctx.hub.send(&ctx.job_id, body))
}

/// A job's timer: sleeps `d` on the process clock, as late as the current context's
/// perturbation makes timers ([`Perturb::sleep`]); without a context, as the task's own
/// timers are ([`crate::perturb::task_timers`]: a plain sleep unless a simulator set them).
pub async fn sleep(d: std::time::Duration) {
    match current() {
        Some(ctx) => ctx.perturb.sleep(d).await,
        None => crate::perturb::task_timers().sleep(d).await,
    }
}

/// Emits a narration line, waiting for buffer space: for bulk output and relays, which
/// must lose nothing while a reader is connected.
pub async fn narrate_wait(actor: &str, action: &str, human: impl Into<String>) -> Option<Sent> {
    let human = human.into();
    let ctx = current();
    trace(ctx.as_ref().map(|c| &c.job_id), actor, action, &human);
    let ctx = ctx?;
    ctx.perturb.pause(Point::Emit).await;
    let body = narration(&ctx, actor, action, human);
    Some(ctx.sent(ctx.hub.send_wait(&ctx.job_id, body).await))
}

/// An operation's commit point: applies `effect` and delivers the narration line it
/// returns as one step ([`Hub::commit`]), so that the job's stream shows the line if and
/// only if the effect happened. A job that already ended (cancelled, its client gone)
/// gets [`Commit::Ended`] and `effect` never runs. Without a context the effect runs and
/// its line goes to the process log.
pub async fn commit<E>(
    actor: &str,
    action: &str,
    effect: impl FnOnce() -> Result<String, E>,
) -> Commit<E> {
    let Some(ctx) = current() else {
        return match effect() {
            Ok(human) => {
                trace(None, actor, action, &human);
                Commit::Done
            }
            Err(e) => Commit::Refused(e),
        };
    };
    ctx.perturb.pause(Point::Emit).await;
    let committed = ctx
        .hub
        .commit(&ctx.job_id, || {
            effect().map(|human| {
                trace(Some(&ctx.job_id), actor, action, &human);
                narration(&ctx, actor, action, human)
            })
        })
        .await;
    if matches!(committed, Commit::Done) {
        ctx.sent(Sent::Delivered(0));
    }
    committed
}

/// Emits a structured `data` event, waiting for buffer space.
pub async fn data(action: &str, payload: serde_json::Value) -> Option<Sent> {
    let ctx = current();
    match ctx.as_ref() {
        Some(c) => {
            tracing::debug!(target: "rbee::narration", job_id = %c.job_id, action, %payload, "data")
        }
        None => tracing::debug!(target: "rbee::narration", action, %payload, "data"),
    }
    let ctx = ctx?;
    ctx.perturb.pause(Point::Emit).await;
    let body = Body::Data {
        action: action.to_owned(),
        payload,
    };
    Some(ctx.sent(ctx.hub.send_wait(&ctx.job_id, body).await))
}

/// Emits a narration line on the synchronous path with `format!` arguments:
/// `n!("hive", "model_list_start", "Listing models on hive '{}'", id)`.
#[macro_export]
macro_rules! n {
    ($actor:expr, $action:expr, $($fmt:tt)+) => {
        $crate::context::narrate($actor, $action, format!($($fmt)+))
    };
}

/// Emits a narration line and waits for buffer space, with `format!` arguments:
/// `nw!("hive", "model_list_start", "Listing models on hive '{}'", id)`. This is what job
/// handlers use: they run in async code, so a full buffer makes them wait (as TCP would)
/// instead of dropping their lines.
#[macro_export]
macro_rules! nw {
    ($actor:expr, $action:expr, $($fmt:tt)+) => {
        $crate::context::narrate_wait($actor, $action, format!($($fmt)+)).await
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::NoObserver;
    use std::sync::Arc;

    fn setup() -> (Hub, NarrationContext) {
        let clock = Clock::start();
        let hub = Hub::new(100, clock, Arc::new(NoObserver));
        let job = JobId::from_bits(9);
        hub.create(&job);
        let ctx = NarrationContext::new(job, hub.clone(), clock, Perturb::off());
        (hub, ctx)
    }

    #[tokio::test]
    async fn spawned_sub_tasks_keep_the_context_and_plain_spawn_does_not() {
        let (hub, ctx) = setup();
        scope(ctx, async {
            let kept = spawn(async { narrate("t", "sub", "kept") }).await.unwrap();
            assert_eq!(kept, Some(Sent::Delivered(0)));
            let lost = tokio::spawn(async { narrate("t", "sub", "lost") })
                .await
                .unwrap();
            assert_eq!(lost, None, "plain tokio::spawn loses the context");
        })
        .await;
        assert_eq!(hub.stats().delivered, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_a_sub_task_stops_it() {
        let (hub, ctx) = setup();
        scope(ctx, async {
            let build = spawn(async {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                narrate("t", "sub", "after the job was cancelled")
            });
            drop(build);
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        })
        .await;
        assert_eq!(
            hub.stats().delivered,
            0,
            "the dropped sub-task kept running"
        );
    }

    #[tracing_test::traced_test]
    #[tokio::test]
    async fn narration_without_context_goes_to_the_log_only() {
        let (hub, _) = setup();
        assert_eq!(n!("queen", "startup", "listening on {}", 80), None);
        assert_eq!(hub.stats().delivered, 0);
        assert!(logs_contain("listening on 80"));
    }
}

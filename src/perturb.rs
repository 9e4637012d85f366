//! In-process perturbation (FoundationDB calls it BUGGIFY): chosen points in the system's
//! own code where a simulator may insert a yield or a short wait, or a harmless stray
//! narration line, to reach interleavings inside one process that network faults cannot.
//!
//! It is injected like the clock: a [`Perturb`] handle in the node's configuration, off by
//! default and a no-op on real sockets (no draw, no allocation, no wait). The simulator
//! plugs in a [`Perturber`] that decides from the run's seeded RNG, in simulation order, so
//! the same seed perturbs the same way and gives the same trace.
//!
//! Every point is a place where a real multi-threaded process may legally be slow: another
//! worker thread is running the task, the scheduler picked another task first, a task that
//! holds a job id emits late. None of them changes what the system promises; each widens a
//! window in which two of its steps can meet.
//!
//! Timers are the other place: every timer that paces a job or ends one (the TTL, download
//! chunks, build pacing, worker logs, the relay's connect backoff) sleeps through
//! [`Perturb::sleep`] or [`Perturb::sleep_after`], which add the perturber's
//! [`Perturber::timer_lateness`] and stretch by its [`Perturber::dilation`]; I/O timeouts
//! do not (a millisecond there decides nothing, and they are seconds long). A
//! simulated timer fires exactly at its deadline's step; a real one fires when tokio's
//! millisecond wheel and the OS wake it, 1–2 ms late on loopback (measured in README.md,
//! "Against real processes"). Timers are not [`Point`]s: no exploration needs them, and
//! only the simulated side of a comparison with real processes asks for lateness.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A place in the system's code where a run may be perturbed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Point {
    /// Between a stream taking a job's receiver and the job starting: a cancel or an expiry
    /// may land in between.
    TakeStart,
    /// Between recording a job's final state and closing its channel.
    FinishClose,
    /// Between a hive accepting a forwarded job (its `201`) and the queen's relay asking for
    /// the hive job's stream: a cancel of the queen job may land while the hive job waits
    /// unstreamed, where only the relay's `DELETE` can end it (historical bug 11).
    Forward,
    /// Between two events the queen's relay forwards.
    Relay,
    /// Before each emit of a job handler (between its lines).
    Emit,
    /// Before a `DELETE` takes effect.
    Cancel,
    /// Aborting the tasks of a job that just ended lags: they may run on for a moment, as a
    /// task being polled on another worker thread does.
    AbortLag,
    /// Right after a job's channel is gone, one more line arrives for it (a task that held
    /// the job's id emits late).
    Straggler,
    /// A line arrives for a job id this process never created (a misaddressed explicit id).
    Stray,
}

impl Point {
    /// Every point, in declaration order.
    pub const ALL: [Point; 9] = [
        Self::TakeStart,
        Self::FinishClose,
        Self::Forward,
        Self::Relay,
        Self::Emit,
        Self::Cancel,
        Self::AbortLag,
        Self::Straggler,
        Self::Stray,
    ];

    /// Stable snake_case name, as traces and reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::TakeStart => "take_start",
            Self::FinishClose => "finish_close",
            Self::Forward => "forward",
            Self::Relay => "relay",
            Self::Emit => "emit",
            Self::Cancel => "cancel",
            Self::AbortLag => "abort_lag",
            Self::Straggler => "straggler",
            Self::Stray => "stray",
        }
    }
}

/// Decides, at each point, whether and how to perturb. Implementations must be quick and
/// deterministic for a given sequence of calls (the simulator's draws from its seeded RNG).
pub trait Perturber: Send + Sync + 'static {
    /// `None` leaves the code alone; `Some(d)` perturbs: waits `d` (zero: yields once) at a
    /// waiting point, or fires the stray / straggler line at an emitting point.
    fn at(&self, point: Point) -> Option<Duration>;

    /// Random bits for a stray job id ([`Point::Stray`]).
    fn bits(&self) -> u128;

    /// How much later than its deadline the timer being set now fires. Zero (the default)
    /// keeps timers exact, as every replay, exploration and snapshot runs them.
    fn timer_lateness(&self) -> Duration {
        Duration::ZERO
    }

    /// How many milliseconds of the process clock a millisecond of a timer lasts. One (the
    /// default) everywhere but on the simulated side of a comparison with real processes,
    /// which stretches every timer so that a simulated message, which waits for the next
    /// whole-millisecond step where a real one on loopback takes a fraction of a
    /// millisecond, costs a job a smaller share of its time.
    fn dilation(&self) -> u32 {
        1
    }
}

tokio::task_local! {
    static TASK_TIMERS: Perturb;
}

/// Runs `fut` with `timers` as the perturbation of its timers outside any job: a client
/// (a keeper) has no job context to carry one, and its timers (the connect backoff) must
/// be as late and as stretched as the rest of its run. Task-local, like the job context:
/// two simulated processes in one OS process never share it.
pub async fn with_task_timers<F: std::future::Future>(timers: Perturb, fut: F) -> F::Output {
    TASK_TIMERS.scope(timers, fut).await
}

/// The perturbation of the current task's timers outside a job ([`with_task_timers`]); off
/// when none was set, as in every real process.
pub fn task_timers() -> Perturb {
    TASK_TIMERS.try_with(Clone::clone).unwrap_or_default()
}

/// A process's perturbation handle: off (the default, and always on real sockets), or a
/// simulator's [`Perturber`]. Cheap to clone.
#[derive(Clone, Default)]
pub struct Perturb(Option<Arc<dyn Perturber>>);

impl fmt::Debug for Perturb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Perturb(on)"
        } else {
            "Perturb(off)"
        })
    }
}

impl Perturb {
    /// No perturbation.
    pub fn off() -> Self {
        Self(None)
    }

    /// Perturbation decided by `perturber`.
    pub fn with(perturber: Arc<dyn Perturber>) -> Self {
        Self(Some(perturber))
    }

    /// Whether a perturber is installed.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The decision at `point` (always `None` when off).
    pub fn at(&self, point: Point) -> Option<Duration> {
        self.0.as_ref().and_then(|p| p.at(point))
    }

    /// Random bits for a stray job id, if on.
    pub fn bits(&self) -> Option<u128> {
        self.0.as_ref().map(|p| p.bits())
    }

    /// How long a timer of `d` that starts at `start` lasts on the process clock: `d`
    /// times the perturber's dilation, plus its lateness (stretched too) if the timer has
    /// to wait at all; exactly `d` when off. A timer already due when it is set (a zero
    /// wait, a deadline in the past) fires at once, as tokio fires a real one: it is not
    /// late.
    fn timer(&self, start: tokio::time::Instant, d: Duration) -> Duration {
        let Some(p) = &self.0 else { return d };
        let dilation = p.dilation().max(1);
        let due = d * dilation;
        if start + due <= tokio::time::Instant::now() {
            return due;
        }
        (d + p.timer_lateness()) * dilation
    }

    /// A timer of the system: sleeps `d` on the process clock, late and stretched as the
    /// perturber makes timers. On real sockets exactly `tokio::time::sleep(d)`.
    pub async fn sleep(&self, d: Duration) {
        let now = tokio::time::Instant::now();
        tokio::time::sleep(self.timer(now, d)).await;
    }

    /// A timer of the system with a deadline `d` after `start` (a pace that does not drift
    /// with the lateness of earlier timers), late and stretched as the perturber makes
    /// timers. On real sockets exactly `tokio::time::sleep_until(start + d)`.
    pub async fn sleep_after(&self, start: tokio::time::Instant, d: Duration) {
        tokio::time::sleep_until(start + self.timer(start, d)).await;
    }

    /// A waiting point: returns at once when off or when the perturber leaves it alone;
    /// otherwise yields once (zero) or sleeps on the process clock.
    pub async fn pause(&self, point: Point) {
        match self.at(point) {
            None => {}
            Some(d) if d.is_zero() => tokio::task::yield_now().await,
            Some(d) => tokio::time::sleep(d).await,
        }
    }

    /// Runs `f` now, or — when the perturber chooses to at `point` — from a task that first
    /// pauses as [`Perturb::pause`] does. Used to let a job's aborts lag behind its end.
    pub fn defer(&self, point: Point, f: impl FnOnce() + Send + 'static) {
        match self.at(point) {
            None => f(),
            Some(d) => {
                crate::spawn::spawn(async move {
                    if d.is_zero() {
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(d).await;
                    }
                    f();
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Perturbs every point with a 3 ms wait and counts the calls.
    struct Always(AtomicUsize);

    impl Perturber for Always {
        fn at(&self, _: Point) -> Option<Duration> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Some(Duration::from_millis(3))
        }
        fn bits(&self) -> u128 {
            7
        }
    }

    #[tokio::test(start_paused = true)]
    async fn off_never_waits_and_on_waits_on_the_process_clock() {
        let start = tokio::time::Instant::now();
        Perturb::off().pause(Point::Emit).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(Perturb::off().bits(), None);
        let always = Arc::new(Always(AtomicUsize::new(0)));
        let on = Perturb::with(always.clone());
        on.pause(Point::Emit).await;
        assert_eq!(start.elapsed(), Duration::from_millis(3));
        assert_eq!(on.bits(), Some(7));
        assert_eq!(always.0.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn defer_runs_at_once_when_off_and_later_when_perturbed() {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        Perturb::off().defer(Point::AbortLag, move || {
            r.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.load(Ordering::Relaxed), 1);
        let r = ran.clone();
        Perturb::with(Arc::new(Always(AtomicUsize::new(0)))).defer(Point::AbortLag, move || {
            r.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.load(Ordering::Relaxed), 1, "deferred, not run yet");
        tokio::time::sleep(Duration::from_millis(4)).await;
        assert_eq!(ran.load(Ordering::Relaxed), 2);
    }

    /// Makes every timer `late` ms late and `dilation` times as long, and leaves every point
    /// alone.
    struct Timers {
        late: u64,
        dilation: u32,
    }

    impl Perturber for Timers {
        fn at(&self, _: Point) -> Option<Duration> {
            None
        }
        fn bits(&self) -> u128 {
            0
        }
        fn timer_lateness(&self) -> Duration {
            Duration::from_millis(self.late)
        }
        fn dilation(&self) -> u32 {
            self.dilation
        }
    }

    /// Proves timers are exact when off and under a perturber that only perturbs points,
    /// and late by the lateness a perturber gives them, for both kinds of timer.
    #[tokio::test(start_paused = true)]
    async fn timers_are_exact_unless_the_perturber_makes_them_late() {
        let start = tokio::time::Instant::now();
        Perturb::off().sleep(Duration::from_millis(5)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(5));
        let points_only = Perturb::with(Arc::new(Always(AtomicUsize::new(0))));
        points_only.sleep(Duration::from_millis(5)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(10));
        let late = Perturb::with(Arc::new(Timers {
            late: 2,
            dilation: 1,
        }));
        late.sleep(Duration::from_millis(5)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(17));
        late.sleep_after(start, Duration::from_millis(20)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(22));
        late.sleep(Duration::ZERO).await;
        late.sleep_after(start, Duration::from_millis(21)).await;
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(22),
            "a timer already due when it is set fires at once, not late"
        );
    }

    /// Proves a dilated timer lasts its time and its lateness stretched, for both kinds of
    /// timer, and a deadline counts from its start, not from now.
    #[tokio::test(start_paused = true)]
    async fn a_dilated_timer_stretches_its_time_and_its_lateness() {
        let start = tokio::time::Instant::now();
        let dilated = Perturb::with(Arc::new(Timers {
            late: 1,
            dilation: 3,
        }));
        dilated.sleep(Duration::from_millis(5)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(18));
        dilated.sleep_after(start, Duration::from_millis(20)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(63));
    }

    /// Proves a task's own timers (outside any job: a keeper's connect backoff) are plain
    /// sleeps by default and late and stretched inside `with_task_timers`, and that the
    /// setting stays with its task.
    #[tokio::test(start_paused = true)]
    async fn a_task_without_a_job_keeps_the_timers_it_was_given() {
        let start = tokio::time::Instant::now();
        crate::context::sleep(Duration::from_millis(5)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(5));
        let timers = Perturb::with(Arc::new(Timers {
            late: 1,
            dilation: 3,
        }));
        with_task_timers(timers, async {
            crate::context::sleep(Duration::from_millis(5)).await;
        })
        .await;
        assert_eq!(start.elapsed(), Duration::from_millis(23));
        assert!(!task_timers().is_on(), "outside the scope: off again");
    }
}

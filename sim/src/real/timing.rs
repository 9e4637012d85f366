//! How the simulated side of a real run keeps time, and the name of one simulated run (a
//! seed at a timing) that a report shows and a reader re-runs.
//!
//! Real processes on loopback are not one clock. Measured against them (README.md,
//! "Against real processes"): a real timer fires 1–2 ms after its deadline (tokio rounds a
//! deadline up to its millisecond wheel, then the OS wakes the thread), where a simulated
//! one fires at its step exactly; and a message on loopback takes well under a millisecond,
//! where a simulated one waits for the next step. Each is a race reality sometimes wins the
//! other way: a cancel just after a download's last chunk is due lands after the chunk in
//! the simulator and before it in reality; a fault 5 ms after a submit finds the real job
//! done and the simulated one still on the wire.
//!
//! The simulated side therefore tries its seeds five times: with exact timers, with late
//! ones, with late ones at half and at quarter steps, and with late ones over slow links
//! (a busy machine); a real job agrees with any of them. A step
//! cannot itself be shorter than 1 ms: below a millisecond the simulated clocks drift
//! apart (measured at 0.25 ms steps: a 40 ms download chunk ends 10 ms of trace time after
//! it began, as tokio's paused clock, which counts whole milliseconds, runs ahead of
//! turmoil's), and turmoil delivers a message at the step after it was sent. Half steps
//! are emulated instead: every timer of the run (the system's, the keepers', the faults')
//! and its time limits last two or four times as long ([`RunOptions::dilation`]) while a
//! message still takes its one step. Measured on a forwarded download cancelled at its last chunk
//! (README.md, "Finer steps"): at 1 ms steps the hive job starts ~8 ms
//! after its submit and reality's ~5, and only half steps reach reality's `done`; on an
//! idle machine a real forwarded job can be done 2 ms after its submit, which only
//! quarter steps reach (generated seed 38 with faults).

use crate::world::{Latency, RunOptions, TimerLateness};
use std::fmt;
use std::time::Duration;

/// One way of keeping time on the simulated side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timing {
    /// 1 ms steps, timers exact: the simulator as replays run it (but at 1 ms steps).
    Exact,
    /// 1 ms steps, every timer of the system 1–2 ms late, as real timers are
    /// ([`REAL_TIMER_LATENESS`]).
    LateTimers,
    /// Late timers, the keepers' and the faults' too, at steps of half a millisecond,
    /// emulated: every timer and time limit
    /// stretched twice as long while a message still takes one step
    /// ([`RunOptions::dilation`]), so that a forwarded job, four requests deep, starts
    /// about as soon after its submit as it does on a busy loopback (~4 ms).
    HalfSteps,
    /// Late timers at steps of a quarter of a millisecond, emulated the same way: a
    /// forwarded job starts ~2 ms after its submit, as on an idle loopback.
    QuarterSteps,
    /// Late timers at 1 ms steps over links up to [`LOADED_LATENCY_MAX`] slow: a busy
    /// machine, where a process is not scheduled for milliseconds. Measured: with two
    /// comparisons running at once, a real stream request sent at 706 ms had not been
    /// served when the same keeper's cancel was at 713 ms (generated seed 426 with faults);
    /// over loopback-like links the stream is always served first.
    Loaded,
}

/// The slowest message of [`Timing::Loaded`].
pub const LOADED_LATENCY_MAX: Duration = Duration::from_millis(10);

/// How late a real timer fires, as the late timings draw it: 1 ms, or 1–2 ms in a share of
/// timers drawn per run within 0–50 %. Measured (`sim/examples/timer-lateness.rs`): 2,000
/// tokio sleeps of 1 ms on the
/// machine the README's samples ran on took 2.1–2.2 ms each (1.0–2.0 ms late in 99 %,
/// idle or beside two busy cores), 100 sleeps of 40 ms were 0–1 ms late in 14 %, 1–2 ms
/// in 86 %; over 792 download chunks of real runs, as the keepers stamped them in whole
/// milliseconds, 76 arrived 0 ms late, 408 1 ms, 302 2 ms, 6 3 ms or more. The share is
/// drawn per run because a machine's load lasts (a sum of ninety 1 ms pauses drifted by
/// 98–113 ms across real runs, which a per-timer draw alone does not spread). The
/// keepers' and the faults' timers are late only at [`Timing::HalfSteps`] and
/// [`Timing::QuarterSteps`] ([`TimerLateness::clients`]).
pub const REAL_TIMER_LATENESS: TimerLateness = TimerLateness {
    usual: Duration::from_millis(1),
    loaded: Duration::from_millis(2),
    max_loaded_percent: 50,
    clients: false,
};

impl Timing {
    /// Every timing, in the order the simulated side tries them: the exact one first, so a
    /// job that agrees without late timers names a seed that replays without them.
    pub const ALL: [Timing; 5] = [
        Self::Exact,
        Self::LateTimers,
        Self::HalfSteps,
        Self::QuarterSteps,
        Self::Loaded,
    ];

    /// How late timers fire (`None`: exactly at their deadline).
    pub fn timer_lateness(self) -> Option<TimerLateness> {
        match self {
            Self::Exact => None,
            Self::LateTimers | Self::Loaded => Some(REAL_TIMER_LATENESS),
            Self::HalfSteps | Self::QuarterSteps => Some(TimerLateness {
                clients: true,
                ..REAL_TIMER_LATENESS
            }),
        }
    }

    /// `options` at this timing (the step is the simulated side's, 1 ms at every timing:
    /// see the module's comment).
    pub fn apply(self, options: RunOptions) -> RunOptions {
        let options = match self.timer_lateness() {
            Some(late) => options.with_timer_lateness(late),
            None => options,
        };
        options.with_dilation(self.dilation())
    }

    /// The link latency of this timing, given the simulated side's (`base`): the same, or
    /// for [`Timing::Loaded`] up to [`LOADED_LATENCY_MAX`].
    pub fn latency(self, base: Latency) -> Latency {
        match self {
            Self::Loaded => Latency {
                max: base.max.max(LOADED_LATENCY_MAX),
                ..base
            },
            Self::Exact | Self::LateTimers | Self::HalfSteps | Self::QuarterSteps => base,
        }
    }

    /// How many times this timing stretches every timer ([`RunOptions::dilation`]): how
    /// many steps a millisecond of the scenario lasts.
    pub fn dilation(self) -> u32 {
        match self {
            Self::Exact | Self::LateTimers | Self::Loaded => 1,
            Self::HalfSteps => 2,
            Self::QuarterSteps => 4,
        }
    }

    /// For people: `1 ms steps, exact timers`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Exact => "1 ms steps, exact timers",
            Self::LateTimers => "1 ms steps, timers 1-2 ms late",
            Self::HalfSteps => "0.5 ms steps (timers stretched x2), timers 1-2 ms late",
            Self::QuarterSteps => "0.25 ms steps (timers stretched x4), timers 1-2 ms late",
            Self::Loaded => "1 ms steps, timers 1-2 ms late, messages up to 10 ms late",
        }
    }

    /// The short name a run shows after its seed (none for [`Timing::Exact`]).
    fn tag(self) -> Option<&'static str> {
        match self {
            Self::Exact => None,
            Self::LateTimers => Some("late timers"),
            Self::HalfSteps => Some("half steps"),
            Self::QuarterSteps => Some("quarter steps"),
            Self::Loaded => Some("loaded"),
        }
    }
}

/// One simulated run of the simulated side: a seed at a timing. Shown as `seed 7` or
/// `seed 7 (late timers)`; the seed and the timing reproduce the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimRun {
    /// The run's seed.
    pub seed: u64,
    /// The run's timing.
    pub timing: Timing,
}

impl SimRun {
    /// `seed` at [`Timing::Exact`].
    pub fn exact(seed: u64) -> Self {
        Self {
            seed,
            timing: Timing::Exact,
        }
    }
}

impl fmt::Display for SimRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {}", self.seed)?;
        if let Some(tag) = self.timing.tag() {
            write!(f, " ({tag})")?;
        }
        Ok(())
    }
}

/// The runs of a comparison for people, seeds grouped by timing: `seed 7`, `seeds 7..=26`,
/// `seeds 7..=26; late timers: seeds 7..=26; half steps: seeds 7..=26`.
pub fn runs_text(runs: &[SimRun]) -> String {
    let mut parts = Vec::new();
    for timing in Timing::ALL {
        let seeds: Vec<u64> = runs
            .iter()
            .filter(|r| r.timing == timing)
            .map(|r| r.seed)
            .collect();
        if seeds.is_empty() {
            continue;
        }
        let text = seed_range(&seeds);
        parts.push(match timing.tag() {
            None => text,
            Some(tag) => format!("{tag}: {text}"),
        });
    }
    if parts.is_empty() {
        "no seed".to_owned()
    } else {
        parts.join("; ")
    }
}

/// Seeds for people: `seed 7`, `seeds 7..=26`, or a list.
fn seed_range(seeds: &[u64]) -> String {
    match seeds {
        [] => "no seed".to_owned(),
        [one] => format!("seed {one}"),
        [first, .., last] if seeds.windows(2).all(|w| w[1] == w[0] + 1) => {
            format!("seeds {first}..={last}")
        }
        many => format!(
            "seeds {}",
            many.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves a run's name carries its timing, and a list of runs groups its seeds by
    /// timing in the order they were tried.
    #[test]
    fn runs_are_named_by_seed_and_timing() {
        assert_eq!(SimRun::exact(7).to_string(), "seed 7");
        let late = SimRun {
            seed: 7,
            timing: Timing::LateTimers,
        };
        assert_eq!(late.to_string(), "seed 7 (late timers)");
        let mut runs: Vec<SimRun> = (7..=9).map(SimRun::exact).collect();
        assert_eq!(runs_text(&runs), "seeds 7..=9");
        runs.push(late);
        runs.push(SimRun {
            seed: 9,
            timing: Timing::LateTimers,
        });
        assert_eq!(runs_text(&runs), "seeds 7..=9; late timers: seeds 7, 9");
        assert_eq!(runs_text(&[]), "no seed");
        assert_eq!(
            runs_text(&[SimRun::exact(3), SimRun::exact(1)]),
            "seeds 3, 1"
        );
    }

    /// Proves each timing sets what it says: exact timers, or late ones.
    #[test]
    fn each_timing_sets_its_timers() {
        assert_eq!(Timing::Exact.apply(RunOptions::new(1)).timer_lateness, None);
        let dilations: Vec<u32> = Timing::ALL
            .iter()
            .map(|t| t.apply(RunOptions::new(1)).dilation)
            .collect();
        assert_eq!(dilations, [1, 1, 2, 4, 1]);
        let loopback = crate::real::simulated::LOOPBACK;
        assert_eq!(Timing::Exact.latency(loopback), loopback);
        assert_eq!(Timing::Loaded.latency(loopback).max, LOADED_LATENCY_MAX);
        assert_eq!(
            Timing::LateTimers.apply(RunOptions::new(1)).timer_lateness,
            Some(REAL_TIMER_LATENESS)
        );
        assert!(
            Timing::QuarterSteps
                .timer_lateness()
                .is_some_and(|late| late.clients),
            "at finer steps the keepers' timers are late too"
        );
    }
}

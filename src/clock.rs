//! The process clock: milliseconds since the process (or simulated host) started.
//!
//! It reads tokio's clock only, so the same code runs on real time, on tokio's paused
//! test clock, and on turmoil's simulated clock. Nothing in the system reads
//! `std::time` for behaviour or output.

use std::time::Duration;
use tokio::time::Instant;

/// A monotonic clock anchored at process start; cheap to copy.
///
/// Every `at_ms` on the wire and every observer record is stamped from this clock, so a
/// simulated run produces the same timestamps on every replay.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
    /// How long the process had been up when the clock started (see [`Clock::with_uptime`]).
    uptime_ms: u64,
}

impl Clock {
    /// Starts a clock at the current tokio instant. Must be called inside a tokio runtime
    /// (inside a turmoil host this is the host's simulated clock).
    pub fn start() -> Self {
        Self::with_uptime(0)
    }

    /// A clock that reads `uptime_ms` at the current instant: the clock of a process that
    /// started that long ago. Processes of one system start at different times, so their
    /// clocks disagree; a simulator starts its hives "earlier" this way, so that a queen
    /// which passed a hive's timestamps on as its own would show it.
    pub fn with_uptime(uptime_ms: u64) -> Self {
        Self {
            origin: Instant::now(),
            uptime_ms,
        }
    }

    /// Milliseconds of process time: the uptime the clock started at, plus the time since.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(self.uptime_ms)
    }

    /// Time elapsed since [`Clock::start`].
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }
}

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
}

impl Clock {
    /// Starts a clock at the current tokio instant. Must be called inside a tokio runtime
    /// (inside a turmoil host this is the host's simulated clock).
    pub fn start() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    /// Milliseconds elapsed since [`Clock::start`].
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Time elapsed since [`Clock::start`].
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }
}

//! Integration tests of the simulator: scenario replays, fault kinds, the CLI, replay logs,
//! and the CI workflow file.
//! One binary with a tiny harness so each test is a few lines.

mod cli;
mod coverage;
mod docs;
mod explore;
mod faults;
mod guided;
mod harness;
mod logs;
mod patches;
mod properties;
mod readme;
mod real;
mod scenarios;
mod snapshots;
mod workflow;

//! Integration tests of the simulator: scenario replays, fault kinds, the CLI.
//! One binary with a tiny harness so each test is a few lines.

mod cli;
mod coverage;
mod explore;
mod faults;
mod harness;
mod properties;
mod real;
mod scenarios;
mod snapshots;

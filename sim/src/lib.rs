//! rbee-sim: the whole rbee system inside turmoil's simulated network and clock — seeded,
//! replayable, with faults, a recorder, invariant checkers and scenario replay.
//!
//! | module | owns |
//! |---|---|
//! | [`scenario`] | scenario files: loading with file:line errors, writing back |
//! | [`net`] | turmoil adapters for the system's listener and dialer |
//! | [`trace`] | the recorded trace, the recorder, the trace hash |
//! | [`world`] | building and driving one simulated run |
//! | [`shrink`] | shrinking a failing scenario within a budget |
//! | [`keeper`] | what a scenario's keeper does, for simulated and real runs alike |
//! | [`real`] | `rbee-sim real`: the same scenario against real `rbee` processes |
//! | [`check`] | one checker per SPEC §9 invariant |
//! | [`coverage`] | the probe catalogue and which probes a run reached |
//! | [`report`] | transcripts and verdict tables for people |
//! | [`log`] | the system's tracing output during a replay, in simulated time |

pub mod check;
pub mod coverage;
pub mod explore;
pub mod generate;
pub mod keeper;
pub mod log;
pub mod net;
pub mod real;
pub mod report;
pub mod scenario;
pub mod shrink;
pub mod summary;
pub mod timeline;
pub mod trace;
pub mod world;

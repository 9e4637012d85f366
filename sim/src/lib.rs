//! rbee-sim: the whole rbee system inside turmoil's simulated network and clock — seeded,
//! replayable, with faults, a recorder, invariant checkers and scenario replay.
//!
//! | module | owns |
//! |---|---|
//! | [`scenario`] | scenario files: types, loading with file:line errors, writing back |
//! | [`net`] | turmoil adapters for the system's listener and dialer |
//! | [`link`] | what a fault does to a connection's bytes, in the simulator and real runs alike |
//! | [`trace`] | the recorded trace, the recorder, the trace hash |
//! | [`world`] | building and driving one simulated run (and its perturber) |
//! | [`keeper`] | what a scenario's keeper does, for simulated and real runs alike |
//! | [`check`] | one checker per docs/spec.md §9 invariant, and each checker's triggers |
//! | [`coverage`] | the probe catalogue and which probes a run reached |
//! | [`behaviour`] | behaviour coverage: each job's abstract history, probe pairs and counts |
//! | [`generate`] | random scenarios (one proptest strategy for property tests and explore) |
//! | [`mutate`] | mutation operators over scenarios, for guided exploration |
//! | [`corpus`] | the regression corpus: distilling scenarios to a probe cover, replaying it |
//! | [`guided`] | guided exploration: the corpus, rarity-weighted choice, `--target` |
//! | [`shrink`] | shrinking a failing scenario within a budget |
//! | [`explore`] | many seeds on all cores, re-runs compared, failures shrunk and written |
//! | [`summary`] | an exploration's summary: text, versioned JSON, merging shards |
//! | [`report`] | a replay's transcripts and verdicts, as text and JSON |
//! | [`log`] | the system's tracing output during a replay, in simulated time |
//! | [`output`] | the commands' output paths, checked before any work starts |
//! | [`timeline`] | an SVG picture of a run |
//! | [`real`] | `rbee-sim real`: the same scenario against real `rbee` processes |

pub mod behaviour;
pub mod check;
pub mod corpus;
pub mod coverage;
pub mod explore;
pub mod generate;
pub mod guided;
pub mod keeper;
pub mod link;
pub mod log;
pub mod mutate;
pub mod net;
pub mod output;
pub mod real;
pub mod report;
pub mod scenario;
pub mod shrink;
pub mod summary;
pub mod timeline;
pub mod trace;
pub mod world;

//! rbee: a distributed job system whose every job streams its progress ("narration") back
//! to exactly the client that submitted it, over Server-Sent Events.
//!
//! A **keeper** submits a job to a **queen**, which runs it or forwards it to a **hive**.
//! The contract is `docs/spec.md`; this crate is the system under test of the `rbee-sim`
//! simulator, and it runs unchanged on real sockets and inside turmoil: network
//! ([`dial::Dial`], any `axum::serve::Listener`), clock ([`clock::Clock`], tokio's) and
//! randomness ([`ids::IdGen`]) are injected, and there is no process-global state.
//!
//! # Layout
//!
//! | module | owns |
//! |---|---|
//! | [`ids`] | job id syntax, validation and generation |
//! | [`clock`] | the process clock (`at_ms`) |
//! | [`event`] | the SSE wire format: narration, data, lagged, terminal markers |
//! | [`observer`] | job states and the hook through which a harness sees every hub operation |
//! | [`probe`] | named rare situations (code probes), recorded through the observer |
//! | [`perturb`] | in-process perturbation points a simulator may use (off in real processes) |
//! | [`hub`] | the narration hub: job-scoped channels (create / take / send / remove) |
//! | [`context`] | the narration context, the spawn helper and the emit functions |
//! | [`registry`] | jobs, their state machine, at-most-once payloads |
//! | [`lifecycle`] | the job life cycle as synchronous steps over hub and registry |
//! | `sync` (private) | the locks and atomics of `hub`, `registry` and `lifecycle`: `std`'s, or the shuttle model checker's with the `model-check` feature (`tests/model`) |
//! | [`operation`] | the operations, their JSON form, validation and deadlines |
//! | [`hive`] | a hive's catalogue and workers, and the hive operation handlers |
//! | [`node`] | one queen or hive process: the job life cycle |
//! | [`relay`] | the queen's forwarding of a job to a hive |
//! | [`handoff`] | one value handed from a task that may outlive its caller, exactly once |
//! | [`server`] | the HTTP API and SSE rendering |
//! | [`spawn`] | where every task of a process starts (the runtime, or the simulator's host) |
//! | [`dial`], [`http_client`], [`sse_reader`] | outgoing connections and stream reading |
//! | [`keeper`] | the client library |
//! | [`cli`] | the `rbee` command line |
//!
//! # One job, end to end
//!
//! `POST /v1/jobs` → [`node::Node::create`] registers the job and its channel in one step and
//! buffers a `job_create` line → `GET /v1/jobs/{id}/stream` → [`node::Node::take`] takes the
//! single receiver and spawns the executor inside the job's narration context → handlers
//! narrate into the channel → the job ends, its state becomes terminal and the sender is
//! dropped → the stream drains, sends the terminal marker derived from the state, and
//! removes the job.

pub mod cli;
pub mod clock;
pub mod context;
pub mod dial;
pub mod event;
pub mod handoff;
pub mod hive;
pub mod http_client;
pub mod hub;
pub mod ids;
pub mod keeper;
pub mod lifecycle;
pub mod node;
pub mod observer;
pub mod operation;
pub mod perturb;
pub mod probe;
pub mod registry;
pub mod relay;
pub mod server;
pub mod spawn;
pub mod sse_reader;
mod sync;

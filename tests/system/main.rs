//! System tests of rbee on real loopback sockets: every node is a real axum server bound to
//! `127.0.0.1:0`, every client a real [`rbee::keeper::Keeper`] or raw hyper request.
//!
//! Each test proves one rule of `docs/spec.md` in a few lines on top of [`harness`]. Tests named
//! `bug_NN_...` pin the historical bug of docs/spec.md §10 with that number. Tests that hold in both
//! topologies are generated twice by [`both_modes!`]: `NAME::distributed` (queen → hive over
//! HTTP) and `NAME::integrated` (queen with a local hive).

#[macro_use]
mod harness;

mod cli;
mod concurrency;
mod errors;
mod lifecycle;
mod narration;
mod operations;
mod relay;

//! The synchronisation primitives of the hub, the registry and the job life cycle, from
//! one place.
//!
//! Normally these are `std`'s. With the `model-check` feature they are the shuttle model
//! checker's drop-in replacements, whose every lock and atomic access is a point where
//! shuttle may switch threads, so `tests/model` can run the real [`crate::hub`],
//! [`crate::registry`] and [`crate::lifecycle`] under schedules it chooses (and replays).
//! This module and the feature are the only `cfg` involved: the logic is the same code
//! either way. A build with the feature on is for that test only — shuttle's primitives
//! panic outside a shuttle run — which is why the feature is off by default and nothing
//! else enables it.

#[cfg(not(feature = "model-check"))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};

#[cfg(feature = "model-check")]
pub(crate) use shuttle::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};

//! Where the system's tasks start: every task of a process — a connection, a job's
//! executor, its TTL timer, a sub-task, a worker — is spawned through [`spawn`].
//!
//! A real process spawns onto its tokio runtime. Inside the simulator, a host's tasks go
//! onto the host's `LocalSet` instead ([`on_local_set`]): turmoil tears a crashed host down
//! by dropping its tasks, and the runtime drops its own in an order that depends on tokio's
//! task ids, which are global to the OS process — two runs of one seed in one process would
//! then close their connections in different orders and diverge. A `LocalSet` drops its
//! tasks in the reverse order of their spawning, the same in every run.
//!
//! The marker is task-local state carried by each spawned task, like the narration
//! context; nothing is global.

use std::future::Future;
use tokio::task::JoinHandle;

tokio::task_local! {
    static ON_LOCAL_SET: ();
}

/// Spawns `fut` as a task of this process: onto the current `LocalSet` when running under
/// [`on_local_set`], else onto the tokio runtime ([`tokio::spawn`]).
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if ON_LOCAL_SET.try_with(|()| ()).is_ok() {
        tokio::task::spawn_local(ON_LOCAL_SET.scope((), fut))
    } else {
        tokio::spawn(fut)
    }
}

/// Runs `fut` so that every task it spawns through [`spawn`] (and theirs, transitively)
/// lands on the current `LocalSet`. The simulator runs each host's software this way;
/// `fut` must be polled inside a `LocalSet`.
pub async fn on_local_set<F: Future>(fut: F) -> F::Output {
    ON_LOCAL_SET.scope((), fut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the calling task runs on a `LocalSet` (`spawn_local` panics elsewhere).
    fn on_a_local_set() -> bool {
        std::panic::catch_unwind(|| drop(tokio::task::spawn_local(async {}))).is_ok()
    }

    /// Under `on_local_set` a spawned task — and the tasks it spawns — run on the
    /// `LocalSet`; outside it `spawn` is `tokio::spawn`, on the runtime.
    #[tokio::test]
    async fn tasks_follow_the_marker_onto_the_local_set() {
        let local = tokio::task::LocalSet::new();
        let (outer, inner) = local
            .run_until(on_local_set(async {
                spawn(async {
                    let inner = spawn(async { on_a_local_set() }).await.expect("inner task");
                    (on_a_local_set(), inner)
                })
                .await
                .expect("outer task")
            }))
            .await;
        assert!(outer && inner, "spawned tasks left the LocalSet");
        let plain = spawn(async { on_a_local_set() })
            .await
            .expect("runtime task");
        assert!(!plain, "without the marker a task goes to the runtime");
    }
}

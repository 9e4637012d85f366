//! A hive's in-memory world — model catalogue and worker table — and the handlers of the
//! hive operations (docs/spec.md §2), with exactly the narration the contract lists.
//!
//! Handlers narrate through the narration context only; they neither know nor care whether
//! they run in a hive process or inside a queen (integrated mode): the context decides
//! whose channel their lines land in.

use crate::context::{self, commit, narrate_to, narrate_wait, NarrationContext, SubTask};
use crate::hub::Commit;
use crate::hub::Sent;
use crate::nw;
use crate::operation::Operation;
use crate::probe::Probe;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// Actor name of every hive narration line.
pub const ACTOR: &str = "hive";

/// The names of the `hive_check` steps, one narration line each.
pub const CHECKS: [&str; 10] = [
    "config",
    "catalogue",
    "worker table",
    "ports",
    "disk",
    "memory",
    "gpu",
    "network",
    "clock",
    "permissions",
];

/// A running worker.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Worker {
    /// Its id (`worker-<n>`, per hive).
    pub worker_id: String,
    /// The model it serves.
    pub model: String,
    /// The port it listens on.
    pub port: u16,
}

/// Build log lines a `worker_install` emits per millisecond of its process clock (its
/// scheduled time, which [`Operation::deadline`] counts on).
pub const INSTALL_LINES_PER_MS: u32 = 10;

/// Start-up lines a worker narrates at once, on the synchronous path, before it is ready.
pub const WORKER_STARTUP_LINES: u32 = 8;
/// When a ready worker logs (ms after start-up, process clock). Its spawning job has
/// normally ended by then: these lines have no channel and are dropped and counted.
pub const WORKER_LOG_AFTER_MS: [u64; 2] = [50, 500];

#[derive(Debug)]
struct World {
    models: BTreeSet<String>,
    workers: BTreeMap<String, Worker>,
    /// Each worker's running task, by worker id: dropping it stops the worker.
    tasks: BTreeMap<String, SubTask<()>>,
    spawned: u32,
    /// One lock per model name that a download holds from its presence check to its
    /// commit: two downloads of one model run one after the other, so the second finds the
    /// model present (or, if the first did not commit, downloads it itself).
    downloads: BTreeMap<String, Arc<tokio::sync::Mutex<()>>>,
}

/// One hive: its name and its mutable world. A restarted hive starts from its initial
/// catalogue again (the world is process memory).
#[derive(Debug)]
pub struct Hive {
    name: String,
    world: Mutex<World>,
}

/// A job's failure message.
pub type JobResult = Result<(), String>;

/// The failure of an operation on a model the catalogue does not hold. The error messages
/// are functions so that what a hive says and what a reference model of the hive expects
/// (the simulator's `semantics` checker) are written once.
pub fn model_not_found(model: &str, hive: &str) -> String {
    format!("model not found: '{model}' on hive '{hive}'")
}

/// The failure of a download of a model the catalogue already holds.
pub fn model_already_present(model: &str, hive: &str) -> String {
    format!("model '{model}' is already present on hive '{hive}'")
}

/// The failure of a `worker_stop` for a worker the hive does not run.
pub fn worker_not_found(worker_id: &str, hive: &str) -> String {
    format!("worker not found: '{worker_id}' on hive '{hive}'")
}

/// The line a `worker_spawn` commits with: it names the new worker and its port.
pub fn worker_port_line(worker: &Worker) -> String {
    format!(
        "Worker '{}' listens on port {}",
        worker.worker_id, worker.port
    )
}

/// The `n`th worker a hive process spawns (from 1): `worker-<n>` on port 9000 + n. Ids
/// and ports follow from the number of workers spawned in the process's life, so they are
/// deterministic and a restarted hive starts again from `worker-1`.
pub fn nth_worker(n: u32, model: &str) -> Worker {
    Worker {
        worker_id: format!("worker-{n}"),
        model: model.to_owned(),
        port: 9000u16.saturating_add(u16::try_from(n).unwrap_or(u16::MAX)),
    }
}

impl Hive {
    /// A hive called `name` whose catalogue starts with `models`.
    pub fn new(name: impl Into<String>, models: impl IntoIterator<Item = String>) -> Self {
        Self {
            name: name.into(),
            world: Mutex::new(World {
                models: models.into_iter().collect(),
                workers: BTreeMap::new(),
                tasks: BTreeMap::new(),
                spawned: 0,
                downloads: BTreeMap::new(),
            }),
        }
    }

    /// The hive's name, as operations address it in `hive_id`.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The models in the catalogue, sorted.
    pub fn models(&self) -> Vec<String> {
        self.world().models.iter().cloned().collect()
    }

    /// Runs a hive operation under the caller's narration context.
    pub async fn execute(&self, op: &Operation) -> JobResult {
        let name = &self.name;
        match op {
            Operation::Status {} => Err("operation 'status' runs on the queen".into()),
            Operation::HiveCheck { .. } => {
                nw!(ACTOR, "hive_check_start", "Checking hive '{name}'");
                for (i, check) in CHECKS.iter().enumerate() {
                    nw!(
                        ACTOR,
                        "hive_check_step",
                        "[{}/{}] {check}: ok",
                        i + 1,
                        CHECKS.len()
                    );
                }
                nw!(ACTOR, "hive_check_complete", "Hive '{name}' is healthy");
                Ok(())
            }
            Operation::ModelList { .. } => self.model_list().await,
            Operation::ModelGet { model, .. } => self.model_get(model).await,
            Operation::ModelDownload {
                model,
                chunks,
                interval_ms,
                ..
            } => self.model_download(model, *chunks, *interval_ms).await,
            Operation::ModelDelete { model, .. } => {
                nw!(
                    ACTOR,
                    "model_delete_start",
                    "Deleting model '{model}' from hive '{name}'"
                );
                committed(
                    commit(ACTOR, "model_delete_complete", || {
                        if self.world().models.remove(model) {
                            Ok(format!("Deleted model '{model}'"))
                        } else {
                            Err(model_not_found(model, name))
                        }
                    })
                    .await,
                )
            }
            Operation::WorkerSpawn { model, .. } => self.worker_spawn(model).await,
            Operation::WorkerList { .. } => self.worker_list().await,
            Operation::WorkerStop { worker_id, .. } => {
                nw!(
                    ACTOR,
                    "worker_stop",
                    "Stopping worker '{worker_id}' on hive '{name}'"
                );
                // The stopped worker's task leaves the lock before it is dropped (aborted).
                let mut stopped = None;
                let result = commit(ACTOR, "worker_stop_complete", || {
                    let mut world = self.world();
                    if world.workers.remove(worker_id).is_none() {
                        return Err(worker_not_found(worker_id, name));
                    }
                    stopped = world.tasks.remove(worker_id);
                    Ok(format!("Stopped worker '{worker_id}'"))
                })
                .await;
                drop(stopped);
                committed(result)
            }
            Operation::WorkerInstall { lines, .. } => self.worker_install(*lines).await,
            Operation::Infer {
                model,
                prompt,
                max_tokens,
                ..
            } => self.infer(model, prompt, *max_tokens).await,
        }
    }

    async fn model_list(&self) -> JobResult {
        let name = &self.name;
        nw!(ACTOR, "model_list_start", "Listing models on hive '{name}'");
        let models = self.models();
        if models.is_empty() {
            nw!(ACTOR, "model_list_empty", "No models on hive '{name}'");
        }
        for m in &models {
            nw!(ACTOR, "model_list_entry", "{m}");
        }
        context::data("model_list", serde_json::json!({ "models": models })).await;
        nw!(
            ACTOR,
            "model_list_complete",
            "Found {} model(s)",
            models.len()
        );
        Ok(())
    }

    async fn model_get(&self, model: &str) -> JobResult {
        let name = &self.name;
        if !self.world().models.contains(model) {
            return Err(model_not_found(model, name));
        }
        nw!(
            ACTOR,
            "model_get_found",
            "Found model '{model}' on hive '{name}'"
        );
        nw!(
            ACTOR,
            "model_get_details",
            "{model}: {} MiB, format gguf",
            size_mib(model)
        );
        Ok(())
    }

    async fn model_download(&self, model: &str, chunks: u32, interval_ms: u64) -> JobResult {
        let name = &self.name;
        let lock = self
            .world()
            .downloads
            .entry(model.to_owned())
            .or_default()
            .clone();
        let _one_at_a_time = match lock.clone().try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => {
                context::probe(Probe::DownloadWaited);
                lock.lock_owned().await
            }
        };
        if self.world().models.contains(model) {
            return Err(model_already_present(model, name));
        }
        nw!(
            ACTOR,
            "model_download_start",
            "Downloading model '{model}' to hive '{name}'"
        );
        for chunk in 1..=chunks {
            context::sleep(Duration::from_millis(interval_ms)).await;
            let pct = u64::from(chunk) * 100 / u64::from(chunks);
            narrate_wait(
                ACTOR,
                "model_download_progress",
                format!("Downloading '{model}': chunk {chunk}/{chunks} ({pct}%)"),
            )
            .await;
        }
        committed(
            commit(ACTOR, "model_download_complete", || {
                if self.world().models.insert(model.to_owned()) {
                    Ok(format!("Downloaded model '{model}'"))
                } else {
                    Err(model_already_present(model, name))
                }
            })
            .await,
        )
    }

    async fn worker_spawn(&self, model: &str) -> JobResult {
        let name = &self.name;
        nw!(
            ACTOR,
            "worker_spawn_start",
            "Spawning a worker for '{model}' on hive '{name}'"
        );
        if !self.world().models.contains(model) {
            return Err(model_not_found(model, name));
        }
        // The worker starts up first and outlives this job: it runs until `worker_stop` or
        // until the hive stops, narrating with this job's id as an explicit id. It joins
        // the worker table, with its id and port, only at the commit point once it is
        // ready: a spawn cancelled before that leaves no worker behind.
        let (ready, is_ready) = oneshot::channel();
        let (named, name_of) = oneshot::channel();
        let task = context::current()
            .map(|ctx| context::spawn_detached(run_worker(ctx, model.to_owned(), ready, name_of)));
        if task.is_some() && is_ready.await.is_err() {
            return Err(format!(
                "the worker for '{model}' on hive '{name}' died starting"
            ));
        }
        let mut spawned = None;
        let result = commit(ACTOR, "worker_spawn_port", || {
            let mut world = self.world();
            if !world.models.contains(model) {
                return Err(model_not_found(model, name));
            }
            world.spawned += 1;
            let worker = nth_worker(world.spawned, model);
            world
                .workers
                .insert(worker.worker_id.clone(), worker.clone());
            if let Some(task) = task {
                world.tasks.insert(worker.worker_id.clone(), task);
            }
            let line = worker_port_line(&worker);
            spawned = Some(worker);
            Ok(line)
        })
        .await;
        committed(result)?;
        let Some(worker) = spawned else {
            return Ok(());
        };
        let _ = named.send(worker.worker_id.clone());
        nw!(
            ACTOR,
            "worker_spawn_complete",
            "Spawned worker '{}' for '{model}'",
            worker.worker_id
        );
        Ok(())
    }

    async fn worker_list(&self) -> JobResult {
        let workers: Vec<Worker> = self.world().workers.values().cloned().collect();
        for w in &workers {
            nw!(
                ACTOR,
                "worker_list_entry",
                "{} serves '{}' on port {}",
                w.worker_id,
                w.model,
                w.port
            );
        }
        context::data("worker_list", serde_json::json!({ "workers": workers })).await;
        Ok(())
    }

    async fn worker_install(&self, lines: u32) -> JobResult {
        nw!(
            ACTOR,
            "worker_install_start",
            "Building worker on hive '{}'",
            self.name
        );
        // The build log comes from a sub-task, as a real build's output would: the
        // context must follow it there (historical bug 5).
        let build = context::spawn(async move {
            for i in 1..=lines {
                if i % INSTALL_LINES_PER_MS == 0 {
                    context::sleep(Duration::from_millis(1)).await;
                }
                narrate_wait(
                    ACTOR,
                    "worker_install_log",
                    format!("   Compiling crate-{i} v0.1.0 ({i}/{lines})"),
                )
                .await;
            }
        });
        build
            .await
            .map_err(|e| format!("worker build task failed: {e}"))?;
        nw!(
            ACTOR,
            "worker_install_complete",
            "Worker built ({lines} log lines)"
        );
        Ok(())
    }

    async fn infer(&self, model: &str, prompt: &str, max_tokens: u32) -> JobResult {
        let name = &self.name;
        if !self.world().models.contains(model) {
            return Err(model_not_found(model, name));
        }
        nw!(
            ACTOR,
            "infer_start",
            "Generating {max_tokens} token(s) with '{model}' on hive '{name}'"
        );
        let words: Vec<&str> = prompt.split_whitespace().collect();
        for (index, word) in words.iter().cycle().take(max_tokens as usize).enumerate() {
            context::data(
                "token",
                serde_json::json!({ "index": index, "token": word }),
            )
            .await;
        }
        nw!(ACTOR, "infer_complete", "Generated {max_tokens} token(s)");
        Ok(())
    }
}

/// A worker's life: its start-up lines at once (synchronous path: a worker never waits for
/// a reader, so a full buffer drops them and the stream says `lagged`), ready, then — once
/// its spawn committed and named it — a few log lines later on, then serving silently until
/// it is stopped. A spawn that did not commit drops the name's sender, and the worker ends.
/// Every line carries its spawning job's id; lines after that job ended are dropped and
/// counted by the hub, never delivered to another job (docs/spec.md §2, §4.3).
async fn run_worker(
    ctx: NarrationContext,
    model: String,
    ready: oneshot::Sender<()>,
    named: oneshot::Receiver<String>,
) {
    let mut outlived = false;
    let mut say = |action: &str, human: String| {
        if narrate_to(&ctx, ACTOR, action, human) == Sent::NoChannel && !outlived {
            outlived = true;
            ctx.probe(Probe::WorkerOutlivedJob);
        }
    };
    for i in 1..=WORKER_STARTUP_LINES {
        say(
            "worker_startup",
            format!("worker for '{model}': loading ({i}/{WORKER_STARTUP_LINES})"),
        );
    }
    let _ = ready.send(());
    let started = tokio::time::Instant::now();
    let Ok(worker_id) = named.await else { return };
    for after in WORKER_LOG_AFTER_MS {
        ctx.perturb
            .sleep_after(started, Duration::from_millis(after))
            .await;
        say(
            "worker_log",
            format!("{worker_id}: serving '{model}', up {after} ms"),
        );
    }
    std::future::pending::<()>().await
}

/// The result of a handler whose effect is one commit ([`commit`]): a job that ended before
/// its commit point fails (its stream already shows how it ended; this message is never
/// delivered).
fn committed(commit: Commit<String>) -> JobResult {
    match commit {
        Commit::Done => Ok(()),
        Commit::Refused(e) => Err(e),
        Commit::Ended => Err("the job ended before its effect".into()),
    }
}

/// The tokens an `infer` job emits: the prompt's words, cyclically (used by contract checks).
pub fn expected_tokens(prompt: &str, max_tokens: u32) -> Vec<String> {
    let words: Vec<&str> = prompt.split_whitespace().collect();
    words
        .iter()
        .cycle()
        .take(if words.is_empty() {
            0
        } else {
            max_tokens as usize
        })
        .map(|w| (*w).to_owned())
        .collect()
}

/// A stable made-up size for a model, derived from its name (FNV-1a), so details are
/// deterministic without any hidden state.
fn size_mib(model: &str) -> u64 {
    let hash = model.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    500 + hash % 8000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::hub::Hub;
    use crate::ids::JobId;
    use crate::observer::NoObserver;
    use crate::perturb::Perturb;
    use std::sync::Arc;

    fn in_a_job<F: std::future::Future>(fut: F) -> impl std::future::Future<Output = F::Output> {
        let clock = Clock::start();
        let hub = Hub::new(100, clock, Arc::new(NoObserver));
        let job = JobId::from_bits(1);
        hub.create(&job);
        context::scope(NarrationContext::new(job, hub, clock, Perturb::off()), fut)
    }

    fn spawn() -> Operation {
        Operation::WorkerSpawn {
            hive_id: "hive-a".into(),
            model: "tinyllama".into(),
        }
    }

    fn download(model: &str) -> Operation {
        Operation::ModelDownload {
            hive_id: "hive-a".into(),
            model: model.into(),
            chunks: 2,
            interval_ms: 10,
        }
    }

    /// A worker joins the table only at its spawn's commit point, once it is ready: a
    /// `worker_stop` that lands while it starts finds no such worker, and the spawn then
    /// reports `worker-1` as the worker list does.
    #[tokio::test]
    async fn a_starting_worker_is_not_in_the_table_until_its_spawn_commits() {
        let hive = Hive::new("hive-a", ["tinyllama".to_owned()]);
        let stop = Operation::WorkerStop {
            hive_id: "hive-a".into(),
            worker_id: "worker-1".into(),
        };
        let op = spawn();
        let mut spawning = std::pin::pin!(in_a_job(hive.execute(&op)));
        assert!(
            futures::poll!(&mut spawning).is_pending(),
            "the spawn job waits for its worker to be ready"
        );
        assert_eq!(
            in_a_job(hive.execute(&stop)).await,
            Err("worker not found: 'worker-1' on hive 'hive-a'".into())
        );
        assert_eq!(spawning.await, Ok(()));
        let world = hive.world();
        assert_eq!(world.workers.keys().collect::<Vec<_>>(), ["worker-1"]);
        assert_eq!(world.tasks.len(), 1);
    }

    /// A spawn whose job ends before its commit point (its channel closed: cancelled)
    /// leaves no worker, no task and no number used.
    #[tokio::test]
    async fn a_spawn_whose_job_ended_before_its_commit_leaves_nothing() {
        let hive = Hive::new("hive-a", ["tinyllama".to_owned()]);
        let clock = Clock::start();
        let hub = Hub::new(100, clock, Arc::new(NoObserver));
        let job = JobId::from_bits(1);
        hub.create(&job);
        let ctx = NarrationContext::new(job.clone(), hub.clone(), clock, Perturb::off());
        let op = spawn();
        let mut spawning = std::pin::pin!(context::scope(ctx, hive.execute(&op)));
        assert!(futures::poll!(&mut spawning).is_pending());
        hub.remove(&job);
        assert_eq!(
            spawning.await,
            Err("the job ended before its effect".into())
        );
        let world = hive.world();
        assert!(world.workers.is_empty() && world.tasks.is_empty());
        assert_eq!(world.spawned, 0);
    }

    /// Two downloads of one model run one after the other: the second finds the model
    /// present and fails, as it would in either order.
    #[tokio::test(start_paused = true)]
    async fn overlapping_downloads_of_one_model_do_not_both_succeed() {
        let hive = Hive::new("hive-a", ["tinyllama".to_owned()]);
        let op = download("phi-2");
        let (first, second) =
            tokio::join!(in_a_job(hive.execute(&op)), in_a_job(hive.execute(&op)));
        assert_eq!(first, Ok(()));
        assert_eq!(
            second,
            Err("model 'phi-2' is already present on hive 'hive-a'".into())
        );
        let other = download("qwen");
        assert_eq!(in_a_job(hive.execute(&other)).await, Ok(()));
    }

    /// A download whose job ended before its commit point adds nothing.
    #[tokio::test(start_paused = true)]
    async fn a_download_whose_job_ended_before_its_commit_adds_nothing() {
        let hive = Hive::new("hive-a", ["tinyllama".to_owned()]);
        let clock = Clock::start();
        let hub = Hub::new(100, clock, Arc::new(NoObserver));
        let job = JobId::from_bits(1);
        hub.create(&job);
        let ctx = NarrationContext::new(job.clone(), hub.clone(), clock, Perturb::off());
        let op = download("phi-2");
        let mut downloading = std::pin::pin!(context::scope(ctx, hive.execute(&op)));
        assert!(futures::poll!(&mut downloading).is_pending());
        hub.remove(&job);
        assert!(downloading.await.is_err());
        assert_eq!(hive.models(), ["tinyllama"]);
    }
}

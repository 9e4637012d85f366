//! The reference model: one hive as docs/spec.md §2 describes it, sequential and pure. Its
//! catalogue, its workers with their ids and ports, and every operation's effect and result
//! in one step; a restart brings back the scenario's catalogue and no workers.
//!
//! It shares with the system only the words of its answers (`rbee::hive`'s error messages
//! and the format of the port line, so that a result is compared as the keeper sees it):
//! never the state, the handlers, the numbering of workers or any record of what the hive
//! did. The numbering is the contract's (docs/spec.md §2): the `n`th worker a hive process
//! spawns is `worker-<n>`, on port 9000 + n.

use super::linearize::Spec;
use rbee::hive::{model_already_present, model_not_found, worker_not_found};
use rbee::hive::{worker_port_line, Worker};
use rbee::operation::Operation;
use std::collections::{BTreeMap, BTreeSet};

/// One hive's state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hive {
    name: String,
    initial: BTreeSet<String>,
    models: BTreeSet<String>,
    /// Worker id -> (model, port).
    workers: BTreeMap<String, (String, u16)>,
    /// Workers spawned in this life: the next is number `spawned + 1`.
    spawned: u32,
}

/// An operation on a hive's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `model_list`.
    ModelList,
    /// `model_get`.
    ModelGet(String),
    /// `model_download`.
    Download(String),
    /// `model_delete`.
    Delete(String),
    /// `worker_spawn`.
    Spawn(String),
    /// `worker_list`.
    WorkerList,
    /// `worker_stop`.
    Stop(String),
    /// `infer`: needs the model.
    Infer(String),
    /// The hive process restarted (or crashed): back to the initial state.
    Reset,
}

impl Op {
    /// The model's operation for a job's operation; `None` for operations that neither
    /// read nor change a hive's state (`status`, `hive_check`, `worker_install`).
    pub fn of(op: &Operation) -> Option<Self> {
        Some(match op {
            Operation::ModelList { .. } => Self::ModelList,
            Operation::ModelGet { model, .. } => Self::ModelGet(model.clone()),
            Operation::ModelDownload { model, .. } => Self::Download(model.clone()),
            Operation::ModelDelete { model, .. } => Self::Delete(model.clone()),
            Operation::WorkerSpawn { model, .. } => Self::Spawn(model.clone()),
            Operation::WorkerList { .. } => Self::WorkerList,
            Operation::WorkerStop { worker_id, .. } => Self::Stop(worker_id.clone()),
            Operation::Infer { model, .. } => Self::Infer(model.clone()),
            Operation::Status {}
            | Operation::HiveCheck { .. }
            | Operation::WorkerInstall { .. } => return None,
        })
    }

    /// Whether the operation changes state when it succeeds.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Self::Download(_) | Self::Delete(_) | Self::Spawn(_) | Self::Stop(_)
        )
    }
}

/// What an operation returns, as its keeper sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ret {
    /// It succeeded (a download, delete or stop; a get or infer found its model).
    Ok,
    /// A spawn succeeded; its commit line names the worker and its port.
    Spawned(String),
    /// A model listing: the catalogue, sorted.
    Models(Vec<String>),
    /// A worker listing: (id, model, port), sorted.
    Workers(Vec<(String, String, u16)>),
    /// It failed with this message.
    Failed(String),
    /// A restart.
    Reset,
}

impl Hive {
    /// Hive `name` with the scenario's catalogue `models` and no workers.
    pub fn new(name: &str, models: &[String]) -> Self {
        let initial: BTreeSet<String> = models.iter().cloned().collect();
        Self {
            name: name.to_owned(),
            models: initial.clone(),
            initial,
            workers: BTreeMap::new(),
            spawned: 0,
        }
    }

    /// The errors `op` may end with on this hive: a keeper's error outside these is not a
    /// result of the model (a lost hive, a cancel), and says nothing about state.
    pub fn errors_of(&self, op: &Op) -> Vec<String> {
        let name = &self.name;
        match op {
            Op::ModelGet(m) | Op::Delete(m) | Op::Spawn(m) | Op::Infer(m) => {
                vec![model_not_found(m, name)]
            }
            Op::Download(m) => vec![model_already_present(m, name)],
            Op::Stop(w) => vec![worker_not_found(w, name)],
            Op::ModelList | Op::WorkerList | Op::Reset => Vec::new(),
        }
    }
}

/// What a keeper saw of a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The whole result.
    Exactly(Ret),
    /// Only that it succeeded (a job that ended `done` without its commit line).
    Succeeded,
}

impl Spec for Hive {
    type Op = Op;
    type Ret = Ret;
    type Seen = Seen;

    fn reads_only(op: &Op) -> bool {
        matches!(
            op,
            Op::ModelList | Op::ModelGet(_) | Op::WorkerList | Op::Infer(_)
        )
    }

    fn fits(seen: &Seen, ret: &Ret) -> bool {
        match seen {
            Seen::Exactly(r) => r == ret,
            Seen::Succeeded => !matches!(ret, Ret::Failed(_)),
        }
    }

    fn step(&self, op: &Op) -> (Self, Ret) {
        let mut next = self.clone();
        let name = &self.name;
        let ret = match op {
            Op::ModelList => Ret::Models(self.models.iter().cloned().collect()),
            Op::ModelGet(m) | Op::Infer(m) if self.models.contains(m) => Ret::Ok,
            Op::ModelGet(m) | Op::Infer(m) => Ret::Failed(model_not_found(m, name)),
            Op::Download(m) if self.models.contains(m) => {
                Ret::Failed(model_already_present(m, name))
            }
            Op::Download(m) => {
                next.models.insert(m.clone());
                Ret::Ok
            }
            Op::Delete(m) if next.models.remove(m) => Ret::Ok,
            Op::Delete(m) => Ret::Failed(model_not_found(m, name)),
            Op::Spawn(m) if self.models.contains(m) => {
                next.spawned += 1;
                let n = next.spawned;
                let worker = Worker {
                    worker_id: format!("worker-{n}"),
                    model: m.clone(),
                    port: 9000 + u16::try_from(n).unwrap_or(u16::MAX - 9000),
                };
                next.workers
                    .insert(worker.worker_id.clone(), (m.clone(), worker.port));
                Ret::Spawned(worker_port_line(&worker))
            }
            Op::Spawn(m) => Ret::Failed(model_not_found(m, name)),
            Op::WorkerList => Ret::Workers(
                self.workers
                    .iter()
                    .map(|(id, (m, port))| (id.clone(), m.clone(), *port))
                    .collect(),
            ),
            Op::Stop(w) if next.workers.remove(w).is_some() => Ret::Ok,
            Op::Stop(w) => Ret::Failed(worker_not_found(w, name)),
            Op::Reset => {
                next.models = self.initial.clone();
                next.workers.clear();
                next.spawned = 0;
                Ret::Reset
            }
        };
        (next, ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hive() -> Hive {
        Hive::new("hive-a", &["tinyllama".to_owned()])
    }

    #[test]
    fn a_download_then_a_second_one_fails_as_already_present() {
        let (h, first) = hive().step(&Op::Download("phi-2".into()));
        assert_eq!(first, Ret::Ok);
        let (_, second) = h.step(&Op::Download("phi-2".into()));
        assert_eq!(
            second,
            Ret::Failed("model 'phi-2' is already present on hive 'hive-a'".into())
        );
        let (_, list) = h.step(&Op::ModelList);
        assert_eq!(list, Ret::Models(vec!["phi-2".into(), "tinyllama".into()]));
    }

    #[test]
    fn workers_are_numbered_by_spawns_in_this_life_and_a_reset_starts_over() {
        let spawn = Op::Spawn("tinyllama".into());
        let (h, one) = hive().step(&spawn);
        assert_eq!(
            one,
            Ret::Spawned("Worker 'worker-1' listens on port 9001".into())
        );
        let (h, _) = h.step(&Op::Stop("worker-1".into()));
        let (h, two) = h.step(&spawn);
        assert_eq!(
            two,
            Ret::Spawned("Worker 'worker-2' listens on port 9002".into())
        );
        let (_, list) = h.step(&Op::WorkerList);
        assert_eq!(
            list,
            Ret::Workers(vec![("worker-2".into(), "tinyllama".into(), 9002)])
        );
        let (h, _) = h.step(&Op::Reset);
        let (_, again) = h.step(&spawn);
        assert_eq!(
            again,
            Ret::Spawned("Worker 'worker-1' listens on port 9001".into())
        );
    }

    #[test]
    fn operations_on_what_is_absent_fail_with_the_hives_words() {
        let h = hive();
        for (op, ret) in [
            (
                Op::ModelGet("qwen".into()),
                "model not found: 'qwen' on hive 'hive-a'",
            ),
            (
                Op::Delete("qwen".into()),
                "model not found: 'qwen' on hive 'hive-a'",
            ),
            (
                Op::Spawn("qwen".into()),
                "model not found: 'qwen' on hive 'hive-a'",
            ),
            (
                Op::Infer("qwen".into()),
                "model not found: 'qwen' on hive 'hive-a'",
            ),
            (
                Op::Stop("worker-9".into()),
                "worker not found: 'worker-9' on hive 'hive-a'",
            ),
        ] {
            assert_eq!(h.step(&op).1, Ret::Failed(ret.into()), "{op:?}");
            assert_eq!(h.errors_of(&op), [ret.to_owned()]);
        }
    }
}

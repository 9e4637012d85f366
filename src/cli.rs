//! The `rbee` command line: run a hive or a queen, or act as a keeper.
//!
//! Keeper commands print each narration line as it arrives and exit 0 on `done`, 1 on
//! `error` (or a refused request), 2 on `cancelled`, 3 when the connection is lost, and
//! [`USAGE`] (64) on a usage error such as a malformed argument.

use crate::dial::{Endpoint, TcpDial};
use crate::event::{StreamEvent, Terminal};
use crate::hive::Hive;
use crate::keeper::{Flow, Keeper, KeeperError, Outcome};
use crate::node::{HiveTarget, Node, NodeConfig, Role};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

/// Exit code of a command-line usage error (BSD `EX_USAGE`): distinct from the keeper's
/// 0 done, 1 error, 2 cancelled, 3 connection lost.
pub const USAGE: i32 = 64;

/// Default queen address of keeper commands.
pub const DEFAULT_QUEEN: &str = "http://127.0.0.1:7833";

/// rbee: queen, hive and keeper of the rbee job system.
#[derive(Debug, Parser)]
#[command(name = "rbee", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where a keeper command sends its job.
#[derive(Debug, Args)]
pub struct Target {
    /// Queen (or hive) URL.
    #[arg(long, env = "RBEE_QUEEN", default_value = DEFAULT_QUEEN, global = true)]
    pub queen: String,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a hive daemon.
    Hive {
        /// Address to listen on, e.g. 127.0.0.1:7835.
        #[arg(long)]
        listen: String,
        /// The hive's name (operations address it as `hive_id`).
        #[arg(long)]
        name: String,
        /// Initial model catalogue, comma-separated (`--models ''` for none).
        #[arg(long, value_delimiter = ',', default_value = "tinyllama")]
        models: Vec<String>,
        #[command(flatten)]
        jobs: JobLimits,
    },
    /// Run a queen.
    Queen {
        /// Address to listen on, e.g. 127.0.0.1:7833.
        #[arg(long)]
        listen: String,
        /// A remote hive, NAME=URL (repeatable): distributed mode.
        #[arg(long = "hive", value_name = "NAME=URL")]
        hives: Vec<String>,
        /// A hive run inside the queen process: integrated mode.
        #[arg(long = "local-hive", value_name = "NAME")]
        local_hives: Vec<String>,
        /// Initial model catalogue of local hives, comma-separated (`--models ''` for none).
        #[arg(long, value_delimiter = ',', default_value = "tinyllama")]
        models: Vec<String>,
        #[command(flatten)]
        jobs: JobLimits,
    },
    /// Submit any operation as JSON and stream its narration.
    Job {
        /// Operation JSON, e.g. '{"operation":"model_list","hive_id":"hive-a"}'.
        operation: String,
        #[command(flatten)]
        target: Target,
    },
    /// Cancel a job.
    Cancel {
        /// The job id.
        job_id: String,
        #[command(flatten)]
        target: Target,
    },
    /// List the hives the queen knows.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Run a hive's self-check.
    HiveCheck {
        /// Hive name.
        #[arg(long)]
        hive: String,
        #[command(flatten)]
        target: Target,
    },
    /// Model catalogue commands.
    Model {
        /// What to do with models.
        #[command(subcommand)]
        action: ModelCommand,
        /// Hive name (required: `rbee status` lists the hives a queen knows).
        #[arg(long, global = true)]
        hive: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Worker commands.
    Worker {
        /// What to do with workers.
        #[command(subcommand)]
        action: WorkerCommand,
        /// Hive name (required: `rbee status` lists the hives a queen knows).
        #[arg(long, global = true)]
        hive: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Generate tokens.
    Infer {
        /// Hive name.
        #[arg(long)]
        hive: String,
        /// Model name.
        #[arg(long)]
        model: String,
        /// Number of tokens.
        #[arg(long, default_value_t = 16)]
        max_tokens: u32,
        /// The prompt.
        prompt: String,
        #[command(flatten)]
        target: Target,
    },
}

/// Job settings of a queen or hive process.
#[derive(Debug, Args)]
pub struct JobLimits {
    /// How long a job that nobody streams lives before it expires, in ms (docs/spec.md §4: 60 s).
    /// A scenario's `ttl_ms` reaches real processes through it (`rbee-sim real`).
    #[arg(long, value_name = "MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub ttl_ms: u64,
}

impl JobLimits {
    fn config(&self, role: Role) -> NodeConfig {
        NodeConfig {
            ttl: std::time::Duration::from_millis(self.ttl_ms),
            ..NodeConfig::new(role)
        }
    }
}

/// `rbee model ...`
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// List models.
    Ls,
    /// Show one model.
    Get {
        /// Model name.
        model: String,
    },
    /// Download a model.
    Download {
        /// Model name.
        model: String,
    },
    /// Delete a model.
    Rm {
        /// Model name.
        model: String,
    },
}

/// `rbee worker ...`
#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Start a worker for a model.
    Spawn {
        /// Model name.
        model: String,
    },
    /// List workers.
    Ls,
    /// Stop a worker.
    Stop {
        /// Worker id.
        worker_id: String,
    },
    /// Build a worker (high-volume log).
    Install {
        /// Number of log lines.
        #[arg(long, default_value_t = 2000)]
        lines: u32,
    },
}

/// Runs the CLI; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Hive {
            listen,
            name,
            mut models,
            jobs,
        } => {
            models.retain(|m| !m.is_empty());
            let hive = Arc::new(Hive::new(name, models));
            serve(&listen, jobs.config(Role::Hive(hive))).await
        }
        Command::Queen {
            listen,
            hives,
            local_hives,
            mut models,
            jobs,
        } => {
            models.retain(|m| !m.is_empty());
            let mut targets = BTreeMap::new();
            for spec in hives {
                let Some((name, url)) = spec.split_once('=') else {
                    eprintln!("error: --hive expects NAME=URL, got '{spec}'");
                    return USAGE;
                };
                match Endpoint::parse(url) {
                    Ok(ep) => targets.insert(name.to_owned(), HiveTarget::Remote(ep)),
                    Err(e) => {
                        eprintln!("error: --hive {name}: {e}");
                        return USAGE;
                    }
                };
            }
            for name in local_hives {
                let hive = Arc::new(Hive::new(name.clone(), models.clone()));
                targets.insert(name, HiveTarget::Local(hive));
            }
            serve(&listen, jobs.config(Role::Queen(targets))).await
        }
        Command::Job { operation, target } => match serde_json::from_str(&operation) {
            Ok(op) => keeper_job(&target, op).await,
            Err(e) => {
                eprintln!("error: the operation is not valid JSON: {e}");
                USAGE
            }
        },
        Command::Cancel { job_id, target } => cancel(&target, &job_id).await,
        Command::Status { target } => keeper_job(&target, json!({"operation": "status"})).await,
        Command::HiveCheck { hive, target } => {
            keeper_job(&target, json!({"operation": "hive_check", "hive_id": hive})).await
        }
        Command::Model {
            action,
            hive,
            target,
        } => {
            let Some(hive) = hive else {
                return needs_hive("model");
            };
            let op = match action {
                ModelCommand::Ls => json!({"operation": "model_list", "hive_id": hive}),
                ModelCommand::Get { model } => {
                    json!({"operation": "model_get", "hive_id": hive, "model": model})
                }
                ModelCommand::Download { model } => {
                    json!({"operation": "model_download", "hive_id": hive, "model": model})
                }
                ModelCommand::Rm { model } => {
                    json!({"operation": "model_delete", "hive_id": hive, "model": model})
                }
            };
            keeper_job(&target, op).await
        }
        Command::Worker {
            action,
            hive,
            target,
        } => {
            let Some(hive) = hive else {
                return needs_hive("worker");
            };
            let op = match action {
                WorkerCommand::Spawn { model } => {
                    json!({"operation": "worker_spawn", "hive_id": hive, "model": model})
                }
                WorkerCommand::Ls => json!({"operation": "worker_list", "hive_id": hive}),
                WorkerCommand::Stop { worker_id } => {
                    json!({"operation": "worker_stop", "hive_id": hive, "worker_id": worker_id})
                }
                WorkerCommand::Install { lines } => {
                    json!({"operation": "worker_install", "hive_id": hive, "lines": lines})
                }
            };
            keeper_job(&target, op).await
        }
        Command::Infer {
            hive,
            model,
            max_tokens,
            prompt,
            target,
        } => {
            let op = json!({"operation": "infer", "hive_id": hive, "model": model,
                            "prompt": prompt, "max_tokens": max_tokens});
            keeper_job(&target, op).await
        }
    }
}

/// A hive command without `--hive`: a usage error that says what to give. (A default
/// hive name would be sent to the queen and refused there as an unknown hive, which reads
/// as if the queen were misconfigured.)
fn needs_hive(command: &str) -> i32 {
    eprintln!(
        "error: `rbee {command}` needs --hive NAME, the hive to act on (`rbee status` lists \
         the hives the queen knows)"
    );
    USAGE
}

async fn serve(listen: &str, config: NodeConfig) -> i32 {
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return USAGE;
        }
    };
    let node = Node::new(config);
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| listen.to_owned());
    tracing::info!(%addr, "listening");
    eprintln!("rbee listening on http://{addr}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match crate::server::serve(listener, node, shutdown).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: server failed: {e}");
            1
        }
    }
}

fn keeper(target: &Target) -> Result<Keeper, i32> {
    Endpoint::parse(&target.queen)
        .map(|ep| Keeper::new(Arc::new(TcpDial), ep))
        .map_err(|e| {
            eprintln!("error: --queen: {e}");
            USAGE
        })
}

fn print_event(event: &StreamEvent) {
    let mut out = std::io::stdout().lock();
    let _ = match event {
        StreamEvent::Narration(n) => writeln!(out, "[{:<6}] {:<24} {}", n.actor, n.action, n.human),
        StreamEvent::Data(d) => writeln!(out, "[data  ] {:<24} {}", d.action, d.payload),
        StreamEvent::Lagged(l) => writeln!(out, "[warn  ] {} event(s) were dropped", l.dropped),
        StreamEvent::Terminal(Terminal::Done) => writeln!(out, "done"),
        StreamEvent::Terminal(Terminal::Error(m)) => writeln!(out, "error: {m}"),
        StreamEvent::Terminal(Terminal::Cancelled) => writeln!(out, "cancelled"),
    };
}

fn report(e: &KeeperError) -> i32 {
    eprintln!("error: {e}");
    match e {
        KeeperError::Unreachable(_) => 3,
        _ => 1,
    }
}

async fn keeper_job(target: &Target, op: serde_json::Value) -> i32 {
    let keeper = match keeper(target) {
        Ok(k) => k,
        Err(code) => return code,
    };
    match keeper
        .run(&op, |e| {
            print_event(e);
            Flow::Continue
        })
        .await
    {
        Ok((_, outcome)) => {
            if let Outcome::Lost(why) = &outcome {
                eprintln!("error: connection lost: {why}");
            }
            outcome.exit_code()
        }
        Err(e) => report(&e),
    }
}

async fn cancel(target: &Target, job_id: &str) -> i32 {
    let keeper = match keeper(target) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let id = match crate::ids::JobId::parse(job_id) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    match keeper.cancel(&id).await {
        Ok(reply) => {
            println!("{reply}");
            0
        }
        Err(e) => report(&e),
    }
}

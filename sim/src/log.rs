//! Logs in simulated time: the system's own `tracing` output during one replay, each line
//! stamped with the simulated millisecond and the host that emitted it (turmoil ticks every
//! host inside a `node{name=<host>}` span), never with wall time, so two replays of a file
//! and seed write byte-identical logs.
//!
//! Nothing is installed globally. [`Log::run`] sets tracing-subscriber's `fmt` subscriber
//! as the default of the calling thread for one closure only: turmoil runs every host on
//! that thread, the explorer's worker threads never see it, and with logging off no
//! subscriber exists at all, so a replay costs what it cost before.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The filter when a log file is asked for (`--log`) and `RUST_LOG` is unset: every event
/// of the system, narration lines and their data included, and none of turmoil's own
/// per-packet traces (which would bury the system's lines).
pub const DEFAULT_FILTER: &str = "rbee=debug";

/// Stamps a line with the simulated time of the run (`turmoil::sim_elapsed`), right-aligned
/// in milliseconds so lines read as a column; `-` for an event outside any host's tick.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimTime;

impl FormatTime for SimTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        match turmoil::sim_elapsed() {
            Some(t) => write!(w, "{:>8}ms", t.as_millis()),
            None => write!(w, "{:>8}  ", "-"),
        }
    }
}

/// Whether and where a replay logs, decided once from `RUST_LOG` and `--log` so that a bad
/// filter is reported before anything runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Log {
    /// Neither `RUST_LOG` nor `--log`: no subscriber is installed.
    Off,
    /// Log events matching `filter` (`EnvFilter` syntax) to `file`, or to stderr.
    On {
        /// The directives, already checked to parse.
        filter: String,
        /// The log file; `None` is stderr.
        file: Option<PathBuf>,
    },
}

impl Log {
    /// The plan for `RUST_LOG` (`rust_log`, empty counts as unset) and `--log` (`file`):
    /// `RUST_LOG` alone logs to stderr, `--log` alone uses [`DEFAULT_FILTER`], both log the
    /// `RUST_LOG` events to the file. Errors name the directive that does not parse.
    pub fn new(rust_log: Option<&str>, file: Option<&Path>) -> Result<Self, String> {
        let filter = match (rust_log.filter(|s| !s.trim().is_empty()), file) {
            (None, None) => return Ok(Self::Off),
            (Some(spec), _) => spec.to_owned(),
            (None, Some(_)) => DEFAULT_FILTER.to_owned(),
        };
        env_filter(&filter)?;
        Ok(Self::On {
            filter,
            file: file.map(Path::to_path_buf),
        })
    }

    /// Runs `f` (one simulated run) with the log installed on this thread, or plainly when
    /// off. Errors (the log file cannot be created) come before `f` runs.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> Result<R, String> {
        let Self::On { filter, file } = self else {
            return Ok(f());
        };
        let filter = env_filter(filter)?;
        match file {
            None => Ok(with_writer(filter, std::io::stderr, f)),
            Some(path) => {
                let out = File::create(path)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Ok(with_writer(filter, Arc::new(out), f))
            }
        }
    }
}

/// The filter of `spec`, plus turmoil's `node{name=<host>}` span (target `turmoil::sim`,
/// level INFO): a span the filter disables does not reach the formatter, so without it no
/// line would name its host. turmoil's own events have target `turmoil` and stay off
/// unless `spec` asks for them.
fn env_filter(spec: &str) -> Result<EnvFilter, String> {
    let host_span = "turmoil::sim=info".parse().map_err(|e| format!("{e}"))?;
    EnvFilter::try_new(spec)
        .map(|f| f.add_directive(host_span))
        .map_err(|e| format!("RUST_LOG={spec}: {e}"))
}

/// `f` under tracing-subscriber's `fmt` subscriber: simulated time, the span of the host,
/// the target, no colours (a log must not depend on whether it goes to a terminal), no
/// thread names or ids. Each event is formatted whole, then written at once, so lines never
/// mix.
fn with_writer<W, R>(filter: EnvFilter, writer: W, f: impl FnOnce() -> R) -> R
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(SimTime)
        .with_ansi(false)
        .with_writer(writer)
        .finish();
    tracing::subscriber::with_default(subscriber, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves logging is off unless asked for, that `--log` alone gets the default filter,
    /// that `RUST_LOG` wins over it, and that a bad directive is an error naming it.
    #[test]
    fn the_plan_follows_rust_log_and_the_log_flag() {
        let file = Path::new("run.log");
        assert_eq!(Log::new(None, None), Ok(Log::Off));
        assert_eq!(Log::new(Some("  "), None), Ok(Log::Off));
        assert_eq!(
            Log::new(None, Some(file)),
            Ok(Log::On {
                filter: DEFAULT_FILTER.into(),
                file: Some(file.into())
            })
        );
        assert_eq!(
            Log::new(Some("rbee::narration=info"), None),
            Ok(Log::On {
                filter: "rbee::narration=info".into(),
                file: None
            })
        );
        let err = Log::new(Some("rbee=loud"), Some(file)).unwrap_err();
        assert!(err.starts_with("RUST_LOG=rbee=loud: "), "{err}");
    }

    /// Proves an event outside any simulated host gets `-` instead of a time, and never the
    /// wall clock: the whole line is fixed text.
    #[test]
    fn an_event_outside_the_simulation_has_no_time() {
        let path = std::env::temp_dir().join(format!("rbee-sim-log-{}.log", std::process::id()));
        let log = Log::new(Some("rbee_sim=info"), Some(&path)).unwrap();
        log.run(|| tracing::info!(answer = 42, "outside")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            text,
            "       -    INFO rbee_sim::log::tests: outside answer=42\n"
        );
    }

    /// Proves a log file that cannot be created is reported before the run starts.
    #[test]
    fn an_unwritable_log_file_is_an_error_before_the_run() {
        let log = Log::new(None, Some(Path::new("/nonexistent-dir/run.log"))).unwrap();
        let mut ran = false;
        let err = log.run(|| ran = true).unwrap_err();
        assert!(
            err.starts_with("cannot write /nonexistent-dir/run.log: "),
            "{err}"
        );
        assert!(!ran);
    }
}

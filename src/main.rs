//! The `rbee` binary: see [`rbee::cli`].

use clap::Parser;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match rbee::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors; anything else is a usage error.
            std::process::exit(if e.use_stderr() { rbee::cli::USAGE } else { 0 });
        }
    };
    let code = rbee::cli::run(cli).await;
    std::process::exit(code);
}

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
    let code = rbee::cli::run(rbee::cli::Cli::parse()).await;
    std::process::exit(code);
}

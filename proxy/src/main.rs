//! The `pgward` binary: logging setup, then the CLI in `pgward::cli`.

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PGWARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = pgward::cli::Cli::parse();
    std::process::exit(pgward::cli::main_with(cli));
}

//! The `pgward` binary: logging setup (`pgward::logging`), then the CLI in `pgward::cli`.

use clap::Parser;

fn main() {
    pgward::logging::init();
    let cli = pgward::cli::Cli::parse();
    std::process::exit(pgward::cli::main_with(cli));
}

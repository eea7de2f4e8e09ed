//! `kapi`: a Kubernetes control plane in one binary. This file parses, runs, and exits.

mod args;
mod client;
mod cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KAPI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cmd::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kapi: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

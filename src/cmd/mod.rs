//! One module per subcommand.

pub mod bench;
mod kubeconfig;
mod node;
pub mod proxy;
mod server;
mod simulated;
mod snapshot;
mod token;

use crate::args::{Cli, Command};

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Server(args) => server::run(*args),
        Command::Kubeconfig(args) => kubeconfig::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Proxy(args) => proxy::run(args),
        Command::Node(args) => node::run(args),
        Command::Token(args) => token::run(args),
        Command::Snapshot(args) => snapshot::run(args),
    }
}

//! `kapi bench`: load against a running server (written next).

/// Flags of `kapi bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The scenario.
    pub scenario: String,
}

/// Runs a scenario.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("scenario {:?} is not available yet", args.scenario)
}

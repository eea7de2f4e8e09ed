//! `kapi snapshot save|restore`: backups of the embedded store.

use anyhow::Context;

use crate::args::{SnapshotArgs, SnapshotCommand};

/// What a data dir needs besides the store to be the same cluster: its CA (or nothing trusts
/// the new server's certificates) and its service-account key (or every token is refused).
const IDENTITY: &[&str] = &["ca.crt", "ca.key", "sa.key", "sa.pub"];

/// Runs the chosen snapshot command.
pub fn run(args: SnapshotArgs) -> anyhow::Result<()> {
    match args.command {
        SnapshotCommand::Save { file, data_dir } => {
            let revision = kapi_store::snapshot::save(&data_dir.join("kapi.db"), &file)
                .with_context(|| format!("saving a snapshot of {}", data_dir.display()))?;
            println!("saved revision {revision} to {}", file.display());
        }
        SnapshotCommand::Restore { file, data_dir } => {
            // Locked while the store is written, so no server starts on it meanwhile.
            let _lock = kapi_server::data_dir::prepare(&data_dir)
                .with_context(|| format!("preparing {}", data_dir.display()))?;
            let revision = kapi_store::snapshot::restore(&file, &data_dir.join("kapi.db"))
                .with_context(|| format!("restoring {}", file.display()))?;
            println!(
                "restored revision {revision} into {}",
                data_dir.join("kapi.db").display()
            );
            let missing: Vec<&str> = IDENTITY
                .iter()
                .copied()
                .filter(|f| !data_dir.join(f).exists())
                .collect();
            if !missing.is_empty() {
                println!(
                    "copy {} from the old data dir into it before the first start, to keep the cluster's CA and service-account tokens",
                    missing.join(", ")
                );
            }
        }
    }
    Ok(())
}

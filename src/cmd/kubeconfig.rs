//! `kapi kubeconfig`.

use anyhow::{bail, Context};

use crate::args::KubeconfigArgs;

/// Prints the requested kubeconfig.
pub fn run(args: KubeconfigArgs) -> anyhow::Result<()> {
    match args.kind.as_str() {
        "admin" => {
            let path = args.data_dir.join("admin.kubeconfig");
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading {} (has `kapi server` run with this data dir?)",
                    path.display()
                )
            })?;
            print!("{text}");
            Ok(())
        }
        other => bail!("unknown kubeconfig kind {other:?}; this build offers: admin"),
    }
}

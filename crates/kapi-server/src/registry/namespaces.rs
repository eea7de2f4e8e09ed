//! Namespace lifecycle: a namespace being deleted is emptied, then removed.
//!
//! Deleting a namespace only marks it (deletionTimestamp, phase Terminating); this task
//! watches namespaces and, for each one marked, deletes every object stored in it, then the
//! namespace itself, as kube-controller-manager's namespace controller does.

use std::sync::Arc;
use std::time::Duration;

use kapi_api::resources;
use serde_json::Value;

use super::Registry;

/// Runs until the store closes.
pub async fn run(registry: Arc<Registry>) {
    let Some(ns_def) = resources::find("", "v1", "namespaces") else {
        return;
    };
    loop {
        let (items, _, _) = registry
            .store()
            .list(&ns_def.key_prefix(), None, 0, |_, _| true);
        for (key, kv) in items {
            let Ok(ns) = serde_json::from_slice::<Value>(&kv.value) else {
                continue;
            };
            if ns.pointer("/metadata/deletionTimestamp").is_none() {
                continue;
            }
            let Some(name) = ns.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            if let Err(e) = empty(&registry, name).await {
                tracing::warn!(namespace = name, error = %e, "emptying namespace failed");
                continue;
            }
            if let Err(e) = registry.remove(&key).await {
                tracing::warn!(namespace = name, error = %e, "removing namespace failed");
            }
        }
        // Wake on any namespace change, or every few seconds in case a watch was missed.
        let rev = registry.store().revision();
        match registry.store().watch(&ns_def.key_prefix(), rev) {
            Ok(mut w) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), w.next()).await;
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

async fn empty(registry: &Registry, ns: &str) -> Result<(), kapi_store::StoreError> {
    for def in resources::stored().into_iter().filter(|d| d.namespaced) {
        let prefix = Registry::prefix(def, Some(ns));
        let (items, _, _) = registry.store().list(&prefix, None, 0, |_, _| true);
        for (key, _) in items {
            registry.remove(&key).await?;
        }
    }
    Ok(())
}

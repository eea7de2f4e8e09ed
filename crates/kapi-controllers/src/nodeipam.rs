//! The node IPAM controller: every Node gets a podCIDR (a /24 of the cluster CIDR,
//! `10.244.0.0/16` by default) that its pods' addresses come from, as kube-controller-manager's
//! range allocator does. Allocation runs one node at a time, so two nodes never get one range.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::shared::{log_result, Context, ReconcileError, Task};

/// The default `--cluster-cidr`.
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";
/// Each node's share.
pub const NODE_MASK: u8 = 24;

/// Allocates podCIDRs to nodes that have none.
pub fn run(ctx: Arc<Context>) -> Task {
    let nodes = Api::<Node>::all(ctx.client.clone());
    Box::pin(
        Controller::new(nodes, watcher::Config::default())
            .with_config(controller::Config::default().concurrency(1))
            .run(reconcile, error_policy, ctx)
            .for_each(|r| log_result(crate::NODE_IPAM, r)),
    )
}

async fn reconcile(node: Arc<Node>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let has_cidr = |n: &Node| n.spec.as_ref().and_then(|s| s.pod_cidr.as_ref()).is_some();
    if has_cidr(&node) {
        return Ok(Action::await_change());
    }
    let api = Api::<Node>::all(ctx.client.clone());
    // The cached copy may predate our own allocation (a status update can wake this node
    // again before the cache sees the patch): decide on the stored Node, never reassign.
    match api.get_opt(&node.name_any()).await? {
        Some(current) if !has_cidr(&current) => {}
        _ => return Ok(Action::await_change()),
    }
    let used: HashSet<String> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|n| n.spec.and_then(|s| s.pod_cidr))
        .collect();
    let Some(cidr) = next_free(CLUSTER_CIDR, NODE_MASK, &used) else {
        tracing::warn!(node = %node.name_any(), "no podCIDR left in {CLUSTER_CIDR}");
        return Ok(Action::requeue(std::time::Duration::from_secs(30)));
    };
    let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
    api.patch(
        &node.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    ctx.succeeded(crate::NODE_IPAM, node.as_ref());
    Ok(Action::await_change())
}

fn error_policy(node: Arc<Node>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.failed(crate::NODE_IPAM, node.as_ref(), error)
}

/// The first `/mask` range of `cluster` not in `used`.
pub fn next_free(cluster: &str, mask: u8, used: &HashSet<String>) -> Option<String> {
    let (base, prefix) = cluster.split_once('/')?;
    let base: Ipv4Addr = base.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    if prefix > mask || mask > 32 {
        return None;
    }
    let count = 1u64 << (mask - prefix);
    let step = 1u64 << (32 - mask);
    let start = u32::from(base) as u64 & !((1u64 << (32 - prefix)) - 1);
    (0..count)
        .map(|i| format!("{}/{mask}", Ipv4Addr::from((start + i * step) as u32)))
        .find(|c| !used.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_handed_out_in_order_and_skip_used_ones() {
        let mut used = HashSet::new();
        assert_eq!(next_free(CLUSTER_CIDR, 24, &used).unwrap(), "10.244.0.0/24");
        used.insert("10.244.0.0/24".to_string());
        used.insert("10.244.1.0/24".to_string());
        assert_eq!(next_free(CLUSTER_CIDR, 24, &used).unwrap(), "10.244.2.0/24");
        let full: HashSet<String> = (0..2).map(|i| format!("10.0.{i}.0/24")).collect();
        assert_eq!(next_free("10.0.0.0/23", 24, &full), None);
        assert_eq!(next_free("bad", 24, &used), None);
    }
}

//! The service proxy, as kube-proxy's nftables mode: a Service's cluster IP, external IPs,
//! LoadBalancer ingress addresses and node port are DNATed to its ready endpoints from
//! EndpointSlices ([`routes`]: chosen at random per connection, or per client with
//! `sessionAffinity: ClientIP`, under the `Local` traffic policies only this node's), and a
//! destination without endpoints refuses connections at once. The whole table ([`render`]) is
//! regenerated and swapped in one `nft -f` transaction whenever Services or EndpointSlices
//! change, and removed when the node stops.

pub mod announce;
pub mod pool;
mod render;
pub mod routes;

pub use pool::LbPool;
pub use render::render;
pub use routes::{routes, ServicePort};

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Store;
use kube::Api;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

/// The nftables table kapi owns.
pub const TABLE: &str = "kapi-proxy";

/// Failures applying rules.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// `nft` could not be run.
    #[error("running nft: {0}")]
    Spawn(std::io::Error),
    /// `nft` refused the rules.
    #[error("nft refused the rules: {0}")]
    Refused(String),
    /// `ip` could not read or change the node's addresses.
    #[error("{0}")]
    Ip(String),
}

/// Applies a script with `nft -f -`.
pub async fn apply(script: &str) -> Result<(), ProxyError> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(ProxyError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(ProxyError::Spawn)?;
    }
    let out = child.wait_with_output().await.map_err(ProxyError::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ProxyError::Refused(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

/// Removes kapi's table and the load-balancer addresses it held (when the node stops).
pub async fn clear() {
    let _ = apply(&format!("table ip {TABLE} {{}}\ndelete table ip {TABLE}\n")).await;
    announce::release().await;
}

/// Turns on the bridge's netfilter hooks (as kubeadm's preflight and k3s require), so that
/// traffic between pods on the bridge is tracked and Service replies are translated back;
/// returns whether they are on. Off, the rules masquerade such traffic instead.
fn bridge_netfilter() -> bool {
    let knob = std::path::Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables");
    if !knob.exists() {
        let _ = std::process::Command::new("modprobe")
            .arg("br_netfilter")
            .stderr(std::process::Stdio::null())
            .status();
    }
    let _ = std::fs::write(knob, "1");
    let on = std::fs::read_to_string(knob).is_ok_and(|v| v.trim() == "1");
    if !on {
        tracing::warn!("bridge netfilter is unavailable (br_netfilter); Service traffic between pods is masqueraded");
    }
    on
}

/// Keeps the rules in step with Services and EndpointSlices until the task is dropped;
/// `node_name` decides which endpoints are local; with a load-balancer `pool`, the pool
/// addresses this node announces are held on it too.
pub async fn run(client: kube::Client, node_name: String, pool: Option<LbPool>) {
    let changed = Arc::new(Notify::new());
    let services: Store<Service> =
        crate::reflect::spawn(Api::all(client.clone()), changed.clone(), |_| {});
    let slices: Store<EndpointSlice> =
        crate::reflect::spawn(Api::all(client), changed.clone(), |_| {});
    let bridge_netfilter = bridge_netfilter();
    let mut applied: Option<String> = None;
    let mut held = None;
    loop {
        changed.notified().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (services, slices) = (services.state(), slices.state());
        let script = render(&routes(&services, &slices, &node_name), bridge_netfilter);
        let mut failed = false;
        if applied.as_ref() != Some(&script) {
            match apply(&script).await {
                Ok(()) => applied = Some(script),
                Err(e) => {
                    tracing::warn!(error = %e, "could not program service addresses");
                    failed = true;
                }
            }
        }
        if let Some(pool) = &pool {
            let want = announce::announced(&services, &slices, &node_name, pool);
            if held.as_ref() != Some(&want) {
                match announce::hold(&want).await {
                    Ok(()) => held = Some(want),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not hold load balancer addresses");
                        failed = true;
                    }
                }
            }
        }
        if failed {
            tokio::time::sleep(Duration::from_secs(1)).await;
            changed.notify_one();
        }
    }
}
